"""Batched evaluation: alerts sharing database, schedule and timezone evaluated in one run."""

from __future__ import annotations

import json
import sqlite3
import textwrap

import dagster as dg
import pytest

from sentinel_assets.names import member_tag
from sentinel_assets.observe.history import alert_history
from sentinel_assets.observe.metrics import evaluated_alerts
from sentinel_assets.orchestration.batches import group_batches
from sentinel_assets.orchestration.factory import build_sentinel_defs
from sentinel_assets.spec.loader import load_specs
from sentinel_assets.state.store import get_state_store


@pytest.fixture
def specs(tmp_path):
    db = tmp_path / "shop.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE orders (amount REAL)")
        conn.executemany("INSERT INTO orders VALUES (?)", [(10.0,), (-3.0,)])
    folder = tmp_path / "specs"
    folder.mkdir()
    (folder / "batched.yaml").write_text(textwrap.dedent(f"""
        databases: {{shop: {{url: "sqlite:///{db}"}}}}
        channels: {{outbox: {{type: log}}}}
        defaults: {{database: shop, schedule: "*/5 * * * *", notify: [outbox], owner: outbox, batch: true}}
        alerts:
          - name: negative_amounts
            query: SELECT COUNT(*) AS n FROM orders WHERE amount < 0
            condition: {{column: n, op: ">", threshold: 0}}
          - name: orders_present
            query: SELECT COUNT(*) AS n FROM orders
            condition: {{column: n, op: "==", threshold: 0}}
          - name: broken_query
            query: SELECT n FROM no_such_table
          - name: hourly_one
            schedule: "0 * * * *"
            query: SELECT 'OK' AS status
          - name: on_its_own
            batch: false
            query: SELECT 'OK' AS status
    """))
    return folder


def test_batchable_alerts_are_grouped_by_database_schedule_and_timezone(specs):
    config = load_specs(specs)
    assert not config.errors
    batches = group_batches(config.alerts, job_prefix="p_")
    members = sorted(tuple(a.name for a in b.alerts) for b in batches)
    assert members == [("hourly_one",), ("negative_amounts", "orders_present", "broken_query")]
    assert all(b.name.startswith("p_sentinel_batch_shop_") for b in batches)
    assert [b.name for b in group_batches(config.alerts, "p_")] == [b.name for b in batches]


def test_each_alert_keeps_its_own_job_with_a_stopped_schedule(specs):
    repo = build_sentinel_defs(specs).get_repository_def()
    own = repo.get_schedule_def("negative_amounts_schedule")
    assert own.default_status == dg.DefaultScheduleStatus.STOPPED
    assert repo.get_schedule_def("on_its_own_schedule").default_status == dg.DefaultScheduleStatus.RUNNING
    batch_schedules = [s for s in repo.schedule_defs if s.name.startswith("sentinel_batch_")]
    assert len(batch_schedules) == 2
    assert all(s.default_status == dg.DefaultScheduleStatus.RUNNING for s in batch_schedules)
    assert repo.has_job("negative_amounts")


def test_one_batch_run_records_each_alert_and_a_broken_one_does_not_stop_the_others(
    specs, pg_instance, outbox, state_url
):
    defs = build_sentinel_defs(specs)
    [batch] = [b for b in group_batches(load_specs(specs).alerts) if len(b.alerts) == 3]
    result = defs.get_job_def(batch.name).execute_in_process(instance=pg_instance,
                                                             raise_on_error=False)
    assert not result.success  # like a single alert's ERROR, the run fails and says which
    run = pg_instance.get_run_by_id(result.run_id)
    assert run.tags[member_tag("negative_amounts")] == "ALERT"
    assert run.tags[member_tag("orders_present")] == "OK"
    assert run.tags[member_tag("broken_query")] == "ERROR"
    assert run.tags["sentinel/status"] == "ERROR"
    assert evaluated_alerts(run.tags) == {
        "negative_amounts": "ALERT", "orders_present": "OK", "broken_query": "ERROR"
    }
    outputs = {
        r.event_log_entry.dagster_event.event_specific_data.step_output_handle.output_name:
        r.event_log_entry.dagster_event.event_specific_data.metadata
        for r in pg_instance.get_records_for_run(
            result.run_id, of_type=dg.DagsterEventType.STEP_OUTPUT).records
    }
    assert outputs["negative_amounts"]["status"].value == "ALERT"
    assert outputs["negative_amounts"]["sql"].value.startswith("```sql")
    assert outputs["orders_present"]["value"].value == 2
    notices = [(n["alert"], n["kind"]) for n in map(json.loads, outbox.read_text().splitlines())]
    assert sorted(notices) == [("broken_query", "error"), ("negative_amounts", "firing")]
    store = get_state_store(state_url)
    assert store.load("negative_amounts").status == "FIRING"
    assert store.load("orders_present").status == "OK"
    [entry] = alert_history(pg_instance, "negative_amounts")
    assert (entry.status, entry.value, entry.run_id) == ("ALERT", "1", result.run_id)


def test_a_batched_alert_still_runs_alone_through_its_own_job(specs, pg_instance, outbox, state_url):
    defs = build_sentinel_defs(specs)
    result = defs.get_job_def("orders_present").execute_in_process(instance=pg_instance)
    assert result.success
    assert pg_instance.get_run_by_id(result.run_id).tags["sentinel/status"] == "OK"
    assert [h.status for h in alert_history(pg_instance, "orders_present")] == ["OK"]


def test_batch_only_applies_to_plain_alerts(tmp_path):
    (tmp_path / "a.yaml").write_text(textwrap.dedent("""
        databases: {db: {url: "sqlite:///x.db"}}
        alerts:
          - {name: w, schedule: "0 * * * *", database: db, query: "select 1", window: daily,
             batch: true}
    """))
    config = load_specs(tmp_path)
    assert not config.alerts
    assert any("batch applies to plain alerts only" in e.message for e in config.errors)
