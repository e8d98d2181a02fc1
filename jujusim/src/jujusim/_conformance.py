"""``jujusim conformance``: which requirement each consumer holds, judged by exploration.

For each consumer the same schedules run (the engine of ``jujusim explore``); the first
failing schedule of each kind of failure is shrunk, re-run to confirm, and saved as a
schedule file, so each "no" in the table points at a minimal schedule that shows it.
"""

from __future__ import annotations

import dataclasses
import pathlib
import re
from collections.abc import Callable, Iterable

from . import explore as explore_
from . import scenarios
from .check import UNTRUSTED_NOT_BLOCKED
from .model import STILL_BLOCKED

Progress = Callable[[Iterable[explore_.Result], int], Iterable[explore_.Result]]
"""Wraps the stream of results (with how many to expect), e.g. in a progress bar."""


@dataclasses.dataclass(frozen=True)
class Column:
    """One consumer's column.

    Attributes:
        name: the consumer's folder name.
        ran: schedules that ran (skipped ones are not judged).
        skipped: schedules the model could not carry out.
        findings: each broken kind (R1-R3, R4, failed hook...) and the saved file showing it.
    """

    name: str
    ran: int
    skipped: int
    findings: dict[str, pathlib.Path]


def save_schedule(
    out: pathlib.Path,
    schedule: scenarios.Scenario,
    consumer: str,
    seed: int,
    *,
    hooks_must_not_fail: bool = False,
    stale_writes_fail: bool = True,
) -> pathlib.Path:
    """Save ``schedule`` in ``out``, headed by the command that replays it.

    Raises:
        OSError: ``out`` cannot be created or written.
    """
    out.mkdir(parents=True, exist_ok=True)
    # The name is the schedule's, made safe as a file name.
    path = out / (re.sub(r'[^A-Za-z0-9._-]+', '-', schedule.name) + '.yaml')
    command = explore_.replay_command(
        str(path),
        consumer,
        seed,
        hooks_must_not_fail=hooks_must_not_fail,
        stale_writes_fail=stale_writes_fail,
    )
    path.write_text(f'# {command}\n{scenarios.dump_scenario(schedule)}')
    return path


def judge(
    consumer: str,
    charms: dict[str, pathlib.Path],
    plan: explore_.Plan,
    *,
    out: pathlib.Path,
    jobs: int = 1,
    shrink_budget: int = 10,
    progress: Progress = lambda results, total: results,
) -> Column:
    """Explore ``plan`` on ``charms['consumer']``; shrink and save each kind of failure.

    ``consumer`` is how the replay command names it (a known name or a folder). Hooks
    that fail and stale writes are recorded on every run, not failures, so that a
    schedule goes on to show what else it breaks (a design where every unit writes makes
    a stale write at almost every change); the first schedule with either is re-run with
    it counted as a failure, and that failure shrunk and saved.

    Raises:
        OSError: a schedule file cannot be saved in ``out``.
    """
    name = charms['consumer'].name
    plan = dataclasses.replace(plan, hooks_must_not_fail=False, stale_writes_fail=False)
    results = sorted(
        progress(explore_.explore(plan, charms, jobs=jobs), len(plan.indices())),
        key=lambda r: r.index,
    )
    skipped = sum(r.outcome is None for r in results)
    # The first (lowest-index) failing schedule of each kind; one file per schedule.
    kinds_of: dict[int, list[str]] = {}
    seen: set[str] = set()
    for result in results:
        if result.outcome is None or not result.outcome.failed:
            continue
        new = [k for k in result.outcome.failure_class if k not in seen]
        if new:
            kinds_of[result.index] = new
            seen.update(new)
    findings: dict[str, pathlib.Path] = {}
    by_index = {r.index: r for r in results}
    for index, kinds in kinds_of.items():
        outcome = by_index[index].outcome
        assert outcome is not None  # noqa: S101 - only failing results are kept above
        path = _shrink_and_save(plan, index, outcome, charms, consumer, name, out, shrink_budget)
        findings.update(dict.fromkeys(kinds, path))
    recorded: dict[str, tuple[Callable[[explore_.Outcome], bool], explore_.Plan]] = {
        explore_.FAILED_HOOK: (
            lambda outcome: bool(outcome.counted_failed_hooks),
            dataclasses.replace(plan, hooks_must_not_fail=True),
        ),
        explore_.STALE_WRITE: (
            lambda outcome: bool(outcome.stale_writes),
            dataclasses.replace(plan, stale_writes_fail=True),
        ),
    }
    for kind, (seen_in, strict) in recorded.items():
        first = next((r for r in results if r.outcome and seen_in(r.outcome)), None)
        if first is None or kind in findings:
            continue
        schedule, seed = strict.schedule(first.index)
        outcome = explore_.run_schedule(
            schedule,
            charms,
            seed=seed,
            hooks_must_not_fail=strict.hooks_must_not_fail,
            stale_writes_fail=strict.stale_writes_fail,
        )
        if outcome.failed:  # else it did not happen again: nothing to show
            findings[kind] = _shrink_and_save(
                strict, first.index, outcome, charms, consumer, name, out, shrink_budget
            )
    return Column(name=name, ran=len(results) - skipped, skipped=skipped, findings=findings)


def _shrink_and_save(
    plan: explore_.Plan,
    index: int,
    failure: explore_.Outcome,
    charms: dict[str, pathlib.Path],
    consumer: str,
    name: str,
    out: pathlib.Path,
    budget: int,
) -> pathlib.Path:
    """Shrink ``failure`` of ``plan``'s schedule ``index`` under ``plan``'s verdict; save it."""
    schedule, _ = plan.schedule(index)
    hooks, stale = plan.hooks_must_not_fail, plan.stale_writes_fail
    shrunk = explore_.shrink(
        schedule,
        failure,
        charms,
        budget=budget,
        hooks_must_not_fail=hooks,
        stale_writes_fail=stale,
    )
    confirmed = explore_.run_schedule(
        shrunk.schedule,
        charms,
        seed=failure.seed,
        hooks_must_not_fail=hooks,
        stale_writes_fail=stale,
    )
    kept = shrunk.schedule if confirmed.failure_class == failure.failure_class else schedule
    # Named by consumer and kind: the same seed draws the same schedule for every consumer.
    label = '-'.join(re.sub(r'[^A-Za-z0-9]+', '-', kind) for kind in failure.failure_class)
    kept = dataclasses.replace(kept, name=f'{name}-{label}')
    return save_schedule(
        out, kept, consumer, failure.seed, hooks_must_not_fail=hooks, stale_writes_fail=stale
    )


# Each kind of failure as the property that holds when the cell says "yes".
ROW_NAMES = {
    'unit in error': 'no unit in error',
    'rollout not done': 'rollout completes',
    'refused data not blocked': 'Blocked on refused data',
    explore_.STALE_WRITE: "no write over a later leader's",
    STILL_BLOCKED: 'unblocked once data is fixed',
    UNTRUSTED_NOT_BLOCKED: 'Blocked while untrusted',
    explore_.FAILED_HOOK: 'no hook fails',
    explore_.UPSTREAM_KEPT: 'upstream ConfigMap deleted',
}


def rows(columns: Iterable[Column]) -> list[str]:
    """The table's rows: R1-R4's kinds, the extra properties, then any other kind found."""
    known = [*explore_.REQUIREMENTS, *explore_.PROPERTIES]
    found = {kind for column in columns for kind in column.findings}
    return known + sorted(found - set(known))


def cell(column: Column, row: str) -> str:
    """``yes``, ``no (FILE)``, or ``not judged`` when no schedule ran."""
    if row in column.findings:
        return f'no ({column.findings[row]})'
    return 'yes' if column.ran else 'not judged'


def table(columns: list[Column]) -> list[str]:
    """The table as text lines: rows = requirements and properties, columns = consumers."""
    header = ['', *(c.name for c in columns)]
    body = [[ROW_NAMES.get(row, row), *(cell(c, row) for c in columns)] for row in rows(columns)]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
    return [
        '  '.join(text.ljust(width) for text, width in zip(line, widths, strict=True)).rstrip()
        for line in [header, *body]
    ]
