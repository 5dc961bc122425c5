"""Time-windowed alerts: partitions, bound window parameters, schedules, backfills."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import dagster as dg
import pytest

from sentinel_assets.databases.sql import SqlDatabase
from sentinel_assets.observe.history import alert_history
from sentinel_assets.orchestration.factory import build_sentinel_defs
from sentinel_assets.spec.loader import load_specs
from sentinel_assets.state.store import get_state_store
from sentinel_assets_tests.processes import background

DAGSTER = str(Path(sys.executable).parent / "dagster")
BAD_DAY = date(2026, 10, 6)


def _shop(tmp_path: Path) -> Path:
    """Orders for 2026-10-01..10, revenue 1,000 a day except BAD_DAY (100)."""
    db = tmp_path / "shop.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE orders (order_date TEXT, amount REAL)")
        for offset in range(10):
            day = date(2026, 10, 1) + timedelta(days=offset)
            conn.execute("INSERT INTO orders VALUES (?, ?)", (str(day), 100 if day == BAD_DAY else 1000))
    return db


def _specs(tmp_path: Path, db: Path, **extra: str) -> Path:
    specs = tmp_path / "specs"
    specs.mkdir(exist_ok=True)
    extra = dict(extra)
    start = extra.pop("start", '"2026-10-01"')
    more = "".join(f"\n    {k}: {v}" for k, v in extra.items())
    (specs / "windows.yaml").write_text(textwrap.dedent(f"""\
        databases: {{shop: {{url: "sqlite:///{db}"}}}}
        channels: {{outbox: {{type: log}}}}
        alerts:
          - name: daily_revenue
            schedule: "0 2 * * *"
            database: shop
            window: daily
            start: {start}
            notify: [outbox]
            query: |
              SELECT CASE WHEN COALESCE(SUM(amount), 0) < 500 THEN 'ALERT' ELSE 'OK' END AS status,
                     COALESCE(SUM(amount), 0) AS actual_value, 500 AS threshold
              FROM orders
              WHERE order_date >= :window_start AND order_date < :window_end""") + more + "\n")
    return specs


def test_window_parameters_are_bound_so_a_quote_cannot_change_the_query(tmp_path):
    db = _shop(tmp_path)
    database = SqlDatabase(url=f"sqlite:///{db}")
    sql = "SELECT COUNT(*) AS n FROM orders WHERE order_date >= :window_start"
    hostile = {"window_start": "2099-01-01' OR '1'='1"}
    assert database.query(sql, hostile).rows == ((0,),)
    assert database.query(sql, {"window_start": "2026-10-09"}).rows == ((2,),)


def test_windowed_alert_job_is_partitioned_daily_from_its_start(tmp_path):
    specs = _specs(tmp_path, _shop(tmp_path))
    job = build_sentinel_defs(specs).get_job_def("daily_revenue")
    keys = job.partitions_def.get_partition_keys(current_time=datetime(2026, 10, 4, 5, tzinfo=timezone.utc))
    assert keys == ["2026-10-01", "2026-10-02", "2026-10-03"]


@pytest.mark.parametrize(
    "lag, tick, expected",
    [
        (None, datetime(2026, 10, 5, 2, 0, tzinfo=timezone.utc), "2026-10-04"),
        ("'3h'", datetime(2026, 10, 5, 2, 0, tzinfo=timezone.utc), "2026-10-03"),
    ],
)
def test_schedule_evaluates_the_last_complete_window(tmp_path, lag, tick, expected):
    extra = {"lag": lag} if lag else {}
    specs = _specs(tmp_path, _shop(tmp_path), **extra)
    repo = build_sentinel_defs(specs).get_repository_def()
    schedule = repo.get_schedule_def("daily_revenue_schedule")
    with dg.instance_for_test() as instance:
        context = dg.build_schedule_context(
            instance=instance, scheduled_execution_time=tick, repository_def=repo
        )
        result = schedule.evaluate_tick(context)
    [request] = result.run_requests
    assert request.partition_key == expected
    assert request.run_key == expected


def test_live_run_of_the_last_window_moves_the_lifecycle_and_notifies(tmp_path, dagster_home, outbox, state_url):
    db = _shop(tmp_path)
    yesterday = date.today() - timedelta(days=1)
    with sqlite3.connect(db) as conn:
        conn.execute("INSERT INTO orders VALUES (?, 1)", (str(yesterday),))
    specs = _specs(tmp_path, db)
    job = build_sentinel_defs(specs).get_job_def("daily_revenue")
    instance = dg.DagsterInstance.get()
    result = job.execute_in_process(instance=instance, partition_key=str(yesterday))
    assert result.success
    assert get_state_store(state_url).load("daily_revenue").status == "FIRING"
    notice = json.loads(outbox.read_text().splitlines()[0])
    assert notice["kind"] == "firing" and notice["window"]["start"].startswith(str(yesterday))


def _wait_for_runs(instance: dg.DagsterInstance, count: int, log: Path, timeout: float = 240) -> list:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        records = instance.get_run_records(dg.RunsFilter(tags={"sentinel/alert": "daily_revenue"}))
        if len(records) == count and all(r.dagster_run.is_finished for r in records):
            return records
        time.sleep(1)
    tail = log.read_text()[-3000:] if log.exists() else ""
    raise AssertionError(f"{count} backfill runs did not finish in {timeout}s; daemon log:\n{tail}")


def test_backfill_of_ten_days_marks_only_the_bad_day_and_sends_nothing(
    tmp_path, pg_url_factory, outbox, state_url
):
    """`dagster job backfill` queues one run per day; dagster-daemon runs them (as from the UI)."""
    db = _shop(tmp_path)
    specs = _specs(tmp_path, db)
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text(textwrap.dedent(f"""\
        storage:
          postgres:
            postgres_url: {pg_url_factory()}
        run_coordinator:
          module: dagster.core.run_coordinator
          class: QueuedRunCoordinator
          config: {{max_concurrent_runs: 10, dequeue_interval_seconds: 1}}
        # runs execute inside the daemon process instead of one subprocess each: the queue,
        # the backfill tags and the storage are the real ones, the test stays fast on 2 cores
        run_launcher:
          module: dagster._core.launcher.sync_in_memory_run_launcher
          class: SyncInMemoryRunLauncher
        telemetry: {{enabled: false}}
    """))
    env = dict(os.environ, DAGSTER_HOME=str(home), SENTINEL_SPECS_DIR=str(specs))
    done = subprocess.run(
        [DAGSTER, "job", "backfill", "-m", "sentinel_assets.definitions", "-j", "daily_revenue",
         "--from", "2026-10-01", "--to", "2026-10-10", "--noprompt"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    daemon = [str(Path(sys.executable).parent / "dagster-daemon"), "run", "-m",
              "sentinel_assets.definitions"]
    os.environ["DAGSTER_HOME"] = str(home)
    try:
        with background(daemon, cwd=tmp_path, env=env, log=tmp_path / "daemon.log"):
            with dg.DagsterInstance.get() as instance:
                records = _wait_for_runs(instance, 10, log=tmp_path / "daemon.log")
                by_day = {r.dagster_run.tags["dagster/partition"]: r.dagster_run for r in records}
                history = alert_history(instance, "daily_revenue", limit=20)
    finally:
        del os.environ["DAGSTER_HOME"]
    assert sorted(by_day) == [str(date(2026, 10, 1) + timedelta(days=i)) for i in range(10)]
    assert all(run.status == dg.DagsterRunStatus.SUCCESS for run in by_day.values())
    alerting = sorted(k for k, run in by_day.items() if run.tags["sentinel/status"] == "ALERT")
    assert alerting == [str(BAD_DAY)]
    assert all(run.tags["dagster/backfill"] for run in by_day.values())
    assert sorted(h.window[:10] for h in history) == sorted(by_day)
    assert all(h.window.endswith("T00:00:00+00:00") for h in history)
    assert not outbox.exists() or outbox.read_text() == ""
    assert get_state_store(state_url).load("daily_revenue").version == 0  # live state untouched


def test_backfill_notifies_the_bad_window_once_when_notify_backfills_is_set(
    tmp_path, dagster_home, outbox, state_url
):
    specs = _specs(tmp_path, _shop(tmp_path), notify_backfills="true")
    job = build_sentinel_defs(specs).get_job_def("daily_revenue")
    instance = dg.DagsterInstance.get()
    for _ in range(2):  # replaying a window twice notifies once
        for offset in range(10):
            key = str(date(2026, 10, 1) + timedelta(days=offset))
            job.execute_in_process(instance=instance, partition_key=key,
                                   tags={"dagster/backfill": "bf"})
    notices = [json.loads(line) for line in outbox.read_text().splitlines()]
    assert [(n["kind"], n["window"]["start"][:10]) for n in notices] == [("firing", str(BAD_DAY))]
    assert get_state_store(state_url).load("daily_revenue").version == 0


def test_window_fields_are_validated(tmp_path):
    specs = _specs(tmp_path, _shop(tmp_path), start="'yesterday'")
    config = load_specs(specs)
    assert not config.alerts
    assert any(e.field == "start" and "expected a date" in e.message for e in config.errors)
