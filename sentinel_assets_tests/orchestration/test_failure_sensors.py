"""The run-failure sensor and the liveness sensor, ticked against real Dagster instances."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import dagster as dg
import pytest

from sentinel_assets.names import alert_schedule_name
from sentinel_assets.observe.run_scan import ScanPosition
from sentinel_assets.orchestration.factory import build_sentinel_defs
from sentinel_assets_tests.health_helpers import (
    evaluate_at,
    make_db,
    outbox_lines,
    set_schedule_state,
)
from sentinel_assets_tests.helpers import write_specs


@pytest.fixture
def config(tmp_path, state_url, outbox):
    url = make_db(tmp_path / "main.db")
    return write_specs(tmp_path / "specs", f"""
databases:
  main: {{url: "{url}"}}
channels:
  outbox: {{type: log}}
  team: {{type: log, path: "{tmp_path / 'team.jsonl'}"}}
defaults: {{database: main}}
alerts:
  - name: nightly_total
    owner: outbox
    notify: [team]
    schedule: "0 * * * *"
    query: SELECT 'OK' AS status FROM metric
  - name: broken_query
    owner: outbox
    schedule: "0 * * * *"
    query: SELECT status FROM no_such_table
""")


@pytest.fixture
def instance(tmp_path):
    """A SQLite-backed instance (the PostgreSQL-backed runs are in the first tests)."""
    with dg.instance_for_test(temp_dir=str(tmp_path)) as sqlite_instance:
        yield sqlite_instance


def _tick(defs, name, instance, cursor=None):
    sensor = defs.get_sensor_def(name)
    return sensor.evaluate_tick(dg.build_sensor_context(instance=instance, cursor=cursor))


def _crashed_run(instance, job, *, cancel=False) -> str:
    """A run of ``job`` whose process died (or that was cancelled) before the op reported."""
    run = instance.create_run_for_job(job, tags=job.tags)
    if cancel:
        instance.report_run_canceled(run, message="cancelled from the UI")
    else:
        instance.report_run_failed(run, message="the run worker disappeared")
    return run.run_id


def test_crashed_run_tells_the_owner_once(config, pg_instance, outbox):
    defs = build_sentinel_defs(config)
    run_id = _crashed_run(pg_instance, defs.get_job_def("nightly_total"))

    first = _tick(defs, "sentinel_run_failures", pg_instance)
    again = _tick(defs, "sentinel_run_failures", pg_instance, first.cursor)
    restarted = _tick(defs, "sentinel_run_failures", pg_instance)  # cursor lost: re-reads a day

    notices = outbox_lines(outbox)
    assert [(n["alert"], n["kind"], n["channel"]) for n in notices] == [
        ("nightly_total", "error", "outbox")]
    assert notices[0]["run_id"] == run_id
    assert notices[0]["message"].startswith(f"run {run_id} failed before the evaluation finished")
    assert "the run worker disappeared" in notices[0]["message"]
    assert "1 crashed run(s) recorded" in first.skip_message
    assert "error->outbox" in first.skip_message
    assert again.skip_message == "no new crashed sentinel runs"
    assert "notices: none" in restarted.skip_message


def test_second_crash_in_the_same_episode_sends_nothing_and_recovery_is_told(config, instance,
                                                                               outbox):
    defs = build_sentinel_defs(config)
    job = defs.get_job_def("nightly_total")
    _crashed_run(instance, job)
    cursor = _tick(defs, "sentinel_run_failures", instance).cursor
    _crashed_run(instance, job, cancel=True)
    second = _tick(defs, "sentinel_run_failures", instance, cursor)
    job.execute_in_process(instance=instance)  # evaluates fine again
    kinds = [n["kind"] for n in outbox_lines(outbox)]
    assert "was cancelled before the evaluation finished" in second.skip_message
    assert kinds == ["error", "error_resolved"]


def test_query_error_the_op_reported_is_not_notified_again(config, pg_instance, outbox):
    defs = build_sentinel_defs(config)
    result = defs.get_job_def("broken_query").execute_in_process(instance=pg_instance,
                                                                 raise_on_error=False)
    assert pg_instance.get_run_by_id(result.run_id).tags["sentinel/status"] == "ERROR"
    tick = _tick(defs, "sentinel_run_failures", pg_instance)
    assert tick.skip_message == "no new crashed sentinel runs"
    assert [(n["alert"], n["kind"]) for n in outbox_lines(outbox)] == [("broken_query", "error")]


def test_crash_older_than_a_later_evaluation_is_not_told(config, instance, outbox):
    defs = build_sentinel_defs(config)
    job = defs.get_job_def("nightly_total")
    _crashed_run(instance, job)
    job.execute_in_process(instance=instance)  # the alert evaluated after the crash
    tick = _tick(defs, "sentinel_run_failures", instance)
    assert tick.skip_message == "no new crashed sentinel runs"
    assert outbox_lines(outbox) == []


def test_runs_of_other_jobs_are_ignored(config, instance, outbox):
    @dg.job
    def host_pipeline():
        pass

    defs = build_sentinel_defs(config)
    _crashed_run(instance, host_pipeline)
    assert _tick(defs, "sentinel_run_failures", instance).skip_message == \
        "no new crashed sentinel runs"


def test_cursor_moves_past_the_runs_it_has_read(config, instance):
    defs = build_sentinel_defs(config)
    run_id = _crashed_run(instance, defs.get_job_def("nightly_total"))
    cursor = ScanPosition.parse(_tick(defs, "sentinel_run_failures", instance).cursor,
                                 datetime.now(timezone.utc))
    record = instance.get_run_record_by_id(run_id)
    assert cursor.after == record.update_timestamp
    assert run_id in cursor.seen


def test_liveness_sensor_fires_once_for_an_alert_whose_schedule_stopped(config, instance, outbox):
    now = datetime.now(timezone.utc)
    evaluate_at(config, "nightly_total", now - timedelta(hours=3))
    evaluate_at(config, "broken_query", now)
    defs = build_sentinel_defs(config)
    set_schedule_state(instance, alert_schedule_name(config.alert("nightly_total")), "0 * * * *",
                       running=False)
    first = _tick(defs, "sentinel_liveness", instance)
    second = _tick(defs, "sentinel_liveness", instance, first.cursor)
    evaluate_at(config, "nightly_total", datetime.now(timezone.utc))
    third = _tick(defs, "sentinel_liveness", instance, second.cursor)

    assert json.loads(first.cursor) == {"late": ["nightly_total"]}
    assert "its schedule is stopped" in first.skip_message
    assert json.loads(third.cursor) == {"late": []}
    assert "nightly_total is evaluating again" in third.skip_message
    notices = outbox_lines(outbox)
    assert [(n["alert"], n["kind"], n["channel"]) for n in notices] == [
        ("liveness:nightly_total", "firing", "outbox"),
        ("liveness:nightly_total", "resolved", "outbox"),
    ]
    assert notices[0]["message"].startswith("nightly_total missed its scheduled evaluations")


def test_liveness_sensor_is_quiet_while_alerts_run_on_time(config, instance, outbox):
    evaluate_at(config, "nightly_total", datetime.now(timezone.utc))
    tick = _tick(build_sentinel_defs(config), "sentinel_liveness", instance)
    assert tick.skip_message == "every enabled alert evaluated on schedule"
    assert outbox_lines(outbox) == []


def test_both_sensors_run_by_default(config):
    defs = build_sentinel_defs(config, job_prefix="team_")
    for name in ("team_sentinel_run_failures", "team_sentinel_liveness"):
        assert defs.get_sensor_def(name).default_status == dg.DefaultSensorStatus.RUNNING
