#!/usr/bin/env bash
# One command for a fresh machine: make a virtual environment (first time), install the
# runtime (no TensorFlow), and start the bot. Without DISCORD_TOKEN it opens the console.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e .
exec .venv/bin/bardbot "$@"
