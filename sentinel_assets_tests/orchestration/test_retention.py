"""The sentinel_retention job prunes old runs (with their events) and old delivery records only."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import dagster as dg
import pytest
import sqlalchemy as sa

from sentinel_assets.names import STATE_KEY
from sentinel_assets.orchestration.factory import build_sentinel_defs
from sentinel_assets.orchestration.resources import SentinelStateStore
from sentinel_assets.orchestration.retention import build_retention_defs, retention_days
from sentinel_assets.state.store import StateStore, deliveries_table
from sentinel_assets_tests.demo_project import make_demo

pytestmark = pytest.mark.postgres

NOW = datetime.now(timezone.utc)


@dg.op
def say_hello(context):
    context.log.info("hello")


@dg.job(tags={"sentinel/alert": "orders_late", "sentinel/database": "shop"})
def orders_late():
    say_hello()


@dg.job
def host_pipeline():
    """A job of a host project that embeds sentinel: not sentinel's to delete."""
    say_hello()


def _run(instance: dg.DagsterInstance, job: dg.JobDefinition, age: timedelta | None = None) -> str:
    run_id = job.execute_in_process(instance=instance).run_id
    if age is not None:
        _backdate(instance, run_id, age)
    return run_id


def _backdate(instance: dg.DagsterInstance, run_id: str, age: timedelta) -> None:
    when = (NOW - age).replace(tzinfo=None)  # dagster stores naive UTC
    with instance.run_storage.connect() as conn:
        conn.execute(sa.text("UPDATE runs SET create_timestamp = :t, update_timestamp = :t "
                             "WHERE run_id = :run_id"), {"t": when, "run_id": run_id})


def _started_run(instance: dg.DagsterInstance, age: timedelta) -> str:
    """A sentinel run still in progress (its worker hangs), created long ago."""
    run = instance.create_run_for_job(orders_late, status=dg.DagsterRunStatus.STARTED,
                                      tags={"sentinel/alert": "orders_late"})
    _backdate(instance, run.run_id, age)
    return run.run_id


@pytest.fixture
def state(pg_url_factory) -> StateStore:
    return StateStore(pg_url_factory())


def _delivery(store: StateStore, key: str, age: timedelta) -> None:
    created = NOW - age
    with store.engine.begin() as conn:
        conn.execute(deliveries_table.insert().values(
            idempotency_key=key, channel="ops", alert="orders_late", kind="firing", status="sent",
            attempts=1, notice=json.dumps({"alert": "orders_late"}), created_at=created,
            claimed_at=created, sent_at=created))


def _delivery_keys(store: StateStore) -> set[str]:
    return {d.idempotency_key for d in store.deliveries(limit=100)}


def _retention(instance: dg.DagsterInstance, store: StateStore, run_config: dict | None = None):
    defs = dg.Definitions.merge(
        build_retention_defs(), dg.Definitions(resources={STATE_KEY: SentinelStateStore(url=store.url)})
    )
    return defs.get_job_def("sentinel_retention").execute_in_process(
        instance=instance, run_config=run_config or {})


def test_retention_deletes_old_sentinel_runs_with_their_events_and_keeps_recent_ones(
    pg_instance, state, monkeypatch
):
    monkeypatch.delenv("SENTINEL_RETENTION_DAYS", raising=False)  # the default: 30 days
    old = [_run(pg_instance, orders_late, timedelta(days=45)),
           _run(pg_instance, orders_late, timedelta(days=31))]
    recent = [_run(pg_instance, orders_late, timedelta(days=29)), _run(pg_instance, orders_late)]
    host_old = _run(pg_instance, host_pipeline, timedelta(days=90))
    in_progress = _started_run(pg_instance, timedelta(days=60))
    assert all(pg_instance.all_logs(run_id) for run_id in old)

    result = _retention(pg_instance, state)

    assert result.success
    assert all(pg_instance.get_run_by_id(run_id) is None for run_id in old)
    assert all(pg_instance.all_logs(run_id) == [] for run_id in old)
    for run_id in [*recent, host_old, in_progress, result.run_id]:
        assert pg_instance.get_run_by_id(run_id) is not None
    assert all(pg_instance.all_logs(run_id) for run_id in [*recent, host_old])
    assert result.output_for_node("prune_sentinel_retention") == 2  # runs deleted


def test_retention_deletes_only_delivery_records_older_than_the_cutoff(pg_instance, state,
                                                                        monkeypatch):
    monkeypatch.setenv("SENTINEL_RETENTION_DAYS", "7")
    _delivery(state, "ancient", timedelta(days=400))
    _delivery(state, "eight-days", timedelta(days=8))
    _delivery(state, "last-week", timedelta(days=6))
    _delivery(state, "today", timedelta(minutes=5))

    assert _retention(pg_instance, state).success

    assert _delivery_keys(state) == {"last-week", "today"}


def test_configured_days_override_the_environment(pg_instance, state, monkeypatch):
    monkeypatch.setenv("SENTINEL_RETENTION_DAYS", "30")
    twelve_days = _run(pg_instance, orders_late, timedelta(days=12))
    eight_days = _run(pg_instance, orders_late, timedelta(days=8))
    _delivery(state, "twelve-days", timedelta(days=12))

    config = {"ops": {"prune_sentinel_retention": {"config": {"days": 10}}}}
    assert _retention(pg_instance, state, config).success

    assert pg_instance.get_run_by_id(twelve_days) is None
    assert pg_instance.get_run_by_id(eight_days) is not None
    assert _delivery_keys(state) == set()


def test_a_retention_shorter_than_a_day_is_refused(monkeypatch):
    with pytest.raises(ValueError, match="at least 1 day"):
        retention_days(0)
    monkeypatch.setenv("SENTINEL_RETENTION_DAYS", "a month")
    with pytest.raises(ValueError, match="SENTINEL_RETENTION_DAYS='a month' is not a whole number"):
        retention_days()
    monkeypatch.setenv("SENTINEL_RETENTION_DAYS", "14")
    assert retention_days() == 14


def test_sentinel_defs_schedule_the_retention_job_daily_with_a_longer_max_runtime(
    tmp_path, monkeypatch
):
    specs, _ = make_demo(tmp_path, monkeypatch)
    defs = build_sentinel_defs(specs, job_prefix="alerts_")
    schedule = defs.get_schedule_def("alerts_sentinel_retention_schedule")
    assert schedule.cron_schedule == "0 3 * * *"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    job = defs.get_job_def("alerts_sentinel_retention")
    assert job.tags["dagster/max_runtime"] == "3600"
    assert job.tags["sentinel/retention"] == "prune"
