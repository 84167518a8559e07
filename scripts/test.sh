#!/usr/bin/env bash
# One command for a fresh machine: virtual environment, runtime + train + test + postgres extras,
# lint, tests (the PostgreSQL tests start their own throwaway server: see tests/bot/pg_cluster.py).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[train,test,postgres]'
.venv/bin/ruff check .
# pytest exits 5 when it collected no test; that is a failure here, as is any other non-zero.
exec .venv/bin/python -m pytest "$@"
