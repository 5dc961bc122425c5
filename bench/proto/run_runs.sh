#!/bin/sh
# Grouped-run cost on dagster-postgres, one process at a time. Usage: sh run_runs.sh > runs.jsonl
cd "$(dirname "$0")"
PY=../../.venv/bin/python
run() { echo "# load=$(cut -d' ' -f1 /proc/loadavg) $*" >&2; timeout 1200 "$@" 2>/dev/null | tail -1; }
export DAGSTER_HOME=/tmp/proto_home_tcp
run $PY measure_run.py a 10000 perdbcron 1,500
PROTO_POOL=1 run $PY measure_run.py a 10000 perdbcron 1,500
run $PY measure_run.py b 10000 perdbcron 1,500
run $PY measure_run.py c 10000 - 1,500
PROTO_POOL=1 run $PY measure_run.py c 10000 - 1,500
DAGSTER_HOME=/tmp/proto_home_sock run $PY measure_run.py a 10000 perdbcron 1,500
run $PY measure_run.py d 1000 - 1,1
