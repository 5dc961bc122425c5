"""Scheduled-alert throughput of the native stack: N alerts on ``* * * * *``, a few ticks.

The issue's throughput benchmark: "stack up, N alerts on `* * * * *`, three ticks: due,
recorded, lag p50/p95, CPU seconds". Run it from the repository root (it needs the local
PostgreSQL on 127.0.0.1:5432, user postgres, trust auth, and what ``scripts/stack.sh`` needs):

    .venv/bin/python bench/bench_throughput.py -n 20 --ticks 2           # a small check, ~5 min
    .venv/bin/python bench/bench_throughput.py -n 1000 --databases 4     # 3 ticks, 90 s drain
    .venv/bin/python bench/bench_throughput.py -n 200 --ports 3300,4300,9564 --keep
    .venv/bin/python bench/bench_throughput.py -n 1000 --databases 4 --launcher celery --workers 2

``--launcher celery --workers N`` runs the Celery deployment instead (docs/scale-out.md):
``SENTINEL_RUN_LAUNCHER=celery`` with N worker processes (``--concurrency`` runs at a time each,
default 1) and a Redis of the bench's own that ``scripts/stack.sh`` starts on a free loopback
port (``--redis-port``) and stops; the workers and Redis count in the stack's CPU.

What it does:

1. Writes N alerts ``tp_alert_00000`` ... into a temp specs dir, all on cron ``* * * * *`` in
   UTC, each the same trivial query on the table ``events`` of one of K SQLite databases
   (``--databases K``, default 1; alert i uses database i % K). The query returns OK, so no
   notice is sent; the ``log`` channel ``outbox`` writes to a temp outbox all the same.
2. Creates a fresh PostgreSQL database ``sentinel_bench_<pid>`` (fails if it exists) and runs
   ``scripts/stack.sh up`` with SENTINEL_SPECS_DIR=<temp specs>, SENTINEL_STACK_DIR=<temp dir>,
   SENTINEL_STACK_DB=sentinel_bench_<pid>, SENTINEL_OUTBOX=<temp outbox>,
   SENTINEL_WEBSERVER_PORT / SENTINEL_CODE_SERVER_PORT / SENTINEL_METRICS_PORT from ``--ports``
   (default 3300,4300,9564). DAGSTER_POSTGRES_URL, SENTINEL_STATE_URL and DAGSTER_HOME are
   removed from the stack's environment, so the stack derives them (instance: the repo's
   ``dagster.yaml``, linked by stack.sh; state store: the same fresh database).
3. Asks the webserver (GraphQL) for the schedules on ``* * * * *``: they must be RUNNING by
   default; any that is not is started (``startSchedule``) and reported. After the run the
   stored instigator states are read back through ``DagsterInstance``.
4. Timeline: T0 is the first minute boundary after the stack is up (a warm-up tick: the daemon's
   first look at the schedules, a cold code server; shown, not counted). The counted ticks are
   T1 ... Tk (k = ``--ticks``, default 3), Tj = T0 + 60 j. The script waits until
   Tk + ``--drain`` seconds (default 90, at least 60), the schedules still running, then reads the
   instance (``DagsterInstance.from_config(<stack dir>/dagster_home)``).
5. Per tick: due = N enabled alerts; recorded = evaluations recorded by the end of the drain in
   runs whose ``.dagster/scheduled_execution_time`` tag (Dagster's hidden
   SCHEDULED_EXECUTION_TIME_TAG) is that tick; lag = record time - tick
   time (p50 / p95 / max). The record counted, per run, is the first of:
   ``asset_check``: ASSET_CHECK_EVALUATION events of the run (``get_records_for_run``; one per
   evaluated alert, the grouped-run design), record time = the event's timestamp;
   ``batch_tag``: ``sentinel/batch/<alert>=<status>`` tags (today's ``batch: true`` runs),
   record time = the run's end;
   ``alert_run``: a finished run tagged ``sentinel/alert`` carrying ``sentinel/status`` (today's
   one run per alert), record time = the run's end.
   "missing" is due minus the distinct alerts recorded for the tick. Runs still queued or
   running at the end are counted as backlog.
6. CPU: busy jiffies of the whole machine from /proc/stat (user+nice+system+irq+softirq+steal,
   all CPUs) over the measured window [T1, Tk + 60) -- k minutes, each holding one tick's work in
   the steady state -- divided by k; the same for the stack's process groups (the four services
   and every process in their groups, e.g. run workers; utime+stime+cutime+cstime from
   /proc/<pid>/stat, so reaped children count) and for the PostgreSQL server (the postmaster and
   its backends, ALL databases). Also over [T1, end of drain]. A machine baseline (busy cores)
   is taken for ``--baseline`` seconds before the stack starts: other work on the machine is in
   the machine figure.
7. Prints a table, appends one JSON line to ``bench/results/throughput.jsonl``, and always runs
   ``scripts/stack.sh down`` (same environment) and drops the database, unless ``--keep``
   (then it prints how to stop it and where everything is).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
STACK_SH = REPO_ROOT / "scripts" / "stack.sh"
RESULTS = REPO_ROOT / "bench" / "results" / "throughput.jsonl"
CRON = "* * * * *"
ALERT_PREFIX = "tp_alert_"
PG_HOST, PG_PORT, PG_USER = "127.0.0.1", 5432, "postgres"
CLK_TCK = os.sysconf("SC_CLK_TCK")

# dagster's SCHEDULED_EXECUTION_TIME_TAG is hidden (".dagster/..."); older versions had no dot
SCHEDULED_TAGS = (".dagster/scheduled_execution_time", "dagster/scheduled_execution_time")
ALERT_TAG = "sentinel/alert"
STATUS_TAG = "sentinel/status"
MEMBER_TAG_PREFIX = "sentinel/batch/"
QUERY = ("SELECT CASE WHEN COUNT(*) > 0 THEN 'OK' ELSE 'ALERT' END AS status, "
         "COUNT(*) AS actual_value FROM events")


def log(msg: str) -> None:
    print(f"[{datetime.now().strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# -- specs ---------------------------------------------------------------------------------------
def write_specs(specs_dir: Path, n: int, k: int, outbox: Path) -> list[str]:
    import yaml

    data = specs_dir / "data"
    data.mkdir(parents=True)
    dbs = {}
    for j in range(k):
        path = data / f"tp_db_{j}.db"
        conn = sqlite3.connect(path)
        with conn:
            conn.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, kind TEXT, at TEXT)")
            conn.executemany("INSERT INTO events (kind, at) VALUES (?, ?)",
                             [(f"k{i % 5}", f"2026-01-01T00:{i % 60:02d}:00") for i in range(100)])
        conn.close()
        dbs[f"tp_db_{j}"] = {"url": f"sqlite:///{path}"}
    names = [f"{ALERT_PREFIX}{i:05d}" for i in range(n)]
    alerts = []
    for i, name in enumerate(names):
        alert = {"name": name, "schedule": CRON, "timezone": "UTC", "query": QUERY}
        if k > 1:
            alert["database"] = f"tp_db_{i % k}"
        alerts.append(alert)
    spec = {
        "databases": dbs,
        "channels": {"outbox": {"type": "log", "path": str(outbox)}},
        "defaults": {"database": "tp_db_0", "timezone": "UTC", "notify": ["outbox"],
                     "owner": "outbox"},
        "alerts": alerts,
    }
    (specs_dir / "throughput.yaml").write_text(yaml.safe_dump(spec, sort_keys=False, width=200),
                                               encoding="utf-8")
    return names


# -- PostgreSQL ----------------------------------------------------------------------------------
def pg_exec(sql: str) -> list[tuple]:
    import psycopg2

    conn = psycopg2.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres")
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall() if cur.description else []
    finally:
        conn.close()


# -- /proc ---------------------------------------------------------------------------------------
def machine_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs since boot."""
    with open("/proc/stat", encoding="ascii") as fh:
        fields = [int(x) for x in fh.readline().split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    busy = user + nice + system + irq + softirq + steal
    return busy, busy + idle + iowait


def _procs() -> list[tuple[int, int, int, str, int]]:
    """(pid, ppid, pgid, comm, utime+stime+cutime+cstime) of every readable process."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as fh:
                raw = fh.read()
        except OSError:
            continue
        comm = raw[raw.index("(") + 1:raw.rindex(")")]
        rest = raw[raw.rindex(")") + 2:].split()
        # rest[0] is field 3 (state): ppid=4, pgrp=5, utime=14, stime=15, cutime=16, cstime=17
        cpu = int(rest[11]) + int(rest[12]) + int(rest[13]) + int(rest[14])
        out.append((int(entry), int(rest[1]), int(rest[2]), comm, cpu))
    return out


def group_cpu_seconds(pgids: set[int]) -> tuple[float, int]:
    """CPU seconds (incl. reaped children) of every process in ``pgids``, and how many."""
    rows = [r for r in _procs() if r[2] in pgids]
    return sum(r[4] for r in rows) / CLK_TCK, len(rows)


def postgres_cpu_seconds() -> float | None:
    """The PostgreSQL server's CPU: postmaster(s) (reaped backends in cutime) + live children."""
    rows = _procs()
    comm = {r[0]: r[3] for r in rows}
    masters = {r[0] for r in rows if r[3] == "postgres" and comm.get(r[1]) != "postgres"}
    if not masters:
        return None
    return sum(r[4] for r in rows if r[0] in masters or r[1] in masters) / CLK_TCK


class CpuSnap:
    def __init__(self, pgids: set[int]):
        self.at = time.time()
        self.busy, self.total = machine_jiffies()
        self.stack, self.stack_procs = group_cpu_seconds(pgids) if pgids else (0.0, 0)
        self.postgres = postgres_cpu_seconds()


def cpu_delta(a: CpuSnap, b: CpuSnap, per: int) -> dict:
    wall = b.at - a.at
    busy = (b.busy - a.busy) / CLK_TCK
    total = (b.total - a.total) / CLK_TCK
    out = {
        "wall_s": round(wall, 1),
        "machine_busy_cpu_s": round(busy, 1),
        "machine_busy_cpu_s_per_tick": round(busy / per, 1),
        "machine_busy_cores": round(busy / wall, 2) if wall else None,
        "machine_util_pct": round(100 * busy / total, 1) if total else None,
        "stack_cpu_s": round(b.stack - a.stack, 1),
        "stack_cpu_s_per_tick": round((b.stack - a.stack) / per, 1),
        "stack_procs_end": b.stack_procs,
    }
    if a.postgres is not None and b.postgres is not None:
        out["postgres_cpu_s"] = round(b.postgres - a.postgres, 1)
        out["postgres_cpu_s_per_tick"] = round((b.postgres - a.postgres) / per, 1)
    return out


# -- the stack -----------------------------------------------------------------------------------
def stack_env(specs: Path, stack_dir: Path, db: str, ports: tuple[int, int, int],
              outbox: Path, celery: dict | None = None) -> dict:
    """The stack's environment; ``celery`` ({workers, concurrency, redis_port}) for the Celery
    deployment."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("DAGSTER_POSTGRES_URL", "SENTINEL_STATE_URL", "DAGSTER_HOME",
                        "SENTINEL_WEBSERVER_URL")
           and not k.startswith(("SENTINEL_CELERY_", "SENTINEL_RUN_LAUNCHER"))}
    if celery:
        env.update({
            "SENTINEL_RUN_LAUNCHER": "celery",
            "SENTINEL_CELERY_WORKERS": str(celery["workers"]),
            "SENTINEL_CELERY_CONCURRENCY": str(celery["concurrency"]),
            "SENTINEL_CELERY_BROKER_URL": f"redis://127.0.0.1:{celery['redis_port']}/0",
        })
    env.update({
        "SENTINEL_SPECS_DIR": str(specs),
        "SENTINEL_STACK_DIR": str(stack_dir),
        "SENTINEL_STACK_DB": db,
        "SENTINEL_STACK_PG_HOST": PG_HOST,
        "SENTINEL_STACK_PG_PORT": str(PG_PORT),
        "SENTINEL_STACK_PG_USER": PG_USER,
        "SENTINEL_OUTBOX": str(outbox),
        "SENTINEL_WEBSERVER_PORT": str(ports[0]),
        "SENTINEL_CODE_SERVER_PORT": str(ports[1]),
        "SENTINEL_METRICS_PORT": str(ports[2]),
    })
    return env


def stack(cmd: str, env: dict, timeout: float = 400) -> int:
    proc = subprocess.run(["bash", str(STACK_SH), cmd], env=env, cwd=REPO_ROOT, timeout=timeout)
    return proc.returncode


def stack_pgids(stack_dir: Path) -> set[int]:
    out = set()
    for pid_file in (stack_dir / "pids").glob("*.pid"):
        try:
            out.add(int(pid_file.read_text().strip()))
        except (OSError, ValueError):
            pass
    return out


def graphql(port: int, query: str, variables: dict | None = None) -> dict:
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", data=body,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        answer = json.loads(resp.read())
    if answer.get("errors"):
        raise RuntimeError(f"GraphQL errors: {answer['errors']}")
    return answer["data"]


SCHEDULES_Q = """
query {
  repositoriesOrError {
    __typename
    ... on RepositoryConnection {
      nodes { name location { name }
              schedules { name cronSchedule executionTimezone scheduleState { status } } }
    }
    ... on PythonError { message }
  }
}"""
START_Q = """
mutation($sel: ScheduleSelector!) {
  startSchedule(scheduleSelector: $sel) {
    __typename
    ... on ScheduleStateResult { scheduleState { status } }
    ... on PythonError { message }
  }
}"""


def ensure_schedules_running(port: int) -> dict:
    """The ``* * * * *`` schedules by status; starts those not RUNNING."""
    deadline = time.time() + 120
    while True:
        data = graphql(port, SCHEDULES_Q)["repositoriesOrError"]
        if data["__typename"] == "RepositoryConnection" and data["nodes"]:
            break
        if time.time() > deadline:
            raise RuntimeError(f"the webserver lists no repository: {data}")
        time.sleep(2)
    found = []
    for repo in data["nodes"]:
        for s in repo["schedules"]:
            if s["cronSchedule"] == CRON:
                found.append((repo["location"]["name"], repo["name"], s))
    by_status = Counter(s["scheduleState"]["status"] for _, _, s in found)
    started = []
    for location, repo, s in found:
        if s["scheduleState"]["status"] != "RUNNING":
            sel = {"repositoryLocationName": location, "repositoryName": repo,
                   "scheduleName": s["name"]}
            res = graphql(port, START_Q, {"sel": sel})["startSchedule"]
            if res["__typename"] != "ScheduleStateResult":
                raise RuntimeError(f"could not start schedule {s['name']}: {res}")
            started.append(s["name"])
    return {"schedules": len(found), "status_by_default": dict(by_status),
            "started_by_bench": started, "names": [s["name"] for _, _, s in found],
            "timezones": sorted({s["executionTimezone"] or "UTC" for _, _, s in found})}


# -- measuring -----------------------------------------------------------------------------------
def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    idx = max(0, min(len(values) - 1, math.ceil(q / 100 * len(values)) - 1))
    return values[idx]


def _meta_text(value) -> str | None:
    if value is None:
        return None
    for attr in ("text", "value"):
        if hasattr(value, attr):
            return str(getattr(value, attr))
    return str(value)


def read_instance(dagster_home: Path, postgres_url: str, alert_names: list[str],
                  schedule_names: set[str], ticks: list[float], since: float) -> dict:
    """Per tick: runs, record kind, recorded evaluations, lags (from the stack's instance)."""
    import dagster as dg
    from dagster import DagsterEventType, DagsterInstance, RunsFilter
    from dagster._core.scheduler.instigation import InstigatorType

    wanted = set(alert_names)
    tick_set = {round(t) for t in ticks}
    os.environ["DAGSTER_POSTGRES_URL"] = postgres_url  # what dagster.yaml reads
    instance = DagsterInstance.from_config(str(dagster_home))
    try:
        records = instance.get_run_records(
            filters=RunsFilter(created_after=datetime.fromtimestamp(since - 5, timezone.utc)))
        per_tick = {t: {"runs": Counter(), "kinds": Counter(), "recorded": 0, "alerts": set(),
                        "lags": [], "start_lags": [], "statuses": Counter(), "backlog": 0,
                        "jobs": Counter()}
                    for t in tick_set}
        other_scheduled = Counter()
        all_runs = Counter()
        for rec in records:
            run = rec.dagster_run
            all_runs[f"{run.job_name}:{run.status.value}"] += 1
            sched = next((run.tags[k] for k in SCHEDULED_TAGS if k in run.tags), None)
            if not sched:
                continue
            tick = round(datetime.fromisoformat(sched).timestamp())
            if tick not in per_tick:
                if run.tags.get("dagster/schedule_name") in schedule_names:
                    other_scheduled[tick] += 1
                continue
            if run.tags.get("dagster/schedule_name") not in schedule_names:
                continue  # e.g. the healthcheck on */5, whose tick may fall on a counted one
            member_tags = {k[len(MEMBER_TAG_PREFIX):]: v for k, v in run.tags.items()
                           if k.startswith(MEMBER_TAG_PREFIX)}
            # ASSET_CHECK_EVALUATION events of the run, paged
            checks = []
            cursor = None
            while True:
                conn = instance.get_records_for_run(
                    run.run_id, cursor=cursor, of_type=DagsterEventType.ASSET_CHECK_EVALUATION,
                    limit=1000)
                checks.extend(conn.records)
                cursor = conn.cursor
                if not conn.has_more:
                    break
            t = per_tick[tick]
            t["runs"][run.status.value] += 1
            t["statuses"][run.status.value] += 1
            t["jobs"][run.job_name] += 1
            if rec.start_time:
                t["start_lags"].append(rec.start_time - tick)
            if run.status.value in ("QUEUED", "NOT_STARTED", "STARTING", "STARTED"):
                t["backlog"] += 1
            if checks:
                for ev in checks:
                    entry = ev.event_log_entry
                    data = entry.dagster_event.event_specific_data
                    meta = getattr(data, "metadata", {}) or {}
                    key = getattr(data, "asset_check_key", None)
                    name = getattr(key, "name", None) or str(key)
                    status = _meta_text(meta.get("status"))
                    t["kinds"]["asset_check"] += 1
                    t["recorded"] += 1
                    t["alerts"].add(name)
                    t["lags"].append(entry.timestamp - tick)
                    t.setdefault("eval_status", Counter())[status or "?"] += 1
            elif member_tags and rec.end_time:
                for alert, status in member_tags.items():
                    if alert in wanted:
                        t["kinds"]["batch_tag"] += 1
                        t["recorded"] += 1
                        t["alerts"].add(alert)
                        t["lags"].append(rec.end_time - tick)
                        t.setdefault("eval_status", Counter())[status] += 1
            elif run.tags.get(ALERT_TAG) in wanted and STATUS_TAG in run.tags and rec.end_time:
                t["kinds"]["alert_run"] += 1
                t["recorded"] += 1
                t["alerts"].add(run.tags[ALERT_TAG])
                t["lags"].append(rec.end_time - tick)
                t.setdefault("eval_status", Counter())[run.tags[STATUS_TAG]] += 1

        # stored schedule states and the daemon's ticks, for the ``* * * * *`` schedules
        tick_info = {t: {"ticks": Counter(), "eval_delays": [], "runs_requested": 0}
                     for t in tick_set}
        cron_states = []
        try:
            for s in instance.all_instigator_state(instigator_type=InstigatorType.SCHEDULE):
                if getattr(s.instigator_data, "cron_schedule", None) in (CRON, [CRON]):
                    cron_states.append(s)
            for s in cron_states:
                for tk in instance.get_ticks(s.instigator_origin_id, s.selector_id,
                                             after=float(min(tick_set) - 1)):
                    ts = round(tk.timestamp)
                    if ts in tick_info:
                        tick_info[ts]["ticks"][tk.status.value] += 1
                        tick_info[ts]["runs_requested"] += len(tk.run_ids)
                        if tk.end_timestamp:
                            tick_info[ts]["eval_delays"].append(tk.end_timestamp - tk.timestamp)
        except Exception as exc:  # noqa: BLE001 - the evaluations are the point; ticks are extra
            log(f"could not read schedule states/ticks: {type(exc).__name__}: {exc}")
        return {
            "per_tick": per_tick,
            "tick_info": tick_info,
            "stored_schedule_states": dict(Counter(s.status.value for s in cron_states)),
            "runs_on_other_ticks": dict(other_scheduled),
            "all_runs_since_up": dict(all_runs),
            "dagster_version": dg.__version__,
        }
    finally:
        instance.dispose()


def summarize_tick(tick: float, n: int, m: dict, info: dict, warmup: bool) -> dict:
    lags = m["lags"]
    return {
        "tick": datetime.fromtimestamp(tick, timezone.utc).strftime("%H:%M:%S"),
        "tick_ts": tick,
        "warmup": warmup,
        "due": n,
        "recorded": m["recorded"],
        "distinct_alerts": len(m["alerts"]),
        "missing": n - len(m["alerts"]),
        "record_kinds": dict(m["kinds"]),
        "eval_status": dict(m.get("eval_status", {})),
        "runs": sum(m["statuses"].values()),
        "run_status": dict(m["statuses"]),
        "jobs": len(m["jobs"]),
        "backlog_runs": m["backlog"],
        "lag_p50_s": _r(pct(lags, 50)),
        "lag_p95_s": _r(pct(lags, 95)),
        "lag_max_s": _r(max(lags) if lags else None),
        "start_lag_p50_s": _r(pct(m["start_lags"], 50)),
        "start_lag_max_s": _r(max(m["start_lags"]) if m["start_lags"] else None),
        "schedule_ticks": dict(info["ticks"]),
        "runs_requested": info["runs_requested"],
        "tick_eval_delay_max_s": _r(max(info["eval_delays"]) if info["eval_delays"] else None),
    }


def _r(x: float | None, nd: int = 1) -> float | None:
    return None if x is None else round(x, nd)


def _f(x) -> str:
    return "—" if x is None else (f"{x:.1f}" if isinstance(x, float) else str(x))


def table(rows: list[dict]) -> str:
    head = ("| tick (UTC) | counted | due | recorded | missing | kind | runs | backlog | "
            "lag p50 s | lag p95 s | lag max s | run start p50 s | daemon tick max s |")
    lines = [head, "|---|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        kind = ",".join(f"{k}={v}" for k, v in r["record_kinds"].items()) or "—"
        lines.append(
            f"| {r['tick']} | {'warm-up' if r['warmup'] else 'yes'} | {r['due']} | "
            f"{r['recorded']} | {r['missing']} | {kind} | {r['runs']} | {r['backlog_runs']} | "
            f"{_f(r['lag_p50_s'])} | {_f(r['lag_p95_s'])} | {_f(r['lag_max_s'])} | "
            f"{_f(r['start_lag_p50_s'])} | {_f(r['tick_eval_delay_max_s'])} |")
    return "\n".join(lines)


# -- main ----------------------------------------------------------------------------------------
def sleep_until(ts: float, what: str) -> None:
    left = ts - time.time()
    if left > 0:
        log(f"waiting {left:.0f}s for {what} "
            f"({datetime.fromtimestamp(ts, timezone.utc).strftime('%H:%M:%S')} UTC)")
    while (left := ts - time.time()) > 0:
        time.sleep(min(left, 5))


def _sigterm(signum, frame):
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=100, help="alerts on '* * * * *' (default 100)")
    parser.add_argument("--databases", type=int, default=1,
                        help="SQLite databases to spread them over (default 1)")
    parser.add_argument("--ticks", type=int, default=3, help="counted ticks (default 3)")
    parser.add_argument("--drain", type=float, default=90.0,
                        help="seconds after the last counted tick before reading (default 90, "
                        "at least 60)")
    parser.add_argument("--ports", default="3300,4300,9564",
                        help="webserver,code-server,metrics ports (default 3300,4300,9564)")
    parser.add_argument("--baseline", type=float, default=15.0,
                        help="seconds of machine CPU baseline before the stack starts (0: none)")
    parser.add_argument("--keep", action="store_true",
                        help="leave the stack running and keep the database and temp dir")
    parser.add_argument("--launcher", choices=("default", "celery"), default="default",
                        help="default: a process per run; celery: warm Celery workers")
    parser.add_argument("--workers", type=int, default=2,
                        help="Celery worker processes (--launcher celery; default 2)")
    parser.add_argument("--concurrency", type=int, default=1,
                        help="runs at a time per Celery worker (default 1)")
    parser.add_argument("--redis-port", type=int, default=0,
                        help="loopback port of the bench's own Redis (default: a free one)")
    parser.add_argument("--label", default="", help="free text stored in the JSON line")
    parser.add_argument("--results", default=str(RESULTS), help="JSON lines file to append to")
    args = parser.parse_args(argv)
    if args.n < 1 or args.databases < 1 or args.ticks < 1:
        parser.error("-n, --databases and --ticks must be at least 1")
    if args.workers < 1 or args.concurrency < 1:
        parser.error("--workers and --concurrency must be at least 1")
    celery = None
    if args.launcher == "celery":
        redis_port = args.redis_port or _free_port()
        if _port_open(redis_port):
            parser.error(f"port {redis_port} is in use: the bench starts a Redis of its own")
        celery = {"workers": args.workers, "concurrency": args.concurrency,
                  "redis_port": redis_port}
    ports = tuple(int(p) for p in args.ports.split(","))
    if len(ports) != 3:
        parser.error("--ports takes three ports: webserver,code-server,metrics")
    drain = max(60.0, args.drain)
    signal.signal(signal.SIGTERM, _sigterm)

    db = f"sentinel_bench_{os.getpid()}"
    pg_url = f"postgresql+psycopg2://{PG_USER}@{PG_HOST}:{PG_PORT}/{db}"  # as stack.sh derives it
    tmp = Path(tempfile.mkdtemp(prefix="sentinel_tp_"))
    specs, stack_dir, outbox = tmp / "specs", tmp / "stack", tmp / "outbox.jsonl"
    specs.mkdir()
    env = stack_env(specs, stack_dir, db, ports, outbox, celery)
    created_db = False
    stack_started = False
    exit_code = 1
    try:
        names = write_specs(specs, args.n, args.databases, outbox)
        log(f"{args.n} alerts on '{CRON}' over {args.databases} SQLite database(s) in {specs}")
        val = subprocess.run([str(REPO_ROOT / ".venv" / "bin" / "sentinel"), "validate",
                              str(specs)], cwd=REPO_ROOT, env=env, capture_output=True,
                             text=True)
        if val.returncode != 0:
            raise RuntimeError(f"generated specs do not validate:\n{val.stdout}{val.stderr}")
        busy = [p for p in ports if _port_open(p)]
        if busy:
            raise RuntimeError(f"port(s) {busy} already in use; pick others with --ports")
        if pg_exec(f"SELECT 1 FROM pg_database WHERE datname = '{db}'"):
            raise RuntimeError(f"database {db} exists already; not touching it")
        pg_exec(f'CREATE DATABASE "{db}"')
        created_db = True
        log(f"created database {db}")

        baseline = None
        if args.baseline > 0:
            b0 = CpuSnap(set())
            time.sleep(args.baseline)
            b1 = CpuSnap(set())
            baseline = {"seconds": args.baseline,
                        "machine_busy_cores": round((b1.busy - b0.busy) / CLK_TCK
                                                    / (b1.at - b0.at), 2),
                        "loadavg_1m": os.getloadavg()[0]}
            log(f"machine baseline: {baseline['machine_busy_cores']} busy cores")

        t_up0 = time.time()
        stack_started = True
        log(f"scripts/stack.sh up (ports {args.ports}, stack dir {stack_dir})")
        if stack("up", env) != 0:
            raise RuntimeError(f"scripts/stack.sh up failed; logs in {stack_dir / 'logs'}")
        up_at = time.time()
        log(f"stack up in {up_at - t_up0:.0f}s")
        sched = ensure_schedules_running(ports[0])
        log(f"schedules on '{CRON}': {sched['schedules']}, by default "
            f"{sched['status_by_default']}, started by the bench: {len(sched['started_by_bench'])}")
        if sched["schedules"] == 0:
            raise RuntimeError(f"no schedule on '{CRON}' in the code location")
        pgids = stack_pgids(stack_dir)

        t0 = math.floor(time.time() / 60) * 60 + 60  # warm-up tick
        counted = [t0 + 60 * j for j in range(1, args.ticks + 1)]
        window_end = counted[-1] + 60
        drain_end = max(window_end, counted[-1] + drain)
        log(f"warm-up tick {_hms(t0)}, counted ticks {', '.join(_hms(t) for t in counted)}, "
            f"reading at {_hms(drain_end)} UTC")
        sleep_until(counted[0], "the first counted tick")
        c_start = CpuSnap(pgids)
        sleep_until(window_end, "the end of the measured window")
        c_window = CpuSnap(pgids)
        sleep_until(drain_end, "the end of the drain")
        c_drain = CpuSnap(pgids)
        load_after = os.getloadavg()

        log("reading the instance")
        # the instance file may read the broker's variables too (deploy/dagster.celery.yaml)
        if celery:
            url = env["SENTINEL_CELERY_BROKER_URL"]
            os.environ.update(SENTINEL_CELERY_BROKER_URL=url, SENTINEL_CELERY_BACKEND_URL=url)
        data = read_instance(stack_dir / "dagster_home", pg_url, names, set(sched["names"]),
                             [t0, *counted], up_at)
        rows = [summarize_tick(t, args.n, data["per_tick"][round(t)], data["tick_info"][round(t)],
                               warmup=(t == t0))
                for t in [t0, *counted]]
        counted_rows = [r for r in rows if not r["warmup"]]
        all_lags = [x for t in counted for x in data["per_tick"][round(t)]["lags"]]
        kinds = Counter()
        for r in counted_rows:
            kinds.update(r["record_kinds"])
        totals = {
            "due": args.n * args.ticks,
            "recorded": sum(r["recorded"] for r in counted_rows),
            "missing": sum(r["missing"] for r in counted_rows),
            "record_kinds": dict(kinds),
            "record_kind": ("+".join(sorted(kinds)) if kinds else "none"),
            "lag_p50_s": _r(pct(all_lags, 50)),
            "lag_p95_s": _r(pct(all_lags, 95)),
            "lag_max_s": _r(max(all_lags) if all_lags else None),
            "backlog_runs": sum(r["backlog_runs"] for r in counted_rows),
        }
        cpu_window = cpu_delta(c_start, c_window, args.ticks)
        cpu_drain = cpu_delta(c_start, c_drain, args.ticks)
        result = {
            "bench": "throughput",
            "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "label": args.label,
            "git": _git_rev(),
            "n": args.n, "databases": args.databases, "ticks": args.ticks, "drain_s": drain,
            "launcher": args.launcher,
            "workers": args.workers if celery else None,
            "concurrency": args.concurrency if celery else None,
            "cpus": os.cpu_count(), "dagster": data["dagster_version"],
            "stack_up_s": round(up_at - t_up0, 1),
            "schedules": sched,
            "stored_schedule_states": data["stored_schedule_states"],
            "baseline": baseline,
            "loadavg_end": [round(x, 2) for x in load_after],
            "totals": totals,
            "cpu_window": cpu_window,
            "cpu_incl_drain": cpu_drain,
            "per_tick": rows,
            "runs_on_other_ticks": {_hms(k): v for k, v in data["runs_on_other_ticks"].items()},
            "all_runs_since_up": data["all_runs_since_up"],
        }
        if totals["recorded"] < totals["due"]:
            keep = RESULTS.parent / f"throughput_logs_{os.getpid()}"
            shutil.copytree(stack_dir / "logs", keep, dirs_exist_ok=True)
            result["stack_logs_kept"] = str(keep)
            log(f"not every due evaluation was recorded: stack logs copied to {keep}")
        print(report(result))
        out = Path(args.results)
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(result, default=str) + "\n")
        log(f"appended to {out}")
        exit_code = 0
    finally:
        if args.keep:
            if stack_started:
                log("--keep: the stack still runs. Stop it with:\n  " + " ".join(
                    f"{k}={env[k]}" for k in ("SENTINEL_STACK_DIR", "SENTINEL_STACK_DB",
                                              "SENTINEL_WEBSERVER_PORT",
                                              "SENTINEL_CODE_SERVER_PORT",
                                              "SENTINEL_METRICS_PORT"))
                    + f" scripts/stack.sh down\n  and drop database {db}; temp dir {tmp}")
        else:
            if stack_started:
                log("scripts/stack.sh down")
                try:
                    stack("down", env, timeout=120)
                except Exception as exc:  # noqa: BLE001 - still drop the database
                    log(f"stack down failed: {exc}")
                _kill_leftovers(stack_dir)
            if created_db:
                try:
                    pg_exec(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
                    log(f"dropped database {db}")
                except Exception as exc:  # noqa: BLE001
                    log(f"could not drop database {db}: {exc}")
            shutil.rmtree(tmp, ignore_errors=True)
    return exit_code


def _kill_leftovers(stack_dir: Path) -> None:
    """After ``down``: any process still carrying this bench's SENTINEL_STACK_DIR in its
    environment (only the stack's services and their children do) is killed, by pid, and
    reported. None is expected."""
    marker = f"SENTINEL_STACK_DIR={stack_dir}"
    left = [r for r in _procs() if r[0] != os.getpid() and marker in _environ(r[0]).split("\0")]
    for pid, *_ in left:
        try:
            os.kill(pid, signal.SIGKILL)
            log(f"killed leftover process {pid}: {_cmdline(pid)[:120]}")
        except OSError:
            pass


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _environ(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/environ", "rb") as fh:
            return fh.read().decode(errors="replace")
    except OSError:
        return ""


def _port_open(port: int) -> bool:
    import socket

    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _hms(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%H:%M:%S")


def _git_rev() -> str | None:
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT,
                             capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "sentinel_assets"],
                               cwd=REPO_ROOT, capture_output=True, text=True).stdout.strip()
        return rev + ("+dirty" if dirty else "")
    except OSError:
        return None


def report(res: dict) -> str:
    t, w, d = res["totals"], res["cpu_window"], res["cpu_incl_drain"]
    base = res["baseline"]
    lines = [
        f"## Throughput: {res['n']} alerts on '* * * * *', {res['databases']} SQLite database(s), "
        f"{res['ticks']} counted tick(s), drain {res['drain_s']:.0f}s, launcher "
        f"{res.get('launcher', 'default')}"
        + (f" ({res['workers']} worker(s) x {res['concurrency']})" if res.get("workers") else ""),
        "",
        f"{res['cpus']} CPUs, dagster {res['dagster']}, code {res['git']}; stack up in "
        f"{res['stack_up_s']}s; schedules on the cron: {res['schedules']['schedules']} "
        f"(default status {res['schedules']['status_by_default']}, started by the bench "
        f"{len(res['schedules']['started_by_bench'])}; stored states afterwards "
        f"{res['stored_schedule_states']}). Machine baseline before the stack: "
        f"{base['machine_busy_cores'] if base else '—'} busy cores; load average at the end "
        f"{res['loadavg_end']}.",
        "",
        table(res["per_tick"]),
        "",
        f"Counted ticks: due {t['due']}, recorded {t['recorded']} (kind: {t['record_kind']}), "
        f"missing {t['missing']}, lag p50 {_f(t['lag_p50_s'])} s, p95 {_f(t['lag_p95_s'])} s, "
        f"max {_f(t['lag_max_s'])} s; runs still queued/running at the end: {t['backlog_runs']}.",
        f"All runs since the stack came up (job:status): {res['all_runs_since_up']}.",
        "",
        "| CPU | window | wall s | machine busy CPU s | per tick | machine busy cores | "
        "stack CPU s | per tick | PostgreSQL CPU s | per tick |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, c in (("measured ticks", w), ("incl. drain", d)):
        lines.append(
            f"| {name} | {'[T1, Tk+60)' if c is w else '[T1, drain end]'} | {c['wall_s']} | "
            f"{c['machine_busy_cpu_s']} | {c['machine_busy_cpu_s_per_tick']} | "
            f"{c['machine_busy_cores']} | {c['stack_cpu_s']} | {c['stack_cpu_s_per_tick']} | "
            f"{_f(c.get('postgres_cpu_s'))} | {_f(c.get('postgres_cpu_s_per_tick'))} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
