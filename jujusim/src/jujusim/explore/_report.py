"""A failure as a person reads it: a short timeline, the labels expected and found."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable

from ..check import UNTRUSTED_NOT_BLOCKED
from ..model import STALE_WRITE, STILL_BLOCKED
from ._run import LIVELOCK, UNIT_HUNG, UPSTREAM_KEPT

_FAULT = re.compile(
    r'SIGKILL|stall|delete pod|inject|labels |grace period|is leader|FAILED|API server answers'
    r'| sleeps |-> (5\d\d|403|409)$'
)
_HOOK = re.compile(r' runs | FAILED')
_WRITE = re.compile(r' (PATCH|POST|PUT|DELETE) ')
_OPERATOR = re.compile(r'  (config|integrate|remove-relation|trust|run|deploy|juju) ')

REQUIREMENTS = {
    'R1-R3': 'labels match the relation data (after leader changes, restarts, changes)',
    'R4': 'labels applied by anything outside the library stay untouched',
    'unit in error': 'no unit is left in error',
    'rollout not done': 'the StatefulSet rollout completes',
    'refused data not blocked': 'data the library refuses leaves the consumer Blocked',
    STILL_BLOCKED: 'once the data is fixed, the consumer no longer shows it as refused',
    UNTRUSTED_NOT_BLOCKED: 'without juju trust, the consumer says so: its leader is Blocked '
    'naming juju trust',
    STALE_WRITE: 'no unit overwrites an object a leader elected after it wrote (a deposed '
    'leader, or a unit that never led; R1 between settle points)',
}
# Beyond R1-R4: a row of `jujusim conformance`, and judged by `explore` unless
# --hooks-may-fail.
PROPERTIES = {
    'failed hook': 'no hook fails (the labels are not reached through Juju retrying a hook; '
    'a commit Juju refuses to a unit no longer leader, or a hook an API outage outlasted, is '
    'not counted: they fail any charm)',
}

# Failures that are neither: a row of `jujusim conformance` only where found.
OTHER_FAILURES = {
    LIVELOCK: 'the model settles (no charm keeps it busy past the bound on steps or '
    'virtual time: hooks that trigger each other, a fight with a controller)',
    UNIT_HUNG: "no hook runs past the harness's time limit (Juju sets none: the unit "
    'would stay in it for ever)',
    UPSTREAM_KEPT: "a charm that switched from the upstream library deletes that library's "
    'ConfigMap once it took its labels over (lib/README.md, "Switching from the upstream '
    'library")',
}


def describe(kind: str) -> str:
    """A kind of failure (:func:`jujusim.explore.failure_class`) in words."""
    return (REQUIREMENTS | PROPERTIES | OTHER_FAILURES).get(kind, kind)


def timeline(trace: Iterable[str], *, limit: int = 60) -> list[str]:
    """The trace lines a person needs: operator commands, hooks, writes and faults.

    Reads are left out (every reconcile starts with the same four) unless a 5xx, 403 or
    409 answered them; the last ``limit``
    lines are kept. Times are the model's virtual seconds.
    """
    kept = [
        line
        for line in trace
        if _OPERATOR.search(line)
        or _HOOK.search(line)
        or _WRITE.search(line)
        or _FAULT.search(line)
    ]
    if len(kept) > limit:
        return [f'  ... {len(kept) - limit} earlier lines', *kept[-limit:]]
    return kept


def explain(problems: Iterable[str], failure_class: Iterable[str]) -> list[str]:
    """Which requirement broke, in words, then each object's label: expected and found."""
    lines = [f'broken: {kind}: {describe(kind)}' for kind in failure_class]
    lines += [f'  {problem}' for problem in problems]
    return lines


def replay_command(
    path: str,
    consumer: str,
    seed: int,
    *,
    hooks_must_not_fail: bool = False,
    stale_writes_fail: bool = True,
) -> str:
    """The command that replays a saved schedule as the explorer judged it.

    The explorer does not count a drawn kill or stall that never fired; replay does
    unless told so.
    """
    args = ['jujusim', 'replay', path, '--consumer', consumer, '--seed', str(seed)]
    args += ['--hooks-must-not-fail'] if hooks_must_not_fail else []
    args += [] if stale_writes_fail else ['--stale-writes-allowed']
    args += ['--unfired-faults-allowed']
    return shlex.join(args)
