"""Grouped evaluation: schedules per cron and timezone, runs per database shard, each alert
recorded on its asset check (history, state, red when firing) on dagster-postgres storage."""

from __future__ import annotations

import json
import sqlite3
import textwrap

import dagster as dg
import pytest

from sentinel_assets.names import GROUP_JOB, alert_schedule_name, member_tag
from sentinel_assets.observe.history import alert_history
from sentinel_assets.observe.metrics import evaluated_alerts
from sentinel_assets.orchestration.checks import check_key
from sentinel_assets.orchestration.factory import build_sentinel_defs
from sentinel_assets.orchestration.grouped import run_config_for, shards
from sentinel_assets.spec.loader import load_specs
from sentinel_assets.state.store import get_state_store


@pytest.fixture
def specs(tmp_path):
    for name in ("shop", "crm"):
        with sqlite3.connect(tmp_path / f"{name}.db") as conn:
            conn.execute("CREATE TABLE orders (amount REAL)")
            conn.executemany("INSERT INTO orders VALUES (?)", [(10.0,), (-3.0,)])
    folder = tmp_path / "specs"
    folder.mkdir()
    (folder / "grouped.yaml").write_text(textwrap.dedent(f"""
        databases:
          shop: {{url: "sqlite:///{tmp_path / 'shop.db'}"}}
          crm: {{url: "sqlite:///{tmp_path / 'crm.db'}"}}
        channels: {{outbox: {{type: log}}}}
        defaults: {{database: shop, schedule: "*/5 * * * *", notify: [outbox], owner: outbox}}
        alerts:
          - name: negative_amounts
            query: SELECT COUNT(*) AS n FROM orders WHERE amount < 0
            condition: {{column: n, op: ">", threshold: 0}}
          - name: orders_present
            query: SELECT COUNT(*) AS n FROM orders
            condition: {{column: n, op: "==", threshold: 0}}
          - name: broken_query
            query: SELECT n FROM no_such_table
          - name: crm_orders
            database: crm
            query: SELECT 'OK' AS status
          - name: hourly_one
            schedule: "0 * * * *"
            query: SELECT 'OK' AS status
          - name: berlin_one
            timezone: Europe/Berlin
            query: SELECT 'OK' AS status
          - name: switched_off
            enabled: false
            query: SELECT 'OK' AS status
    """))
    return folder


def _scheduled(repo) -> dict[str, list[str]]:
    return {s.name: s.metadata["alerts"].value for s in repo.schedule_defs if "alerts" in s.metadata}


def test_one_schedule_per_cron_and_timezone_evaluates_its_enabled_alerts(specs):
    config = load_specs(specs)
    repo = build_sentinel_defs(config).get_repository_def()
    scheduled = _scheduled(repo)
    assert sorted(map(sorted, scheduled.values())) == [
        ["berlin_one"], ["broken_query", "crm_orders", "negative_amounts", "orders_present"],
        ["hourly_one"]]
    berlin = repo.get_schedule_def(alert_schedule_name(config.alert("berlin_one")))
    assert (berlin.cron_schedule, berlin.execution_timezone) == ("*/5 * * * *", "Europe/Berlin")
    assert all(repo.get_schedule_def(n).job_name == GROUP_JOB for n in scheduled)
    assert "berlin_one" in berlin.description


def test_a_tick_requests_one_run_per_database_shard(specs):
    config = load_specs(specs)
    defs = build_sentinel_defs(config)
    schedule = defs.get_repository_def().get_schedule_def(
        alert_schedule_name(config.alert("negative_amounts")))
    with dg.instance_for_test() as instance:
        context = dg.build_schedule_context(instance=instance)
        requests = schedule.evaluate_tick(context).run_requests
    by_database = {r.tags["sentinel/database"]: r for r in requests}
    assert set(by_database) == {"shop", "crm"}
    alerts = by_database["shop"].run_config["ops"]["evaluate_alerts"]["config"]["alerts"]
    assert sorted(alerts) == ["broken_query", "negative_amounts", "orders_present"]
    assert len({r.run_key for r in requests}) == 2


def test_a_databases_queue_tags_its_runs_and_sentinel_evaluate_runs_are_retried(specs):
    text = (specs / "grouped.yaml").read_text()
    (specs / "grouped.yaml").write_text(text.replace(
        "crm: {url: ", "crm: {queue: dc_east, url: "))
    config = load_specs(specs)
    assert config.databases["crm"].queue == "dc_east" and config.databases["shop"].queue is None
    defs = build_sentinel_defs(config)
    schedule = defs.get_repository_def().get_schedule_def(
        alert_schedule_name(config.alert("negative_amounts")))
    with dg.instance_for_test() as instance:
        requests = schedule.evaluate_tick(dg.build_schedule_context(instance=instance)).run_requests
    queues = {r.tags["sentinel/database"]: r.tags.get("dagster-celery/queue") for r in requests}
    # the Celery launcher sends crm's runs to its queue only; shop's go to the default queue
    assert queues == {"crm": "dc_east", "shop": None}
    # a run that failed as a whole is started again where the instance has run_retries
    assert defs.get_job_def(GROUP_JOB).tags["dagster/max_retries"] == "2"


def test_a_queue_name_is_checked_where_it_is_written(tmp_path):
    folder = tmp_path / "specs"
    folder.mkdir()
    (folder / "bad.yaml").write_text(textwrap.dedent("""
        databases:
          crm: {url: "sqlite:///crm.db", queue: "dc east!"}
    """))
    errors = load_specs(folder).errors
    assert [(e.file.endswith("bad.yaml"), e.field) for e in errors] == [(True, "queue")], errors


def test_a_large_database_is_split_into_shards(specs):
    alerts = load_specs(specs).alerts
    split = shards(alerts, size=2)
    assert all(len(members) <= 2 for _, members in split)
    assert sorted(a.name for _, members in split for a in members) == sorted(a.name for a in alerts)


def test_a_grouped_run_records_each_alert_on_its_check_and_a_broken_one_stops_none(
    specs, pg_instance, outbox, state_url
):
    config = load_specs(specs)
    defs = build_sentinel_defs(config)
    job = defs.get_job_def(GROUP_JOB)
    members = [config.alert(n) for n in ("negative_amounts", "orders_present", "broken_query")]
    result = job.execute_in_process(instance=pg_instance, run_config=run_config_for(job, members))
    assert result.success  # a failed check (ERROR, ALERT) does not fail the run
    run = pg_instance.get_run_by_id(result.run_id)
    assert evaluated_alerts(run.tags) == {
        "negative_amounts": "ALERT", "orders_present": "OK", "broken_query": "ERROR"}
    assert run.tags[member_tag("negative_amounts")] == "ALERT"

    events = pg_instance.get_records_for_run(
        result.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION).records
    assert len(events) == 3  # one event per alert
    history = pg_instance.event_log_storage.get_asset_check_execution_history(
        check_key(config.alert("negative_amounts")), limit=5)
    assert [h.status.value for h in history] == ["FAILED"]  # firing looks failing
    assert history[0].run_id == result.run_id
    evaluation = history[0].event.dagster_event.event_specific_data
    assert evaluation.metadata["status"].value == "ALERT"
    assert evaluation.metadata["value"].value == 1
    assert evaluation.metadata["message"].value
    assert evaluation.metadata["sql"].value.startswith("```sql")
    assert "firing" in evaluation.metadata["notices"].value
    assert evaluation.metadata["state"].value == "OK → FIRING"
    passed = pg_instance.event_log_storage.get_asset_check_execution_history(
        check_key(config.alert("orders_present")), limit=5)
    assert [h.status.value for h in passed] == ["SUCCEEDED"]

    notices = [(n["alert"], n["kind"]) for n in map(json.loads, outbox.read_text().splitlines())]
    assert sorted(notices) == [("broken_query", "error"), ("negative_amounts", "firing")]
    store = get_state_store(state_url)
    assert store.load("negative_amounts").status == "FIRING"
    [entry] = alert_history(pg_instance, "negative_amounts")
    assert (entry.status, entry.value, entry.run_id) == ("ALERT", 1, result.run_id)


def test_overlapping_grouped_runs_send_each_notice_once(specs, pg_instance, outbox, state_url):
    config = load_specs(specs)
    job = build_sentinel_defs(config).get_job_def(GROUP_JOB)
    members = [config.alert("negative_amounts"), config.alert("broken_query")]
    for _ in range(3):
        assert job.execute_in_process(instance=pg_instance,
                                      run_config=run_config_for(job, members)).success
    notices = [(n["alert"], n["kind"]) for n in map(json.loads, outbox.read_text().splitlines())]
    assert sorted(notices) == [("broken_query", "error"), ("negative_amounts", "firing")]


def test_a_single_alert_job_records_on_the_same_check(specs, pg_instance, outbox, state_url):
    config = load_specs(specs)
    result = build_sentinel_defs(config).get_job_def("orders_present").execute_in_process(
        instance=pg_instance)
    assert result.success
    assert pg_instance.get_run_by_id(result.run_id).tags["sentinel/status"] == "OK"
    history = pg_instance.event_log_storage.get_asset_check_execution_history(
        check_key(config.alert("orders_present")), limit=5)
    assert [h.run_id for h in history] == [result.run_id]
    assert [h.status for h in alert_history(pg_instance, "orders_present")] == ["OK"]


def test_executing_one_check_from_the_ui_evaluates_that_alert_alone(specs, pg_instance, outbox,
                                                                     state_url):
    config = load_specs(specs)
    defs = build_sentinel_defs(config, alert_jobs_limit=0)
    key = check_key(config.alert("negative_amounts"))
    job = defs.get_implicit_global_asset_job_def()
    result = job.get_subset(asset_check_selection={key}).execute_in_process(instance=pg_instance)
    assert result.success
    evaluations = result.get_asset_check_evaluations()
    assert [(e.check_name, e.passed) for e in evaluations] == [("negative_amounts", False)]
    assert get_state_store(state_url).load("negative_amounts").status == "FIRING"


def test_batch_is_accepted_and_validate_says_it_is_no_longer_needed(tmp_path):
    (tmp_path / "a.yaml").write_text(textwrap.dedent("""
        databases: {db: {url: "sqlite:///x.db"}}
        defaults: {batch: true}
        alerts:
          - {name: w, schedule: "0 * * * *", database: db, query: "select 1", window: daily}
          - {name: p, schedule: "0 * * * *", database: db, query: "select 1", batch: true}
    """))
    config = load_specs(tmp_path)
    assert sorted(a.name for a in config.alerts) == ["p", "w"]
    warnings = [e for e in config.errors if "batch is no longer needed" in e.message]
    assert len(warnings) == 2 and all(e.warning for e in warnings)
    assert {e.field for e in warnings} == {"batch"}
