"""What one evaluation of one alert costs, from a bare query up to a Dagster run.

Against a generated SQLite alert (see ``gen_specs.py``), repeated and timed one by one:

- ``direct SQLAlchemy query``: the alert's SQL on a reused engine (connect, execute, fetch);
- ``SqlDatabase.query``: the same through the database resource (read-only guard, timeout);
- ``evaluate_alert`` with a SQLite state store and a log channel: query + judge + lifecycle +
  state commit, in a steady state (no notice) and flapping (one notice written every time);
  with ``--pg``, the same steady evaluation on a PostgreSQL state store;
- ``execute_in_process`` of the alert's job: one Dagster run per evaluation, on a SQLite
  DagsterInstance and, when the local PostgreSQL answers, on dagster-postgres storage in a fresh
  database (TCP 127.0.0.1, trust auth, psycopg2);
- a grouped run of ``sentinel_evaluate`` holding every generated alert (``--alerts``), as a
  scheduled tick starts it, and its cost divided by the alerts it evaluated;
- ``dagster job execute`` as a subprocess (``--cli-runs``, default 3), the cost per alert of a run
  launched as its own process.

The first call of each case is a warm-up (engine creation, table creation, imports) and is shown
apart; the others give the median, the 95th percentile and the median CPU time of this process
(for a Dagster run on PostgreSQL the server's own CPU is not included).

    .venv/bin/python bench/bench_evaluate.py
    .venv/bin/python bench/bench_evaluate.py --repeat 200 --runs 20 --output /tmp/evaluate.md
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

PG_ADMIN_URL = os.environ.get(
    "SENTINEL_BENCH_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
)
# the console logger only prints; every event still goes to the instance's event log
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
FLAPPING_SQL = (
    "SELECT CASE WHEN :flip = 1 THEN 'ALERT' ELSE 'OK' END AS status, :flip AS actual_value"
)


@dataclass
class Case:
    """The timings of one benchmark case."""

    name: str
    first_ms: float
    wall_ms: list[float]
    cpu_ms: list[float]
    note: str = ""

    def row(self) -> str:
        wall = sorted(self.wall_ms)
        p95 = (statistics.quantiles(wall, n=20, method="inclusive")[18] if len(wall) > 1
               else wall[0])
        cpu = statistics.median(self.cpu_ms)
        per_cpu_s = 1000 / cpu if cpu > 0 else float("inf")
        per_cpu_text = f"{per_cpu_s:.1f}" if per_cpu_s < 10 else f"{per_cpu_s:,.0f}"
        return (f"| {self.name} | {len(wall)} | {self.first_ms:.2f} | {statistics.median(wall):.2f} "
                f"| {p95:.2f} | {cpu:.2f} | {per_cpu_text} | {self.note} |")


def timed(name: str, fn: Callable[[int], object], repeat: int, note: str = "") -> Case:
    """Call ``fn(i)`` once as a warm-up, then ``repeat`` times, timing each call."""
    t0 = time.perf_counter()
    fn(0)
    first = (time.perf_counter() - t0) * 1000
    wall, cpu = [], []
    for i in range(1, repeat + 1):
        w, c = time.perf_counter(), time.process_time()
        fn(i)
        cpu.append((time.process_time() - c) * 1000)
        wall.append((time.perf_counter() - w) * 1000)
    print(f"{name}: median {statistics.median(wall):.2f} ms", file=sys.stderr)
    return Case(name, first, wall, cpu, note)


def table(cases: list[Case]) -> str:
    lines = [
        "| case | n | first (warm-up) ms | median ms | p95 ms | CPU median ms | "
        "per CPU-second | note |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    return "\n".join(lines + [c.row() for c in cases])


# -- PostgreSQL --------------------------------------------------------------------------------
def pg_available() -> bool:
    import sqlalchemy as sa

    try:
        engine = sa.create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
        engine.dispose()
        return True
    except Exception:  # noqa: BLE001 - unreachable server: the PostgreSQL cases are left out
        return False


class FreshPgDatabase:
    """A PostgreSQL database created for this benchmark and dropped afterwards."""

    def __init__(self, prefix: str):
        import sqlalchemy as sa

        self.name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        self.admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {self.name}")
        self.url = sa.make_url(PG_ADMIN_URL).set(database=self.name).render_as_string(
            hide_password=False)

    def drop(self) -> None:
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {self.name} WITH (FORCE)")
        self.admin.dispose()


# -- the cases ---------------------------------------------------------------------------------
def run(args) -> str:
    import sqlalchemy as sa

    from bench.gen_specs import generate
    from sentinel_assets.channels.log import LogChannel
    from sentinel_assets.databases.sql import SqlDatabase
    from sentinel_assets.engine.evaluation import evaluate_alert
    from sentinel_assets.names import GROUP_JOB
    from sentinel_assets.orchestration.factory import build_sentinel_defs
    from sentinel_assets.orchestration.grouped import run_config_for
    from sentinel_assets.spec.loader import load_specs
    from sentinel_assets.state.store import StateStore

    log = logging.getLogger("sentinel_bench")
    cases: list[Case] = []
    pg_up = not args.no_pg and pg_available()
    cleanups: list[Callable[[], None]] = []
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="sentinel_bench_eval_") as tmp_name:
        tmp = Path(tmp_name)
        specs = generate(tmp / "specs", args.alerts, seed=args.seed)
        config = load_specs(specs.specs_dir)
        alert = config.alert(args.alert or specs.alert_names[0])
        db_url = config.databases[alert.database].url
        outbox = LogChannel(path=str(tmp / "outbox.jsonl"))
        channels = {name: outbox for name in config.channels}
        database = SqlDatabase(url=db_url)
        try:
            # 1. the bare query
            engine = sa.create_engine(db_url)
            query = sa.text(alert.query)

            def direct(_i):
                with engine.connect() as conn:
                    return conn.execute(query).fetchall()

            cases.append(timed("direct SQLAlchemy query", direct, args.repeat,
                               "reused engine, SQLite"))
            cases.append(timed("SqlDatabase.query (resource)", lambda _i: database.query(
                alert.query, timeout=alert.timeout.total_seconds()), args.repeat,
                "read-only guard + timeout handler"))

            # 2. evaluate_alert in-process
            sqlite_store = StateStore(f"sqlite:///{tmp / 'state.db'}")
            status = evaluate_alert(alert, database=database, state_store=sqlite_store,
                                    channels=channels, log=log).status
            cases.append(timed(
                "evaluate_alert, SQLite state, steady", lambda _i: evaluate_alert(
                    alert, database=database, state_store=sqlite_store, channels=channels,
                    log=log), args.repeat, f"status {status}, no notice"))
            flapping = alert.model_copy(update={
                "name": "bench_flapping", "query": FLAPPING_SQL, "condition": None, "for_": 1,
                "repeat_interval": None, "escalate": None, "send_resolved": True})
            cases.append(timed(
                "evaluate_alert, SQLite state, flapping", lambda i: evaluate_alert(
                    flapping, database=database, state_store=sqlite_store, channels=channels,
                    params={"flip": i % 2}, log=log), args.repeat,
                "firing/resolved each time, 1 log delivery"))
            if pg_up:
                state_db = FreshPgDatabase("sentinel_bench_state")
                cleanups.append(state_db.drop)
                pg_store = StateStore(state_db.url)
                cleanups.append(pg_store.engine.dispose)
                cases.append(timed(
                    "evaluate_alert, PostgreSQL state, steady", lambda _i: evaluate_alert(
                        alert, database=database, state_store=pg_store, channels=channels,
                        log=log), args.repeat, "state over TCP 127.0.0.1, pooled"))

            # 3. one Dagster run per evaluation
            os.environ["SENTINEL_OUTBOX"] = str(tmp / "outbox.jsonl")
            state_url = f"sqlite:///{tmp / 'run_state.db'}"
            defs = build_sentinel_defs(config.model_copy(update={"alerts": [alert]}), state_url=state_url)
            job = defs.resolve_job_def(alert.name)
            instances = [("SQLite", _sqlite_instance(tmp / "home_sqlite"))]
            if pg_up:
                storage_db = FreshPgDatabase("sentinel_bench_dagster")
                cleanups.append(storage_db.drop)
                instances.append(("dagster-postgres", _pg_instance(tmp / "home_pg",
                                                                   storage_db.url)))
            for label, instance in instances:
                cleanups.append(instance.dispose)

                def one_run(_i, instance=instance):
                    if not job.execute_in_process(instance=instance, run_config=QUIET).success:
                        raise RuntimeError(f"the run of {alert.name} failed")

                note = ("TCP 127.0.0.1, trust auth, NullPool" if label != "SQLite"
                        else "persistent instance in a temp dir")
                cases.append(timed(f"execute_in_process, {label} instance", one_run, args.runs,
                                   note))

            # 3b. grouped evaluation: every generated alert in one run of sentinel_evaluate, as
            # a scheduled tick starts it (one event per alert, concurrent queries)
            members = [a.model_copy(update={"enabled": True, "database": alert.database})
                       for a in config.alerts]
            group_defs = build_sentinel_defs(config.model_copy(update={"alerts": members}),
                                             state_url=state_url)
            group_job = group_defs.resolve_job_def(GROUP_JOB)
            group_config = {**QUIET, **run_config_for(group_job, members)}
            k = len(members)
            for label, instance in instances:
                def one_group(_i, instance=instance):
                    if not group_job.execute_in_process(instance=instance,
                                                        run_config=group_config).success:
                        raise RuntimeError(f"the run of {GROUP_JOB} failed")

                case = timed(f"grouped run of {k} alerts, {label} instance", one_group,
                             args.runs, "one op, one asset check evaluation event per alert")
                cases.append(case)
                cases.append(Case(f"… the same, per alert ({k} per run)", case.first_ms / k,
                                  [w / k for w in case.wall_ms], [c / k for c in case.cpu_ms],
                                  "the grouped run's cost divided by its alerts"))

            # 4. a run as its own process, as `dagster job execute` does it
            if args.cli_runs:
                cases.append(_cli_runs(args.cli_runs, alert.name, specs.specs_dir, tmp))
        finally:
            for cleanup in reversed(cleanups):
                try:
                    cleanup()
                except Exception as exc:  # noqa: BLE001 - report, go on cleaning up
                    print(f"cleanup failed: {exc}", file=sys.stderr)
    header = (f"Alert `{alert.name}` ({'condition' if alert.condition else 'status column'}, "
              f"SQLite database), {args.repeat} evaluations per cheap case, {args.runs} runs per "
              f"Dagster case, {args.cli_runs} `dagster job execute` process(es). "
              f"PostgreSQL: {'used' if pg_up else 'left out (--no-pg, or not reachable)'}. "
              f"{os.cpu_count()} CPUs; 1-minute load average {load_before:.2f} before, "
              f"{os.getloadavg()[0]:.2f} after.")
    return f"### One evaluation\n\n{header}\n\n{table(cases)}\n"


def _sqlite_instance(home: Path):
    import dagster as dg

    home.mkdir(parents=True)
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
    return dg.DagsterInstance.from_config(str(home))


def _pg_instance(home: Path, url: str):
    import dagster as dg

    home.mkdir(parents=True)
    (home / "dagster.yaml").write_text(
        "telemetry:\n  enabled: false\n"
        f"storage:\n  postgres:\n    postgres_url: \"{url}\"\n", encoding="utf-8")
    return dg.DagsterInstance.from_config(str(home))


def _cli_runs(count: int, alert: str, specs_dir: Path, tmp: Path) -> Case:
    home = tmp / "home_cli"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
    env = {**os.environ, "DAGSTER_HOME": str(home), "SENTINEL_SPECS_DIR": str(specs_dir),
           "SENTINEL_STATE_URL": f"sqlite:///{tmp / 'cli_state.db'}",
           "SENTINEL_OUTBOX": str(tmp / "outbox.jsonl"),
           # every alert keeps a job of its own here, whatever the location's size
           "SENTINEL_ALERT_JOBS_LIMIT": "1000000"}
    command = [str(Path(sys.executable).parent / "dagster"), "job", "execute", "-m",
               "sentinel_assets.definitions", "-j", alert]
    wall, cpu = [], []
    for _ in range(count + 1):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        proc = subprocess.run(command, env=env, cwd=REPO_ROOT, capture_output=True, text=True)
        wall.append((time.perf_counter() - started) * 1000)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append((after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) * 1000)
        if proc.returncode != 0:
            raise RuntimeError(f"`{' '.join(command)}` failed:\n{proc.stderr[-3000:]}")
    print(f"dagster job execute: median {statistics.median(wall[1:]):.0f} ms", file=sys.stderr)
    return Case("`dagster job execute` (subprocess)", wall[0], wall[1:], cpu[1:],
                "SQLite instance; CPU of the child processes")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=200, help="evaluations per cheap case")
    parser.add_argument("--runs", type=int, default=20, help="Dagster runs per instance")
    parser.add_argument("--cli-runs", type=int, default=3,
                        help="`dagster job execute` processes (0: skip)")
    parser.add_argument("--alerts", type=int, default=50,
                        help="alerts in the generated specs, all of them in the grouped case")
    parser.add_argument("--alert", help="which generated alert to evaluate (default: the first)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-pg", action="store_true", help="leave out the PostgreSQL cases")
    parser.add_argument("--output", help="also write the Markdown table to this file")
    args = parser.parse_args(argv)
    text = run(args)
    print(text)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
