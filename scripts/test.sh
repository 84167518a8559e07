#!/usr/bin/env bash
# One command for a fresh machine: virtual environment, runtime + train + test + postgres extras,
# lint, tests (the PostgreSQL tests start their own throwaway server: see tests/bot/pg_cluster.py).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
# Install on the first run and again only when pyproject.toml changes (its checksum is kept
# in a stamp file): later runs need no network and start at once.
stamp=.venv/.bardbot-test-installed
wanted=$(cksum < pyproject.toml)
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[train,test,postgres]'
    echo "$wanted" > "$stamp"
fi
.venv/bin/ruff check .
# pytest exits 5 when it collected no test; that is a failure here, as is any other non-zero.
exec .venv/bin/python -m pytest "$@"
