#!/bin/sh
# Whole prototype benchmark, one heavy process at a time (~15 min).
#   createdb -h 127.0.0.1 -U postgres proto_bench   # once
#   sh bench/proto/run_all.sh
# Needs /tmp/proto_home_tcp/dagster.yaml (copy of dagster.tcp.yaml) and
# /tmp/proto_home_sock/dagster.yaml (copy of dagster.sock.yaml).
set -e
cd "$(dirname "$0")"
for m in tcp sock; do mkdir -p /tmp/proto_home_$m; cp dagster.$m.yaml /tmp/proto_home_$m/dagster.yaml; done
../../.venv/bin/python bench_pg_latency.py > pg_latency.json
sh run_load_all.sh "1000" > load_1000.jsonl 2> load_1000.err
sh run_load_all.sh "10000" > load_10000.jsonl 2> load_10000.err
../../.venv/bin/python summarize_load.py load_1000.jsonl load_10000.jsonl
DAGSTER_HOME=/tmp/proto_home_tcp ../../.venv/bin/python check_unyielded.py 2>/dev/null
sh run_runs.sh > runs.jsonl 2> runs.err
sh run_misc.sh > misc.jsonl 2> misc.err
