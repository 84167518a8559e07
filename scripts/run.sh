#!/usr/bin/env bash
# One command for a fresh machine: make a virtual environment (first time), install the
# runtime (no TensorFlow), and start the bot. Without DISCORD_TOKEN it opens the console.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
# Install once, and again only when pyproject.toml changes: later starts need no network.
stamp=.venv/.bardbot-runtime-installed
if [ ! -x .venv/bin/bardbot ] || [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -e .
    touch "$stamp"
fi
exec .venv/bin/bardbot "$@"
