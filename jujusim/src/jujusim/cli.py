"""The ``jujusim`` command line."""

from __future__ import annotations

import click

from . import __version__


@click.group()
@click.version_option(__version__, prog_name='jujusim')
def main() -> None:
    """Simulate a Juju model on a fake Kubernetes API."""
