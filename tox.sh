#!/usr/bin/env bash
# Run tox for this repository through uv, on any python3 >= 3.8 with pip, without
# installing anything into that Python: ./tox.sh -e lint,static,unit (any tox arguments).
#
# uv is taken from PATH if there; otherwise pip installs the pinned uv into .tools/
# with --target, which writes only under this repository and so is allowed on an
# "externally managed" Python (PEP 668: Ubuntu 24.04, Debian 12), where
# `python3 -m pip install uv` is refused.
set -euo pipefail
cd "$(dirname "$0")"

UV_VERSION=0.13.9  # as pinned in pyproject.toml's dependency groups
tools=".tools/uv-$UV_VERSION"

if command -v uv >/dev/null 2>&1; then
  uv=$(command -v uv)
else
  uv="$tools/bin/uv"
  if [ ! -x "$uv" ]; then
    if ! python3 -m pip --version >/dev/null 2>&1; then
      echo "tox.sh: python3 has no pip. Install uv another way, then run this again:" >&2
      echo "  sudo snap install astral-uv --classic    # or: sudo apt install python3-pip" >&2
      exit 1
    fi
    echo "tox.sh: installing uv $UV_VERSION into $tools (not into python3)" >&2
    python3 -m pip install --quiet --disable-pip-version-check --target "$tools" \
      "uv==$UV_VERSION"
  fi
fi

exec "$uv" tool run --with tox-uv tox "$@"
