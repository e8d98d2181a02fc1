"""The ``jujusim`` command line."""

from __future__ import annotations

import pathlib
import secrets
import signal
import threading
from types import FrameType

import click

from . import __version__, _adr, _demo, kube


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
            raise click.ClickException(
                f'cannot write the kubeconfig {kubeconfig_path}: {e.strerror}'
            ) from e
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


@main.command()
@click.option(
    '--pace',
    type=click.FloatRange(min=0),
    default=0.1,
    show_default=True,
    help='Seconds to pause after each controller step, so a person can follow.',
)
def demo(pace: float) -> None:
    """Serve the fake API, relabel a StatefulSet's pod template and watch the rollout."""
    if not _demo.run(pace=pace, echo=click.echo):
        raise SystemExit(1)


@main.command(name='adr')
@click.option(
    '--consumer',
    'consumers',
    type=click.Path(exists=True, file_okay=False, path_type=pathlib.Path),
    multiple=True,
    default=('charms/mesh-consumer', 'tests/charms/adr-original'),
    show_default=True,
    help='A consumer charm source folder; repeat to compare several.',
)
@click.option(
    '--provider',
    type=click.Path(exists=True, file_okay=False, path_type=pathlib.Path),
    default='charms/beacon-stub',
    show_default=True,
    help='The provider charm source folder.',
)
@click.option(
    '--expect-broken',
    multiple=True,
    default=('adr-original',),
    show_default=True,
    help='A consumer (folder name) expected to break R1-R4; repeat for several.',
)
@click.option('--seed', type=int, default=0, show_default=True, help='The scheduler seed.')
def adr(
    consumers: tuple[pathlib.Path, ...],
    provider: pathlib.Path,
    expect_broken: tuple[str, ...],
    seed: int,
) -> None:
    """Run the ADR's counterexample on each consumer and say whether R1-R4 hold.

    {"foo": "bar"} is applied; the relation data is reset to {} while the leader's pod is
    killed; the recreated leader, with no local state, processes the change. Exits 1 if a
    consumer does not do as expected: hold R1-R4, or break them if named by
    --expect-broken (the ADR's original design is, by default).
    """
    click.echo('The ADR counterexample (docs/decision-record.md), on jujusim:')
    surprises: list[str] = []
    for consumer in consumers:
        broken = bool(_adr.run_counterexample(consumer, provider, seed=seed, echo=click.echo))
        expected = consumer.name in expect_broken
        verdict = 'breaks R1-R4' if broken else 'holds R1-R4'
        click.echo(f'  => {consumer.name} {verdict}' + ('' if broken == expected else ' (!)'))
        if broken != expected:
            surprises.append(consumer.name)
    if surprises:
        raise click.ClickException(f'not as expected: {", ".join(surprises)}')
