#!/bin/sh
# pydantic, run-less/log_event check evaluations, run start. Usage: sh run_misc.sh > misc.jsonl
cd "$(dirname "$0")"
PY=../../.venv/bin/python
export DAGSTER_HOME=/tmp/proto_home_tcp
$PY bench_pydantic.py 10000
$PY bench_runless.py 200 2>/dev/null | tail -1
for spec in "a 10000 perdbcron 1250" "a 10000 onejob 2000" "b 10000 perdbcron 1250" "c 10000 - 1" "d 10000 - 1"; do
  echo "# load=$(cut -d' ' -f1 /proc/loadavg) runstart $spec" >&2
  $PY measure_runstart.py $spec 2>&1 | tail -1
done
