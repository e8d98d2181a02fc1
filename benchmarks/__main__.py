"""Run every benchmark module (``bench_*.py``) in this folder, or the ones named."""

from __future__ import annotations

import argparse
import importlib
import io
import pathlib
import sys
import typing


def main(argv: list[str]) -> None:
    """Import each benchmark module named (all by default) and call its ``main()``."""
    # Each figure goes out when printed, also into a pipe (`tox -e bench | tee`): a pipe
    # is block-buffered by default, which showed nothing for minutes.
    stdout: object = sys.stdout
    if isinstance(stdout, io.TextIOWrapper):
        typing.cast('io.TextIOWrapper[io.BufferedWriter]', stdout).reconfigure(line_buffering=True)
    here = pathlib.Path(__file__).parent
    available = sorted(p.stem for p in here.glob('bench_*.py'))
    parser = argparse.ArgumentParser(
        prog='python -m benchmarks',
        description='Print benchmark figures (no pass/fail on timings).',
    )
    parser.add_argument('names', nargs='*', metavar='MODULE', help=', '.join(available))
    names: list[str] = parser.parse_args(argv).names or available
    unknown = [name for name in names if name not in available]
    if unknown:
        # A usage error naming the choices, not an import traceback.
        parser.error(
            f'no benchmark module {", ".join(unknown)}; choose from {", ".join(available)}'
        )
    for name in names:
        module = importlib.import_module(f'benchmarks.{name}')
        print(f'== {name}')
        module.main()


if __name__ == '__main__':
    main(sys.argv[1:])
