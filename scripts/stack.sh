#!/usr/bin/env bash
# The docker-compose.yaml stack without Docker: the same services, commands, workspace.stack.yaml
# and dagster.yaml, run natively against a PostgreSQL server (default: the local one, trust
# auth, database sentinel_stack, created when missing).
#
#   scripts/stack.sh up       start everything, wait until it answers   (make stack)
#   scripts/stack.sh down     stop what `up` started                    (make stack-down)
#   scripts/stack.sh status   which services run
#   scripts/stack.sh prometheus-config   the Prometheus configuration the monitoring profile uses
#
# SENTINEL_MONITORING=1 adds the monitoring profile (docker-compose.yaml's `monitoring`): Debian's
# `prometheus` (apt-get install prometheus) on deploy/monitoring/prometheus.yml, scraping the
# exporter, with sentinel's alerting rules; Grafana runs in compose only (docs/monitoring.md).
#
# Pid files and logs live under $SENTINEL_STACK_DIR (default .stack/). Every service runs in its
# own process group, and `down` stops exactly those groups. Environment (defaults in brackets):
#   SENTINEL_WEBSERVER_PORT [3000]  SENTINEL_CODE_SERVER_PORT [4000]  SENTINEL_METRICS_PORT [9464]
#   DAGSTER_POSTGRES_URL    [postgresql+psycopg2://$SENTINEL_STACK_PG_USER@$SENTINEL_STACK_PG_HOST:
#                            $SENTINEL_STACK_PG_PORT/$SENTINEL_STACK_DB]; when set, the database
#                            must exist already
#   SENTINEL_STACK_PG_HOST [127.0.0.1]  SENTINEL_STACK_PG_PORT [5432]
#   SENTINEL_STACK_PG_USER [postgres]   SENTINEL_STACK_DB [sentinel_stack]
#   SENTINEL_STATE_URL [$DAGSTER_POSTGRES_URL]  SENTINEL_SPECS_DIR [alert_specs/]
#   SENTINEL_OUTBOX [$SENTINEL_STACK_DIR/outbox.jsonl]  SENTINEL_WEBSERVER_URL [the webserver]
#   SENTINEL_STACK_BIN [.venv/bin]  SENTINEL_STACK_TIMEOUT [180 seconds to come up]
#   SENTINEL_MONITORING [0]  SENTINEL_PROMETHEUS_PORT [9090]
#
# SENTINEL_RUN_LAUNCHER=celery runs every run on warm Celery workers instead of a process per run
# (docs/scale-out.md): the instance is deploy/dagster.celery.yaml, Redis is reused where the broker
# URL answers (else redis-server is started on that loopback port, data under $SENTINEL_STACK_DIR,
# and `down` stops it), and SENTINEL_CELERY_WORKERS worker processes start next to the daemon:
#   SENTINEL_RUN_LAUNCHER [default | celery]  SENTINEL_CELERY_WORKERS [2]
#   SENTINEL_CELERY_QUEUES [dagster: the default queue; a comma list, e.g. dagster,dc_east]
#   SENTINEL_CELERY_CONCURRENCY [2 runs at a time per worker]
#   SENTINEL_CELERY_BROKER_URL [redis://127.0.0.1:6379/0]
#   SENTINEL_CELERY_BACKEND_URL [$SENTINEL_CELERY_BROKER_URL]
#   SENTINEL_STACK_INSTANCE [deploy/dagster.yaml, or deploy/dagster.celery.yaml with celery]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${SENTINEL_STACK_BIN:-$ROOT/.venv/bin}"
STACK_DIR="${SENTINEL_STACK_DIR:-$ROOT/.stack}"
PIDS="$STACK_DIR/pids"
LOGS="$STACK_DIR/logs"
TIMEOUT="${SENTINEL_STACK_TIMEOUT:-180}"
SERVICES=(code-server webserver daemon exporter)

# natively everything listens on loopback only (in compose: 0.0.0.0 inside the network)
HOST=127.0.0.1
WEBSERVER_PORT="${SENTINEL_WEBSERVER_PORT:-3000}"
CODE_SERVER_PORT="${SENTINEL_CODE_SERVER_PORT:-4000}"
METRICS_PORT="${SENTINEL_METRICS_PORT:-9464}"
PROMETHEUS_PORT="${SENTINEL_PROMETHEUS_PORT:-9090}"
MONITORING="${SENTINEL_MONITORING:-0}"
PG_HOST="${SENTINEL_STACK_PG_HOST:-127.0.0.1}"
PG_PORT="${SENTINEL_STACK_PG_PORT:-5432}"
PG_USER="${SENTINEL_STACK_PG_USER:-postgres}"
PG_DB="${SENTINEL_STACK_DB:-sentinel_stack}"
CREATE_DB=yes
[[ -n "${DAGSTER_POSTGRES_URL:-}" ]] && CREATE_DB=no
RUN_LAUNCHER="${SENTINEL_RUN_LAUNCHER:-default}"
case "$RUN_LAUNCHER" in
  default) INSTANCE_NAME=dagster.yaml ;;
  celery) INSTANCE_NAME=dagster.celery.yaml ;;
  *) echo "stack: SENTINEL_RUN_LAUNCHER must be default or celery, not $RUN_LAUNCHER" >&2; exit 2 ;;
esac
INSTANCE="${SENTINEL_STACK_INSTANCE:-$ROOT/deploy/$INSTANCE_NAME}"
CELERY_WORKERS="${SENTINEL_CELERY_WORKERS:-2}"
CELERY_QUEUES="${SENTINEL_CELERY_QUEUES:-dagster}"
CELERY_CONCURRENCY="${SENTINEL_CELERY_CONCURRENCY:-2}"

# the stack's instance is deploy/dagster.yaml (or its Celery twin) itself, whatever DAGSTER_HOME the caller has
export DAGSTER_HOME="$STACK_DIR/dagster_home"
export DAGSTER_POSTGRES_URL="${DAGSTER_POSTGRES_URL:-postgresql+psycopg2://$PG_USER@$PG_HOST:$PG_PORT/$PG_DB}"
export SENTINEL_STATE_URL="${SENTINEL_STATE_URL:-$DAGSTER_POSTGRES_URL}"
export SENTINEL_SPECS_DIR="${SENTINEL_SPECS_DIR:-$ROOT/alert_specs}"
export SENTINEL_OUTBOX="${SENTINEL_OUTBOX:-$STACK_DIR/outbox.jsonl}"
export SENTINEL_WEBSERVER_URL="${SENTINEL_WEBSERVER_URL:-http://$HOST:$WEBSERVER_PORT}"
# read by deploy/dagster.celery.yaml and deploy/celery-worker.yaml
export SENTINEL_CELERY_BROKER_URL="${SENTINEL_CELERY_BROKER_URL:-redis://127.0.0.1:6379/0}"
export SENTINEL_CELERY_BACKEND_URL="${SENTINEL_CELERY_BACKEND_URL:-$SENTINEL_CELERY_BROKER_URL}"
# read by workspace.stack.yaml
export SENTINEL_CODE_SERVER_HOST="$HOST"
export SENTINEL_CODE_SERVER_PORT="$CODE_SERVER_PORT"

say() { echo "stack: $*" >&2; }

pid_of() { cat "$PIDS/$1.pid" 2>/dev/null || true; }

# alive and still the process group this script started (a pid number can be reused)
is_running() {
  local pid
  pid="$(pid_of "$1")"
  [[ -n "$pid" ]] && [[ "$(ps -o pgid= -p "$pid" 2>/dev/null | tr -d ' ')" == "$pid" ]]
}

# start NAME COMMAND...: in a new session (its own process group), from the repository root
start() {
  local name="$1"
  shift
  (cd "$ROOT" && exec setsid "$@" >"$LOGS/$name.log" 2>&1 </dev/null) &
  echo "$!" >"$PIDS/$name.pid"
}

# wait_for NAME COMMAND...: until COMMAND succeeds; fails when NAME died or time ran out
wait_for() {
  local name="$1" deadline=$((SECONDS + TIMEOUT))
  shift
  until "$@" >/dev/null 2>&1; do
    if ! is_running "$name"; then
      say "$name exited while starting; the end of $LOGS/$name.log:"
      tail -n 30 "$LOGS/$name.log" >&2 || true
      return 1
    fi
    if ((SECONDS >= deadline)); then
      say "$name did not answer within ${TIMEOUT}s; see $LOGS/$name.log"
      return 1
    fi
    sleep 1
  done
}

http_ok() { curl -fsS -o /dev/null --max-time 5 "$1"; }

ensure_database() {
  wait_for_postgres
  [[ "$CREATE_DB" == yes ]] || return 0
  if [[ ! "$PG_DB" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]]; then
    say "SENTINEL_STACK_DB=$PG_DB is not a plain database name (letters, digits, underscores)"
    return 1
  fi
  local psql=(psql -X -q -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d postgres -v ON_ERROR_STOP=1)
  if [[ -z "$("${psql[@]}" -tAc "SELECT 1 FROM pg_database WHERE datname = '$PG_DB'")" ]]; then
    say "creating database $PG_DB on $PG_HOST:$PG_PORT"
    "${psql[@]}" -c "CREATE DATABASE \"$PG_DB\""
  fi
}

# the compose file's PostgreSQL healthcheck
wait_for_postgres() {
  local deadline=$((SECONDS + TIMEOUT))
  until pg_isready -q -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER"; do
    if ((SECONDS >= deadline)); then
      say "PostgreSQL on $PG_HOST:$PG_PORT is not ready; start it (the stack needs it)"
      return 1
    fi
    sleep 1
  done
}

tcp_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# the broker's Redis: reused when it answers, else started on its loopback port (data in the stack dir)
ensure_redis() {
  local rest host port
  rest="${SENTINEL_CELERY_BROKER_URL#*://}"
  rest="${rest##*@}"
  rest="${rest%%/*}"
  host="${rest%:*}"
  port="${rest##*:}"
  [[ "$port" == "$rest" ]] && port=6379
  if tcp_open "$host" "$port"; then
    say "reusing Redis at $host:$port (not stopped by down)"
    return 0
  fi
  if [[ "$host" != 127.0.0.1 && "$host" != localhost ]] || ! command -v redis-server >/dev/null; then
    say "Redis at $host:$port does not answer; start it (apt-get install redis-server) or set SENTINEL_CELERY_BROKER_URL"
    return 1
  fi
  mkdir -p "$STACK_DIR/redis"
  start redis redis-server --bind 127.0.0.1 --port "$port" --dir "$STACK_DIR/redis" --appendonly yes --save ""
  wait_for redis tcp_open 127.0.0.1 "$port"
}

# SENTINEL_CELERY_WORKERS workers on SENTINEL_CELERY_QUEUES, as compose's `worker` service runs them
start_workers() {
  local i
  for ((i = 1; i <= CELERY_WORKERS; i++)); do
    start "worker-$i" env PATH="$BIN:$PATH" "$BIN/dagster-celery" worker start -A dagster_celery.app -y "$ROOT/deploy/celery-worker.yaml" -q "$CELERY_QUEUES" -n "sentinel-worker-$i" -- --concurrency "$CELERY_CONCURRENCY"
  done
  for ((i = 1; i <= CELERY_WORKERS; i++)); do
    wait_for "worker-$i" grep -q "sentinel-worker-$i@.* ready" "$LOGS/worker-$i.log"
  done
}

worker_names() {
  local file
  for file in "$PIDS"/worker-*.pid; do
    [[ -e "$file" ]] && basename "$file" .pid
  done
  return 0
}

# deploy/monitoring/prometheus.yml with this stack's exporter and the rules' absolute path
prometheus_config() {
  sed -e "s|\"exporter:9464\"|\"$HOST:$METRICS_PORT\"|" \
      -e "s|^  - rules/|  - $ROOT/deploy/monitoring/rules/|" "$ROOT/deploy/monitoring/prometheus.yml"
}

# the monitoring profile natively: Prometheus only (Grafana is not packaged for Debian)
start_monitoring() {
  if ! command -v prometheus >/dev/null; then
    say "SENTINEL_MONITORING=1 needs Prometheus: apt-get install prometheus (make test-deps)"
    return 1
  fi
  mkdir -p "$STACK_DIR/prometheus"
  prometheus_config >"$STACK_DIR/prometheus.yml"
  start prometheus prometheus --config.file="$STACK_DIR/prometheus.yml" --storage.tsdb.path="$STACK_DIR/prometheus" --web.listen-address="$HOST:$PROMETHEUS_PORT"
  wait_for prometheus http_ok "http://$HOST:$PROMETHEUS_PORT/-/ready"
  say "monitoring: Prometheus http://$HOST:$PROMETHEUS_PORT (rules: /alerts), log $LOGS/prometheus.log"
}

up() {
  local running=() name
  for name in "${SERVICES[@]}"; do is_running "$name" && running+=("$name"); done
  if ((${#running[@]} == ${#SERVICES[@]})); then
    if [[ "$MONITORING" == 1 ]] && ! is_running prometheus; then
      start_monitoring
    fi
    say "already running (scripts/stack.sh down stops it)"
    return 0
  elif ((${#running[@]})); then
    say "partly running (${running[*]}); run scripts/stack.sh down first"
    return 1
  fi
  mkdir -p "$PIDS" "$LOGS" "$DAGSTER_HOME"
  ln -sfn "$INSTANCE" "$DAGSTER_HOME/dagster.yaml"
  trap 'say "start failed; stopping what started"; down' ERR
  ensure_database
  if [[ "$RUN_LAUNCHER" == celery ]]; then
    ensure_redis
  fi

  # the same commands as docker-compose.yaml (test_deploy_files.py checks that they agree)
  # `code-server start`: the code reloads in place when the specs change (the sentinel_spec_reload
  # sensor asks it to; the webserver and the daemon follow its new server id)
  start code-server "$BIN/dagster" code-server start -m sentinel_assets.definitions -h "$HOST" -p "$CODE_SERVER_PORT"
  wait_for code-server "$BIN/dagster" api grpc-health-check -p "$CODE_SERVER_PORT"
  start webserver "$BIN/dagster-webserver" -h "$HOST" -p "$WEBSERVER_PORT" -w workspace.stack.yaml
  start daemon "$BIN/dagster-daemon" run -w workspace.stack.yaml
  start exporter "$BIN/sentinel" metrics serve --host "$HOST" --port "$METRICS_PORT"

  wait_for webserver http_ok "http://$HOST:$WEBSERVER_PORT/server_info"
  wait_for exporter http_ok "http://$HOST:$METRICS_PORT/metrics"
  wait_for daemon "$BIN/dagster-daemon" liveness-check
  if [[ "$RUN_LAUNCHER" == celery ]]; then
    start_workers
  fi
  # an answer on a port could come from someone else's server: ours must still be alive
  for name in "${SERVICES[@]}" $(worker_names); do
    is_running "$name" || { say "$name exited; see $LOGS/$name.log"; false; }
  done
  if [[ "$MONITORING" == 1 ]]; then
    start_monitoring
  fi
  trap - ERR
  say "up: webserver $SENTINEL_WEBSERVER_URL, metrics http://$HOST:$METRICS_PORT/metrics," \
      "code server $HOST:$CODE_SERVER_PORT, logs in $LOGS"
  if [[ "$RUN_LAUNCHER" == celery ]]; then
    say "runs on $CELERY_WORKERS Celery worker(s) on queue(s) $CELERY_QUEUES, broker $SENTINEL_CELERY_BROKER_URL"
  fi
}

down() {
  local name pid
  # workers and a Redis started by `up` too, whatever SENTINEL_RUN_LAUNCHER says now
  for name in prometheus exporter daemon webserver $(worker_names) code-server redis; do
    if is_running "$name"; then
      pid="$(pid_of "$name")"
      kill -TERM -- "-$pid" 2>/dev/null || true
      for _ in $(seq 1 20); do is_running "$name" || break; sleep 0.5; done
      if is_running "$name"; then
        say "$name did not stop on SIGTERM; killing its process group"
        kill -KILL -- "-$pid" 2>/dev/null || true
      fi
      say "stopped $name (pid $pid)"
    fi
    rm -f "$PIDS/$name.pid"
  done
}

status() {
  local name
  for name in "${SERVICES[@]}"; do
    if is_running "$name"; then
      echo "$name: running (pid $(pid_of "$name"), log $LOGS/$name.log)"
    else
      echo "$name: stopped"
    fi
  done
  for name in prometheus $(worker_names) redis; do
    if is_running "$name"; then
      echo "$name: running (pid $(pid_of "$name"), log $LOGS/$name.log)"
    fi
  done
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  prometheus-config) prometheus_config ;;
  *)
    echo "usage: scripts/stack.sh up|down|status|prometheus-config" >&2
    exit 2
    ;;
esac
