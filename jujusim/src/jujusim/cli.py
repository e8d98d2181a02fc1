"""The ``jujusim`` command line."""

from __future__ import annotations

import pathlib
import secrets
import signal
import threading
from types import FrameType

import click

from . import __version__, _demo, kube


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
