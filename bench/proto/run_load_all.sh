#!/bin/sh
# Fresh-process load per variant. Usage: sh run_load_all.sh "1000 10000" > load.jsonl
cd "$(dirname "$0")"
PY=../../.venv/bin/python
for n in ${1:-1000 10000}; do
  for spec in "a perdbcron" "a onejob" "b perdbcron" "b onejob" "c" "d"; do
    set -- $spec
    echo "# load=$(cut -d' ' -f1 /proc/loadavg) $spec n=$n" >&2
    timeout 600 $PY measure_load.py $1 $n $2 | tail -1
  done
done
