#!/usr/bin/env bash
# Set up a virtual environment with duban and its test tools, then run the whole suite.
# The PostgreSQL tests start their own throwaway server from the Debian packages
# (install them with `apt-get install postgresql` if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/pip install --quiet --disable-pip-version-check -e '.[test]'
.venv/bin/ruff check .
# two workers, one per core of the machines the suite is sized for (DUBAN_TEST_WORKERS=0: one
# process); each worker starts its own throwaway PostgreSQL server
.venv/bin/pytest -q -n "${DUBAN_TEST_WORKERS:-2}" "$@"
