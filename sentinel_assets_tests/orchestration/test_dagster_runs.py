"""Alert runs recorded in a dagster-postgres instance: tags, metadata, failures, history."""

from __future__ import annotations

import json

import dagster as dg
import pytest

from sentinel_assets.observe.history import alert_history
from sentinel_assets.orchestration.factory import build_sentinel_defs
from sentinel_assets_tests.demo_project import make_demo, set_yesterday_revenue


@pytest.fixture
def demo(tmp_path, monkeypatch, outbox, state_url):
    specs, db = make_demo(tmp_path, monkeypatch)
    return specs, db


def _output_metadata(instance: dg.DagsterInstance, run_id: str) -> dict:
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.STEP_OUTPUT).records
    assert len(records) == 1
    return records[0].event_log_entry.dagster_event.event_specific_data.metadata


def _outbox_lines(outbox) -> list[dict]:
    return [json.loads(line) for line in outbox.read_text().splitlines()] if outbox.exists() else []


def test_alert_run_records_tags_and_metadata_in_postgres_storage(demo, pg_instance, outbox):
    specs, _ = demo
    defs = build_sentinel_defs(specs)
    result = defs.get_job_def("orders_revenue_low").execute_in_process(instance=pg_instance)
    assert result.success
    run = pg_instance.get_run_by_id(result.run_id)
    assert run.tags["sentinel/alert"] == "orders_revenue_low"
    assert run.tags["sentinel/database"] == "demo"
    assert run.tags["sentinel/status"] == "ALERT"
    metadata = _output_metadata(pg_instance, result.run_id)
    assert metadata["status"].value == "ALERT"
    assert metadata["threshold"].value == 10000
    assert metadata["value"].value < 10000
    assert metadata["sql"].value.startswith("```sql\nSELECT")
    assert metadata["first_rows"].value.records[0].data["status"] == "ALERT"
    assert metadata["query_duration_ms"].value >= 0
    assert "`firing` → **outbox**: sent" in metadata["notices"].value
    assert metadata["state"].value == "OK → FIRING"
    assert [n["kind"] for n in _outbox_lines(outbox)] == ["firing"]


def test_second_run_of_a_firing_alert_sends_no_second_notice(demo, pg_instance, outbox):
    specs, _ = demo
    job = build_sentinel_defs(specs).get_job_def("orders_revenue_low")
    job.execute_in_process(instance=pg_instance)
    second = job.execute_in_process(instance=pg_instance)
    metadata = _output_metadata(pg_instance, second.run_id)
    assert metadata["state"].value == "FIRING → FIRING"
    assert "No notice" in metadata["notices"].value
    assert [n["kind"] for n in _outbox_lines(outbox)] == ["firing"]


def test_recovery_sends_resolved_and_history_lists_every_evaluation(demo, pg_instance, outbox):
    specs, db = demo
    job = build_sentinel_defs(specs).get_job_def("orders_revenue_low")
    set_yesterday_revenue(db, 500)
    job.execute_in_process(instance=pg_instance)
    set_yesterday_revenue(db, 50_000)
    job.execute_in_process(instance=pg_instance)
    assert [n["kind"] for n in _outbox_lines(outbox)] == ["firing", "resolved"]
    history = alert_history(pg_instance, "orders_revenue_low")
    assert [(h.status, h.value) for h in history] == [("OK", 50000.0), ("ALERT", 500.0)]
    assert all(h.run_status == "SUCCESS" for h in history)


def test_query_error_fails_the_check_with_the_reason_and_tells_the_owner(
    tmp_path, pg_instance, outbox, state_url
):
    import sqlite3

    sqlite3.connect(tmp_path / "empty.db").close()  # a database without the table
    (tmp_path / "specs.yaml").write_text(
        f"""
databases: {{db: {{url: "sqlite:///{tmp_path / 'empty.db'}"}}}}
channels: {{outbox: {{type: log}}}}
alerts:
  - name: broken_query
    schedule: "0 * * * *"
    database: db
    owner: outbox
    query: SELECT status FROM no_such_table
"""
    )
    job = build_sentinel_defs(tmp_path).get_job_def("broken_query")
    result = job.execute_in_process(instance=pg_instance, raise_on_error=False)
    # a routine ERROR is the check's result, as in grouped runs: no failed step, no stack trace
    assert result.success
    run = pg_instance.get_run_by_id(result.run_id)
    assert run.tags["sentinel/status"] == "ERROR"
    assert not pg_instance.get_records_for_run(
        result.run_id, of_type=dg.DagsterEventType.STEP_FAILURE).records
    check = pg_instance.get_records_for_run(
        result.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
    ).records[0].event_log_entry.dagster_event.event_specific_data
    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
    assert "no such table: no_such_table" in check.description
    assert check.metadata["status"].value == "ERROR"
    notices = _outbox_lines(outbox)
    assert [(n["kind"], n["channel"]) for n in notices] == [("error", "outbox")]
    # a second failing run is the same error episode: no second notice
    job.execute_in_process(instance=pg_instance, raise_on_error=False)
    assert len(_outbox_lines(outbox)) == 1
