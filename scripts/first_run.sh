#!/usr/bin/env bash
# What a new user's `make serve` costs: from a fresh clone of this repository, with no pip cache, the seconds
# until /readyz first answers 200 and the size of the environment it made (issue 32's targets: 60 s, 1.5 GB).
#
# Usage: scripts/first_run.sh [PORT]    (default 8000; it must be free)
#
# The clone lives in a temporary folder and is removed at the end, with the server it started. Every line
# `make serve` printed is kept, prefixed with its second, in first_run.log in the current folder.
set -euo pipefail
repository=$(cd "$(dirname "$0")/.." && pwd)
port=${1:-8000}
log=$PWD/first_run.log
work=$(mktemp -d)
cleanup() {
    pkill -f "$work/clone/.venv/bin/python" >/dev/null 2>&1 || true  # the server, started as .venv/bin/camserve
    rm -rf "$work"
}
trap cleanup EXIT

git clone --quiet "$repository" "$work/clone"
cd "$work/clone"
started=$(date +%s.%N)
(PIP_NO_CACHE_DIR=1 CAMSERVE_PORT=$port make serve 2>&1 | python3 -u -c "
import sys, time
for line in sys.stdin:
    print(f'{time.time() - $started:6.1f} {line}', end='')
" >"$log") &
server=$!
until curl --silent --fail "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; do
    kill -0 "$server" 2>/dev/null || { tail -20 "$log"; echo "first_run: make serve exited" >&2; exit 1; }
    sleep 0.25
done
ready_s=$(python3 -c "import time; print(round(time.time() - $started, 1))")
echo "first_run: ready after $ready_s s; environment $(du -sh .venv | cut -f1); log in $log"
