"""``python -m jujusim``: the same as the ``jujusim`` console script."""

from __future__ import annotations

from .cli import main

main()
