"""The ``jujusim`` command line."""

from __future__ import annotations

import contextlib
import pathlib
import secrets
import shlex
import signal
import threading
from collections.abc import Generator, Iterable, Iterator
from types import FrameType

import click

from . import __version__, _adr, _conformance, _consumers, _demo, kube, model, scenarios
from . import explore as explore_
from .agent import AgentError, CharmSource


class BadInput(click.ClickException):
    """Input the command cannot use: one line on stderr, exit 2 (as click's usage errors)."""

    exit_code = 2


@click.group()
@click.version_option(__version__, prog_name='jujusim')
def main() -> None:
    """Simulate a Juju model on a fake Kubernetes API."""


@main.group(name='kube')
def kube_group() -> None:
    """The fake Kubernetes API on its own."""


@kube_group.command(name='serve')
@click.option(
    '--port',
    type=click.IntRange(0, 65535),
    default=0,
    show_default=True,
    help='Port to listen on, on 127.0.0.1 (0 picks a free one).',
)
@click.option(
    '--kubeconfig',
    'kubeconfig_path',
    type=click.Path(dir_okay=False, writable=True, path_type=pathlib.Path),
    required=True,
    help='Where to write a kubeconfig for kubectl, lightkube or the kubernetes client.',
)
@click.option(
    '--namespace',
    default='default',
    show_default=True,
    help='Namespace that exists from the start and that the kubeconfig selects.',
)
def serve(port: int, kubeconfig_path: pathlib.Path, namespace: str) -> None:
    """Serve the fake Kubernetes API on 127.0.0.1 until interrupted (Ctrl-C).

    It serves HTTPS with a throwaway self-signed certificate, which the kubeconfig trusts;
    its user is a cluster admin. The StatefulSet controller runs to completion after every
    request, so a template change has rolled every pod by the time the next request
    arrives.
    """
    fake = kube.FakeKube(namespaces=(namespace,), auto_settle=True)
    token = secrets.token_urlsafe(16)
    fake.register_caller(token, kube.AdminPolicy())
    # HTTPS: kubectl sends a kubeconfig's token only over TLS.
    server = kube.KubeServer(fake.handle, port=port, tls=True)
    try:
        server.start()
    except OSError as e:
        raise click.ClickException(f'cannot listen on 127.0.0.1:{port}: {e.strerror}') from e
    try:
        try:
            path = server.write_kubeconfig(kubeconfig_path, token=token, namespace=namespace)
        except OSError as e:
            # An unwritable path is the user's to fix: say so, without a traceback.
            raise BadInput(f'cannot write the kubeconfig {kubeconfig_path}: {e.strerror}') from e
        click.echo(f'Fake Kubernetes API on {server.url} (namespace {namespace!r}).')
        click.echo(f'Kubeconfig: {path}')
        click.echo('Try:')
        click.echo(f'  KUBECONFIG={path} kubectl get pods')
        click.echo('Press Ctrl-C to stop.')
        _wait_for_interrupt()
    finally:
        server.stop()
    click.echo('Stopped.')


def _wait_for_interrupt() -> None:
    """Block until SIGINT (Ctrl-C) or SIGTERM."""
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        del signum, frame
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stop.wait(3600):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


# demo and explore: kubectl follows the run's live model.
_KUBECONFIG_OPTION = click.option(
    '--kubeconfig',
    'kubeconfig_path',
    type=click.Path(path_type=pathlib.Path),
    default=None,
    help='Write a kubeconfig here for kubectl to follow the live model of the run '
    '(one address for the whole run; a watch moves on to each new model).',
)

# The demo's exploration: enough schedules to show it, few enough to stay well under a
# minute; `jujusim explore` and `tox -e chaos` run the thousands.
DEMO_SCHEDULES = 6
# The timeline's tail: the kill, the reset and what each unit ran after them.
DEMO_TIMELINE = 16


@main.command()
@click.option(
    '--pace',
    type=click.FloatRange(min=0),
    default=0.1,
    show_default=True,
    help='Seconds to pause after each controller step, so a person can follow.',
)
@click.option(
    '--consumer',
    default='mesh-consumer',
    show_default=True,
    help="The consumer that must hold R1-R4: a charm folder or a known consumer's name.",
)
@click.option('--seed', type=int, default=0, show_default=True, help='The scheduler seed.')
@click.option(
    '--schedules',
    type=click.IntRange(min=0),
    default=DEMO_SCHEDULES,
    show_default=True,
    help='Random schedules in the short exploration of CONSUMER (0 skips it).',
)
@_KUBECONFIG_OPTION
def demo(
    pace: float, consumer: str, seed: int, schedules: int, kubeconfig_path: pathlib.Path | None
) -> None:
    """The ADR's counterexample, a leader change and a short exploration, on jujusim.

    First a StatefulSet rollout on the fake API. Then the counterexample on the ADR's
    original design, which must break R1-R4 (its timeline shown), and on CONSUMER, which
    must hold them at every point the model settles; a forced leader change on CONSUMER;
    a few random schedules against CONSUMER; a table of R1-R4 per consumer. Exits 1 when
    a consumer does not do as expected.
    """
    source = _consumer_or_exit(consumer)
    original = _consumer_or_exit('adr-original')
    provider = _repo_path_or_exit(_consumers.PROVIDER)
    with _relayed(kubeconfig_path):
        try:
            _demo_parts(pace, seed, schedules, consumer, source, original, provider)
        except AgentError as e:  # a charm that does not import: the input's fault
            raise BadInput(str(e)) from None


def _demo_parts(
    pace: float,
    seed: int,
    schedules: int,
    consumer: str,
    source: CharmSource,
    original: CharmSource,
    provider: pathlib.Path,
) -> None:
    """The demo's rollout, its four parts and its table (see :func:`demo`)."""
    ok = _demo.run(pace=pace, echo=click.echo)
    click.echo('')
    click.echo('The requirements, judged each time the model settles:')
    for line in _REQUIREMENTS:
        click.echo(f'  {line}')
    click.echo("All times below are the model's virtual seconds, not wall-clock time.")
    broken: dict[str, set[str]] = {original.path.name: set(), source.path.name: set()}

    _heading(f'1. The ADR counterexample on its original design ({original.path.name}):')
    run = _adr.run_counterexample(original.path, provider, seed=seed, echo=click.echo)
    broken[original.path.name].update(run.broken)
    if run.problems:
        click.echo('  Caught. Timeline of the failing run (virtual seconds; reads left out):')
        for line in explore_.timeline(run.trace, limit=DEMO_TIMELINE):
            click.echo(f'    {line}')
        # Each object's labels, found and expected, are listed above: only what broke here.
        for line in explore_.explain((), run.broken):
            click.echo(f'  {line}')

    _heading(f'2. The same counterexample on {source.path.name}:')
    run = _adr.run_counterexample(source.path, provider, seed=seed, echo=click.echo)
    broken[source.path.name].update(run.broken)

    _heading(f'3. A forced leader change on {source.path.name}:')
    run = _adr.run_leader_change(source.path, provider, seed=seed, echo=click.echo)
    broken[source.path.name].update(run.broken)

    explored = 0
    if schedules:
        _heading(f'4. A short exploration of {source.path.name}:')
        plan = explore_.Plan(units=3, schedules=schedules, seed=seed)
        classes, explored = _demo_explore(plan, source.path, provider, consumer)
        broken[source.path.name].update(classes)

    _heading('R1-R4 per consumer (the counterexample; for the second, also the leader change')
    click.echo(f'and {explored} explored schedule(s)):')
    must_break = {original.path.name: True, source.path.name: False}
    surprises = _requirements_table(broken, must_break)
    if not ok or surprises:
        if surprises:
            click.echo(f'Not as expected: {", ".join(surprises)}')
        raise SystemExit(1)


@contextlib.contextmanager
def _relayed(kubeconfig: pathlib.Path | None) -> Generator[None]:
    """With a path, serve the run's live model behind one kubeconfig written there."""
    if kubeconfig is None:
        yield
        return
    if kubeconfig.is_dir():  # also an empty path, which names the current folder
        raise BadInput(f'--kubeconfig {kubeconfig}: cannot write it: Is a directory')
    relay = kube.Relay(namespace=model.DEFAULT_NAME)
    try:
        path = relay.start(kubeconfig)
    except OSError as e:
        raise BadInput(f'--kubeconfig {kubeconfig}: cannot write it: {e.strerror}') from None
    click.echo(
        f'Kubeconfig {path}: it follows the live model of this run (namespace '
        f'{model.DEFAULT_NAME!r}) until the run ends. In another terminal:'
    )
    click.echo(f'  kubectl --kubeconfig {shlex.quote(str(path))} get pods -L foo -w')
    with kube.relaying(relay):
        yield


def _heading(text: str) -> None:
    click.echo('')
    click.echo(text)


def _demo_explore(
    plan: explore_.Plan, consumer: pathlib.Path, provider: pathlib.Path, spec: str
) -> tuple[set[str], int]:
    """Run ``plan`` with a progress bar; return what broke and how many schedules ran."""
    charms = {'consumer': consumer, 'provider': provider}
    click.echo(
        f'  {plan.schedules} random schedules of {plan.length} steps, {plan.units} units, '
        f'seed {plan.seed} (leader changes, pod kills, kills and stalls at an API request, '
        'foreign labels, API errors, label changes)'
    )
    results: list[explore_.Result] = []
    with click.progressbar(
        explore_.explore(plan, charms), length=len(plan.indices()), label='  schedules'
    ) as bar:
        for result in bar:
            results.append(result)
    failing = [r for r in results if r.outcome is not None and r.outcome.failed]
    skipped = [r for r in results if r.outcome is None]
    ran = len(results) - len(skipped)
    click.echo(
        f'  held: {ran - len(failing)}, violated: {len(failing)}, could not run: {len(skipped)}'
    )
    classes: set[str] = set()
    first = explore_.first_failure(results)
    if first is not None and first.outcome is not None:
        for result in failing:
            classes.update(result.outcome.failure_class if result.outcome else ())
        click.echo(f'  Schedule {first.index} failed at step {first.outcome.failed_step}:')
        for line in explore_.explain(first.outcome.problems, first.outcome.failure_class):
            click.echo(f'    {line}')
        command = shlex.join(
            [
                'jujusim',
                'explore',
                '--consumer',
                spec,
                '--units',
                str(plan.units),
                '--schedules',
                str(plan.schedules),
                '--seed',
                str(plan.seed),
            ]
        )
        click.echo(f'  To shrink, save and replay it: {command}')
    return classes, ran


def _requirements_table(broken: dict[str, set[str]], must_break: dict[str, bool]) -> list[str]:
    """Print requirements as rows, consumers as columns; return the consumers not as expected."""
    rows = list(explore_.REQUIREMENTS)
    rows += sorted(set[str]().union(*broken.values()) - set(rows))
    names = list(broken)
    width = max(len(n) for n in [*names, 'expected']) + 2
    lines = [f'  {"":<10}' + ''.join(f'{n:<{width}}' for n in names)]
    for row in rows:
        cells = ''.join(f'{"broken" if row in broken[n] else "holds":<{width}}' for n in names)
        # The checker's other failures (a unit in error...) are rows too, named in words.
        name = row if row.startswith('R') else 'also'
        lines.append(f'  {name:<10}{cells}{explore_.REQUIREMENTS.get(row, row)}')
    expected = ''.join(f'{"breaks" if must_break[n] else "holds all":<{width}}' for n in names)
    lines.append(f'  {"expected":<10}{expected}')
    surprises = [n for n in names if bool(broken[n]) != must_break[n]]
    verdict = ''.join(f'{"(!)" if n in surprises else "as expected":<{width}}' for n in names)
    lines.append(f'  {"":<10}{verdict}')
    for line in lines:
        click.echo(line.rstrip())
    return surprises


_REQUIREMENTS = (
    'R1: labels match the relation data after a leader change',
    'R2: labels match the relation data after a pod restart',
    'R3: labels match the relation data when the relation data changes',
    'R4: labels applied by anything outside the library stay untouched',
    '(R1-R3 are one check, "R1-R3" below: every object carries the labels in the relation '
    'data, and none the library released)',
)


@main.command(name='adr')
@click.option(
    '--consumer',
    'consumers',
    multiple=True,
    default=('mesh-consumer', 'adr-original'),
    show_default=True,
    help=(
        'A consumer: a charm folder that requires service-mesh, or one of '
        + ', '.join(_consumers.KNOWN)
        + '; repeat to compare several.'
    ),
)
@click.option(
    '--provider',
    type=click.Path(file_okay=False, path_type=pathlib.Path),
    default=None,
    help="The provider charm folder [default: the repository's charms/beacon-stub].",
)
@click.option(
    '--expect-broken',
    multiple=True,
    help=(
        'A consumer (folder name) expected to break R1-R4; repeat for several, or pass '
        '"none". Default: the comparison consumers this counterexample is known to break.'
    ),
)
@click.option('--seed', type=int, default=0, show_default=True, help='The scheduler seed.')
def adr(
    consumers: tuple[str, ...],
    provider: pathlib.Path | None,
    expect_broken: tuple[str, ...],
    seed: int,
) -> None:
    """Run the ADR's counterexample on each consumer and say whether R1-R4 hold.

    {"foo": "bar"} is applied; the relation data is reset to {} while the leader's pod is
    killed; the recreated leader, with no local state, processes the change. R1-R4 are
    judged each time the model settles. Exits 1 if a consumer does not do as expected:
    hold R1-R4, or break them if named by --expect-broken; 2 on a usage error.
    """
    sources = [_consumer_or_exit(spec) for spec in consumers]
    provider_path = provider or _repo_path_or_exit(_consumers.PROVIDER)
    _charm_or_exit(provider_path)
    names = [source.path.name for source in sources]
    expected_broken = _expected_broken(expect_broken, names)
    click.echo('The ADR counterexample (docs/decision-record.md), on jujusim (times are virtual):')
    surprises: list[str] = []
    for source in sources:
        try:
            run = _adr.run_counterexample(source.path, provider_path, seed=seed, echo=click.echo)
        except AgentError as e:  # a charm that does not import: the input's fault
            raise BadInput(str(e)) from None
        broken = bool(run.problems)
        expected = source.path.name in expected_broken
        verdict = 'breaks R1-R4' if broken else 'holds R1-R4'
        click.echo(f'  => {source.path.name} {verdict}' + ('' if broken == expected else ' (!)'))
        if broken != expected:
            surprises.append(source.path.name)
    if surprises:
        raise click.ClickException(f'not as expected: {", ".join(surprises)}')


def _expected_broken(expect_broken: tuple[str, ...], names: list[str]) -> set[str]:
    """The consumers expected to break; --expect-broken names must be among ``names``."""
    if not expect_broken:
        return {n for n in names if n in _consumers.KNOWN and _consumers.KNOWN[n].breaks_adr}
    if expect_broken == ('none',):
        return set()
    unknown = [name for name in expect_broken if name not in names]
    if unknown:
        raise BadInput(
            f'--expect-broken {unknown[0]!r} names no consumer of this run '
            f'({", ".join(names)}); pass a folder name, or "none"'
        )
    return set(expect_broken)


def _consumer_or_exit(spec: str) -> CharmSource:
    """The consumer ``spec`` names, or a one-line usage error (exit 2)."""
    try:
        return _consumers.resolve(spec)
    except _consumers.ConsumerError as e:
        raise BadInput(f'--consumer {spec}: {e}') from None


def _repo_path_or_exit(folder: str) -> pathlib.Path:
    try:
        return _consumers.repo_path(folder)
    except _consumers.ConsumerError as e:
        raise BadInput(str(e)) from None


def _charm_or_exit(path: pathlib.Path) -> CharmSource:
    try:
        return _consumers.load_charm(path)
    except _consumers.ConsumerError as e:
        raise BadInput(f'{path}: {e}') from None


def _shard(ctx: click.Context, param: click.Parameter, value: str) -> tuple[int, int]:
    del ctx, param
    index, slash, count = value.partition('/')
    try:
        shard = int(index), int(count)
    except ValueError:
        shard = (0, 0)
    if not slash or shard[1] < 1 or not 1 <= shard[0] <= shard[1]:
        raise BadInput(f'--shard {value}: write I/N with 1 <= I <= N, e.g. 2/4')
    return shard


def _weights(ctx: click.Context, param: click.Parameter, value: str) -> explore_.FaultWeights:
    del ctx, param
    try:
        return explore_.FaultWeights.parse(value)
    except ValueError as e:
        raise BadInput(f'--weights: {e}') from None


# explore and conformance: the plan's shape and how it runs.
_UNITS_OPTION = click.option('--units', type=click.IntRange(1, 9), default=3, show_default=True)
_RUN_SEED_OPTION = click.option(
    '--seed', type=int, default=0, show_default=True, help="The run's seed."
)
_WEIGHTS_OPTION = click.option(
    '--weights',
    default='',
    callback=_weights,
    help='Fault weights over the defaults, e.g. "kill=5,stall=0,api_5xx=1".',
)
_JOBS_OPTION = click.option(
    '--jobs',
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Schedules run at once, in processes (this machine's cores).",
)


@main.command(name='explore')
@click.option(
    '--consumer',
    default='mesh-consumer',
    show_default=True,
    help="A charm folder that requires service-mesh, or a known consumer's name.",
)
@_UNITS_OPTION
@click.option(
    '--schedules',
    type=click.IntRange(min=1),
    # Enough that the default run catches a copy of the library with any one of its
    # safety mechanisms switched off (tests/weakened); at 20 some were missed.
    default=50,
    show_default=True,
    help='How many random schedules.',
)
@_RUN_SEED_OPTION
@click.option(
    '--length',
    type=click.IntRange(1, 200),
    default=10,
    show_default=True,
    help='Steps drawn per random schedule.',
)
@_WEIGHTS_OPTION
@click.option(
    '--exhaustive',
    is_flag=True,
    help='Run the bounded exhaustive set (every targeted kill and stall of the ADR '
    'scenario, both orders of its concurrent steps) instead of random schedules.',
)
@_JOBS_OPTION
@click.option(
    '--shard',
    default='1/1',
    callback=_shard,
    show_default=True,
    help="I/N: run the I-th of N shards (a CI matrix); the shards' union is the whole run.",
)
@click.option(
    '--out',
    type=click.Path(file_okay=False, path_type=pathlib.Path),
    default=pathlib.Path('jujusim-failures'),
    show_default=True,
    help='Where a failing schedule is saved.',
)
@click.option(
    '--shrink-budget',
    type=click.IntRange(min=0),
    default=30,
    show_default=True,
    help='Runs spent shrinking a failing schedule.',
)
@_KUBECONFIG_OPTION
@click.option(
    '--hooks-may-fail',
    is_flag=True,
    help="Judge R1-R4 only: a consumer's hook that failed (healed by Juju's retries) "
    'is not a violation. Without it, a failed hook is one, except a failure Juju imposes '
    'on any charm: the commit it refuses to a unit no longer leader when the hook ends.',
)
def explore_command(
    consumer: str,
    units: int,
    schedules: int,
    seed: int,
    length: int,
    weights: explore_.FaultWeights,
    exhaustive: bool,
    jobs: int,
    shard: tuple[int, int],
    out: pathlib.Path,
    shrink_budget: int,
    kubeconfig_path: pathlib.Path | None,
    hooks_may_fail: bool,
) -> None:
    """Run schedules nobody wrote against CONSUMER; shrink, save and replay a failure.

    Every schedule deploys the consumer and the provider, relates them, then runs steps
    drawn from the scenario vocabulary (label changes, bad data, pod deletions, kills and
    stalls at an API request, leader changes, foreign labels, API errors, several at
    once), and judges R1-R4 at every settle point, and that no hook of the consumer
    failed (unless --hooks-may-fail; a commit Juju refuses to a unit no longer leader
    fails a hook of any charm and does not count). Exit 0 when every schedule holds, 1 on
    a violation (its timeline, file and replay command printed), 2 on a usage error.
    """
    if kubeconfig_path is not None and jobs > 1:
        # The jobs' models live in other processes, several at once: one kubeconfig cannot
        # follow "the" live model, and kubectl would show a mix of unrelated schedules.
        raise BadInput(
            f'--kubeconfig follows one model at a time: use it with --jobs 1, not --jobs {jobs}'
        )
    source = _consumer_or_exit(consumer)
    provider = _repo_path_or_exit(_consumers.PROVIDER)
    charms = {'consumer': source.path, 'provider': provider}
    with _relayed(kubeconfig_path):
        _explore(
            explore_.Plan(
                units=units,
                schedules=schedules,
                seed=seed,
                length=length,
                weights=weights,
                exhaustive=exhaustive,
                shard=shard,
                hooks_must_not_fail=not hooks_may_fail,
            ),
            consumer,
            source,
            charms,
            jobs=jobs,
            out=out,
            shrink_budget=shrink_budget,
        )


def _explore(
    plan: explore_.Plan,
    consumer: str,
    source: CharmSource,
    charms: dict[str, pathlib.Path],
    *,
    jobs: int,
    out: pathlib.Path,
    shrink_budget: int,
) -> None:
    """Run, summarise, shrink and save as :func:`explore_command` says."""
    units, seed, exhaustive, shard = plan.units, plan.seed, plan.exhaustive, plan.shard
    indices = plan.indices()
    what = 'exhaustive' if exhaustive else 'random'
    click.echo(
        f'Exploring {source.path.name}: {len(indices)} {what} schedules '
        f'(shard {shard[0]}/{shard[1]}), {units} units, seed {seed}, {jobs} job(s).'
    )
    results: list[explore_.Result] = []
    with click.progressbar(
        explore_.explore(plan, charms, jobs=jobs), length=len(indices), label='schedules'
    ) as bar:
        for result in bar:
            results.append(result)
    failing = [r for r in results if r.outcome is not None and r.outcome.failed]
    skipped = [r for r in results if r.outcome is None]
    _summary(results, failing, skipped)
    first = explore_.first_failure(results)
    if first is None or first.outcome is None:
        if results and len(skipped) == len(results):
            # Nothing was judged: not a pass.
            raise click.ClickException('no schedule could run: see the reasons above')
        return
    schedule, _ = plan.schedule(first.index)
    click.echo(f'Schedule {first.index} failed at step {first.outcome.failed_step}; shrinking...')
    strict = plan.hooks_must_not_fail
    shrunk = explore_.shrink(
        schedule, first.outcome, charms, budget=shrink_budget, hooks_must_not_fail=strict
    )
    confirmed = explore_.run_schedule(
        shrunk.schedule,
        charms,
        seed=first.outcome.seed,
        keep_trace=True,
        hooks_must_not_fail=strict,
    )
    if confirmed.failure_class != first.outcome.failure_class:  # pragma: no cover - defensive
        click.echo('The shrunk schedule did not fail the same way again; reporting it unshrunk.')
        shrunk = explore_.Shrunk(schedule, first.outcome, shrunk.runs)
        confirmed = explore_.run_schedule(
            schedule, charms, seed=first.outcome.seed, keep_trace=True, hooks_must_not_fail=strict
        )
    click.echo(
        f'Shrunk to {len(shrunk.schedule.steps)} steps in {shrunk.runs} runs; '
        f're-run: fails again at step {confirmed.failed_step}.'
    )
    path = _save(out, shrunk.schedule, consumer, first.outcome.seed, strict)
    _report_failure(shrunk.schedule, confirmed)
    click.echo(f'Saved: {path}')
    replay = explore_.replay_command(
        str(path), consumer, first.outcome.seed, hooks_must_not_fail=strict
    )
    click.echo(f'Replay: {replay}')
    raise SystemExit(1)


def _summary(
    results: list[explore_.Result],
    failing: list[explore_.Result],
    skipped: list[explore_.Result],
) -> None:
    held = len(results) - len(failing) - len(skipped)
    click.echo('')
    click.echo(f'  {"result":<10} {"schedules":>9}')
    click.echo(f'  {"held":<10} {held:>9}')
    click.echo(f'  {"violated":<10} {len(failing):>9}')
    click.echo(f'  {"skipped":<10} {len(skipped):>9}')
    kinds: dict[str, int] = {}
    for result in failing:
        for kind in result.outcome.failure_class if result.outcome else ():
            kinds[kind] = kinds.get(kind, 0) + 1
    for kind, count in sorted(kinds.items()):
        click.echo(f'  {kind}: {count} schedule(s): {explore_.describe(kind)}')
    for result in skipped[:3]:
        click.echo(f'  skipped schedule {result.index}: {result.skipped}')


def _save(
    out: pathlib.Path,
    schedule: scenarios.Scenario,
    consumer: str,
    seed: int,
    hooks_must_not_fail: bool,
) -> pathlib.Path:
    try:
        return _conformance.save_schedule(
            out, schedule, consumer, seed, hooks_must_not_fail=hooks_must_not_fail
        )
    except OSError as e:
        raise BadInput(f'cannot save the schedule in {out}: {e.strerror}') from None


def _report_failure(schedule: scenarios.Scenario, outcome: explore_.Outcome) -> None:
    click.echo('')
    click.echo('Timeline (virtual seconds; reads left out):')
    for line in explore_.timeline(outcome.trace):
        click.echo(f'  {line}')
    click.echo('')
    step = outcome.failed_step or len(schedule.steps)
    click.echo(f'At step {step} ({scenarios.step_name(schedule.steps[step - 1])}):')
    for line in explore_.explain(outcome.problems, outcome.failure_class):
        click.echo(f'  {line}')


@main.command(name='replay')
@click.argument('file', type=click.Path(dir_okay=False, path_type=pathlib.Path))
@click.option(
    '--consumer',
    default='mesh-consumer',
    show_default=True,
    help="A charm folder that requires service-mesh, or a known consumer's name.",
)
@click.option('--seed', type=int, default=0, show_default=True, help='The scheduler seed.')
@click.option(
    '--hooks-must-not-fail',
    is_flag=True,
    help="Also fail a check when a hook of its app failed so far (Juju's retries hid it).",
)
@click.option(
    '--stale-writes-allowed',
    is_flag=True,
    help="Do not fail a check on a write over a later leader's (it is still recorded).",
)
@click.option(
    '--unfired-faults-allowed',
    is_flag=True,
    help='Do not fail a check on a kill or stall that never fired (as explore judges).',
)
def replay(
    file: pathlib.Path,
    consumer: str,
    seed: int,
    hooks_must_not_fail: bool,
    stale_writes_allowed: bool,
    unfired_faults_allowed: bool,
) -> None:
    """Run a schedule file on jujusim and say whether R1-R4 held at every settle point.

    A check also fails when a kill or stall the file planned never fired: the run did not
    test what the file says. Exit 0 if they held, 1 if not (with the timeline), 2 on a
    bad file or input.
    """
    try:
        schedule = scenarios.load_scenario(file)
    except scenarios.ScenarioError as e:
        raise BadInput(str(e)) from None
    source = _consumer_or_exit(consumer)
    charms = {'consumer': source.path, 'provider': _repo_path_or_exit(_consumers.PROVIDER)}
    try:
        outcome = explore_.run_schedule(
            schedule,
            charms,
            seed=seed,
            keep_trace=True,
            hooks_must_not_fail=hooks_must_not_fail,
            stale_writes_fail=not stale_writes_allowed,
            fresh=True,  # from scratch: what a saved file says, not a snapshot of a start
            unfired_faults_fail=not unfired_faults_allowed,
        )
    except scenarios.ScenarioError as e:
        raise BadInput(f'{file}: {e}') from None
    if not outcome.failed:
        click.echo(
            f'{schedule.name}: R1-R4 held at every settle point ({len(schedule.steps)} steps).'
        )
        return
    _report_failure(schedule, outcome)
    raise SystemExit(1)


# One schedule per designed episode (each starts with one: explore.LEADS), so that each
# consumer meets every one; `tox -e chaos` and `jujusim explore` run the thousands.
CONFORMANCE_SCHEDULES = len(explore_.LEADS)


@main.command(name='conformance')
@click.option(
    '--consumer',
    'consumers',
    multiple=True,
    default=tuple(_consumers.KNOWN),
    show_default=True,
    help="A charm folder that requires service-mesh, or a known consumer's name; repeat.",
)
@click.option(
    '--schedules',
    type=click.IntRange(min=1),
    default=CONFORMANCE_SCHEDULES,
    show_default=True,
    help='Random schedules per consumer (the same ones for each).',
)
@_RUN_SEED_OPTION
@_UNITS_OPTION
@_WEIGHTS_OPTION
@click.option(
    '--exhaustive/--no-exhaustive',
    default=False,
    show_default=True,
    help='Run the bounded exhaustive set of the ADR scenario instead of random schedules.',
)
@_JOBS_OPTION
@click.option(
    '--out',
    type=click.Path(file_okay=False, path_type=pathlib.Path),
    default=pathlib.Path('jujusim-conformance'),
    show_default=True,
    help='Where each minimal failing schedule is saved.',
)
@click.option(
    '--shrink-budget',
    type=click.IntRange(min=0),
    default=10,
    show_default=True,
    help='Runs spent shrinking each failing schedule.',
)
def conformance(
    consumers: tuple[str, ...],
    schedules: int,
    seed: int,
    units: int,
    weights: explore_.FaultWeights,
    exhaustive: bool,
    jobs: int,
    out: pathlib.Path,
    shrink_budget: int,
) -> None:
    """A table of requirements (rows) by consumers (columns), each cell from exploration.

    Each consumer runs the same schedules as `jujusim explore`; a cell is "yes" if every
    schedule held it, or "no" with the file of a minimal failing schedule (shrunk, re-run
    to confirm), which `jujusim replay` runs. Exit 0 when it ran (it is a report), 2 on
    a usage error.
    """
    sources = [(spec, _consumer_or_exit(spec)) for spec in consumers]
    names = [source.path.name for _, source in sources]
    if len(set(names)) < len(names):
        raise BadInput(f'--consumer: the same consumer twice ({", ".join(names)})')
    provider = _repo_path_or_exit(_consumers.PROVIDER)
    plan = explore_.Plan(
        units=units, schedules=schedules, seed=seed, weights=weights, exhaustive=exhaustive
    )
    what = 'exhaustive' if exhaustive else 'random'
    click.echo(
        f'{len(plan.indices())} {what} schedules per consumer, {units} units, seed {seed}; '
        'requirements judged at every settle point.'
    )

    def bar_for(label: str) -> _conformance.Progress:
        def bar(results: Iterable[explore_.Result], total: int) -> Iterator[explore_.Result]:
            with click.progressbar(results, length=total, label=f'  {label}') as shown:
                yield from shown

        return bar

    columns: list[_conformance.Column] = []
    for spec, source in sources:
        name = source.path.name
        charms = {'consumer': source.path, 'provider': provider}
        try:
            column = _conformance.judge(
                spec,
                charms,
                plan,
                out=out,
                jobs=jobs,
                shrink_budget=shrink_budget,
                progress=bar_for(name),
            )
        except OSError as e:
            raise BadInput(f'cannot save a schedule in {out}: {e.strerror}') from None
        columns.append(column)
        if column.skipped:
            click.echo(f'  {name}: {column.skipped} schedule(s) could not run, not judged')
    click.echo('')
    for line in _conformance.table(columns):
        click.echo(line)
    click.echo('')
    for kind, words in (explore_.REQUIREMENTS | explore_.PROPERTIES).items():
        click.echo(f'  {_conformance.ROW_NAMES.get(kind, kind)}: {words}')
    click.echo('Replay a "no": jujusim replay FILE (its first line is the full command).')
