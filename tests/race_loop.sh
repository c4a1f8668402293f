#!/usr/bin/env bash
# Runs every test of tests/test_refresh_ops.py that kills, restarts or races something N times
# in a row (default 30), stopping at the first failure; prints how many loops were green.
#   FOLIO_PG_PORT=54331 tests/race_loop.sh [N]
set -u
cd "$(dirname "$0")/.."
loops=${1:-30}
races='concurrent_refresh or lock_timeout or killed or reaper_leaves or two_clients
 or dbt_and_in_database or readers_polling or client_whose or client_interrupted
 or postmaster_killed or import_during or import_queued or retry_of_a_written
 or full_refresh_of_one_model'
green=0
for i in $(seq "$loops"); do
    if .venv/bin/pytest tests/test_refresh_ops.py -k "$(echo $races)" -x -q -p no:cacheprovider; then
        green=$i
        echo "race loop $i/$loops: green"
    else
        echo "race loop $i/$loops: FAILED"
        break
    fi
done
echo "green loops: $green of $loops"
[ "$green" -eq "$loops" ]
