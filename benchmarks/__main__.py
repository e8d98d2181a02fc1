"""Run every benchmark module (``bench_*.py``) in this folder, or the ones named."""

from __future__ import annotations

import importlib
import pathlib
import sys


def main(argv: list[str]) -> None:
    """Import each benchmark module and call its ``main()``."""
    here = pathlib.Path(__file__).parent
    names = argv or sorted(p.stem for p in here.glob('bench_*.py'))
    for name in names:
        module = importlib.import_module(f'benchmarks.{name}')
        print(f'== {name}')
        module.main()


if __name__ == '__main__':
    main(sys.argv[1:])
