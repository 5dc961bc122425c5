"""The healthcheck: each check against real databases, channels, instances; the job's notices."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import dagster as dg

from sentinel_assets.names import alert_schedule_name
from sentinel_assets.observe.health import (
    DEGRADED,
    FAIL,
    HEALTHY,
    OK,
    SKIP,
    UNHEALTHY,
    WARN,
    HealthInputs,
    ScheduleInfo,
    find_stale_alerts,
    run_healthcheck,
)
from sentinel_assets.orchestration.factory import build_sentinel_defs
from sentinel_assets.orchestration.resources import build_resources
from sentinel_assets_tests.health_helpers import (
    beat_all_daemons,
    evaluate_at,
    make_db,
    outbox_lines,
    set_schedule_state,
)
from sentinel_assets_tests.helpers import free_port, write_specs
from sentinel_assets_tests.notify_servers import SLACK_TOKEN, smtp_factory, tls_files  # noqa: F401

NOW = datetime.now(timezone.utc)


def _specs(tmp_path, databases: str = "", alerts: str = "", channels: str = "") -> str:
    url = make_db(tmp_path / "ok.db")
    return f"""
databases:
  main: {{url: "{url}"}}
{databases}
channels:
  outbox: {{type: log}}
{channels}
defaults: {{database: main, owner: outbox, notify: [outbox]}}
alerts:
  - name: hourly_check
    schedule: "0 * * * *"
    query: SELECT 'OK' AS status FROM metric
{alerts}
"""


def _check(report, name):
    return next(c for c in report.checks if c.name == name)


def _report(config, instance=None, now=None):
    return run_healthcheck(HealthInputs(config, build_resources(config), instance), now=now)


def test_healthy_when_every_check_passes(tmp_path, state_url, outbox):
    config = write_specs(tmp_path / "specs", _specs(tmp_path))
    report = _report(config)
    assert report.status == HEALTHY and report.exit_code == 0
    assert _check(report, "database:main").status == OK
    assert _check(report, "database:main").latency_ms > 0
    assert _check(report, "state_store").status == OK
    assert _check(report, "channel:outbox").status == OK
    assert _check(report, "daemon").status == SKIP  # no persistent instance given
    assert report.summary().startswith("sentinel is healthy")


def test_database_on_an_unused_port_makes_sentinel_unhealthy(tmp_path, state_url, outbox):
    down = f"postgresql+psycopg2://postgres:pw-do-not-show@127.0.0.1:{free_port()}/nothing"
    config = write_specs(tmp_path / "specs", _specs(
        tmp_path, databases=f'  warehouse: {{url: "{down}"}}'))
    report = _report(config)
    assert report.status == UNHEALTHY and report.exit_code == 2
    check = _check(report, "database:warehouse")
    assert check.status == FAIL
    assert "refused" in check.detail.lower() or "connect" in check.detail.lower()
    assert "pw-do-not-show" not in check.detail
    assert _check(report, "database:main").status == OK
    assert "database:warehouse" in report.summary()


def test_database_whose_url_variable_is_unset_is_named(tmp_path, state_url, outbox, monkeypatch):
    monkeypatch.delenv("NO_SUCH_WAREHOUSE_URL", raising=False)
    config = write_specs(tmp_path / "specs", _specs(
        tmp_path, databases='  warehouse: {url: "${NO_SUCH_WAREHOUSE_URL}"}'))
    check = _check(_report(config), "database:warehouse")
    assert check.status == FAIL
    assert check.detail == "the environment variable NO_SUCH_WAREHOUSE_URL is not set in this process"


def test_alert_that_missed_two_ticks_is_stale_and_degrades_health(tmp_path, state_url, outbox):
    config = write_specs(tmp_path / "specs", _specs(tmp_path, alerts="""
  - name: fresh_check
    schedule: "0 * * * *"
    query: SELECT 'OK' AS status FROM metric
  - name: switched_off
    schedule: "0 * * * *"
    enabled: false
    query: SELECT 'OK' AS status FROM metric
"""))
    evaluate_at(config, "hourly_check", NOW - timedelta(hours=3))
    evaluate_at(config, "switched_off", NOW - timedelta(hours=30))
    evaluate_at(config, "fresh_check", NOW)
    report = _report(config)
    assert report.status == DEGRADED and report.exit_code == 1
    stale = _check(report, "alert:hourly_check")
    assert stale.status == WARN
    assert "hourly_check missed its scheduled evaluations ('0 * * * *')" in stale.detail
    assert _check(report, "alerts").detail.endswith(": hourly_check")
    names = {c.name for c in report.checks}
    assert "alert:fresh_check" not in names and "alert:switched_off" not in names


def test_stale_alert_detail_says_its_schedule_is_stopped(tmp_path, state_url, outbox):
    config = write_specs(tmp_path / "specs", _specs(tmp_path))
    evaluate_at(config, "hourly_check", NOW - timedelta(hours=3))
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        beat_all_daemons(instance)
        set_schedule_state(instance, alert_schedule_name(config.alert("hourly_check")), "0 * * * *",
                           running=False)
        report = _report(config, instance)
    assert _check(report, "alert:hourly_check").detail.endswith("its schedule is stopped")


def test_weekday_alert_is_not_stale_after_a_weekend(tmp_path):
    config = write_specs(tmp_path, """
databases: {db: {url: "sqlite://"}}
alerts:
  - {name: weekday_check, schedule: "0 9 * * 1-5", database: db, query: "SELECT 1"}
""")
    friday = datetime(2026, 11, 20, 9, 0, 5, tzinfo=timezone.utc)
    monday_morning = datetime(2026, 11, 23, 8, 0, tzinfo=timezone.utc)
    tuesday_noon = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)
    last = {"weekday_check": friday}
    assert find_stale_alerts(config.alerts, last, {}, monday_morning) == []
    late = find_stale_alerts(config.alerts, last, {}, tuesday_noon)
    assert [s.alert for s in late] == ["weekday_check"]
    assert late[0].missed_since == datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc)


def test_never_evaluated_alert_counts_from_when_its_schedule_started(tmp_path):
    config = write_specs(tmp_path, """
databases: {db: {url: "sqlite://"}}
alerts:
  - {name: new_check, schedule: "*/10 * * * *", database: db, query: "SELECT 1"}
""")
    now = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)
    started = {alert_schedule_name(config.alert("new_check")): ScheduleInfo(True, now - timedelta(hours=1))}
    assert [s.alert for s in find_stale_alerts(config.alerts, {}, started, now)] == ["new_check"]
    assert find_stale_alerts(config.alerts, {}, {}, now) == []  # start unknown: not judged


def test_missing_daemon_heartbeat_makes_sentinel_unhealthy(tmp_path, state_url, outbox):
    config = write_specs(tmp_path / "specs", _specs(tmp_path))
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        missing = _check(_report(config, instance), "daemon")
        beat_all_daemons(instance, at=time.time() - 3600)
        late = _check(_report(config, instance), "daemon")
        beat_all_daemons(instance)
        running = _report(config, instance)
    assert missing.status == FAIL and "no heartbeat from" in missing.detail
    assert "SCHEDULER" in missing.detail and "dagster-daemon run" in missing.detail
    assert late.status == FAIL and "last heartbeat of" in late.detail
    assert _check(running, "daemon").status == OK
    assert running.status == HEALTHY


def test_spec_errors_degrade_health_and_are_listed(tmp_path, state_url, outbox):
    write_specs(tmp_path / "specs", _specs(tmp_path))
    (tmp_path / "specs" / "broken.yaml").write_text(
        "alerts:\n  - {name: Bad-Name, schedule: '0 * * * *', database: main, query: SELECT 1}\n")
    from sentinel_assets.spec.loader import load_specs

    report = _report(load_specs(tmp_path / "specs"))
    check = _check(report, "specs")
    assert report.status == DEGRADED
    assert check.status == WARN and "broken.yaml" in check.detail and "Bad-Name" in check.detail


def test_email_channel_is_probed_with_smtp_noop(tmp_path, state_url, outbox, smtp_factory):  # noqa: F811
    server = smtp_factory("none")
    closed = free_port()
    config = write_specs(tmp_path / "specs", _specs(tmp_path, channels=f"""
  mail: {{type: email, to: [a@example.com], smtp_host: 127.0.0.1, smtp_port: {server.port}, security: none}}
  dead_mail: {{type: email, to: [a@example.com], smtp_host: 127.0.0.1, smtp_port: {closed}, security: none}}
"""))
    report = _report(config)
    assert _check(report, "channel:mail").status == OK
    assert "SMTP NOOP answered 250" in _check(report, "channel:mail").detail
    dead = _check(report, "channel:dead_mail")
    assert dead.status == WARN and "connection refused" in dead.detail
    assert report.status == DEGRADED
    assert server.messages == []  # a probe sends nothing


def test_slack_channel_is_probed_with_auth_test(tmp_path, state_url, outbox, httpserver,
                                                monkeypatch):
    monkeypatch.setenv("SLACK_BOT_TOKEN", SLACK_TOKEN)
    httpserver.expect_request("/api/auth.test").respond_with_json(
        {"ok": True, "user": "sentinel", "team": "Data"})
    config = write_specs(tmp_path / "specs", _specs(tmp_path, channels=f"""
  team: {{type: slack, token: "${{SLACK_BOT_TOKEN}}", channel: "#alerts", base_url: "{httpserver.url_for('/api/')}"}}
"""))
    check = _check(_report(config), "channel:team")
    assert check.status == OK and "auth.test ok as sentinel in Data" in check.detail
    assert [r.path for r, _ in httpserver.log] == ["/api/auth.test"]


def test_healthcheck_job_records_checks_and_tells_the_owner_once_per_change(
        tmp_path, state_url, outbox):
    config = write_specs(tmp_path / "specs", _specs(tmp_path))
    job = build_sentinel_defs(config).get_job_def("sentinel_healthcheck")
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        first = job.execute_in_process(instance=instance)  # no daemon: unhealthy
        job.execute_in_process(instance=instance)  # still unhealthy: nothing new to say
        beat_all_daemons(instance)
        job.execute_in_process(instance=instance)  # healthy again
        run = instance.get_run_by_id(first.run_id)
        output = instance.get_records_for_run(
            first.run_id, of_type=dg.DagsterEventType.STEP_OUTPUT).records[0]
    metadata = output.event_log_entry.dagster_event.event_specific_data.metadata
    assert run.tags["sentinel/health"] == UNHEALTHY
    assert metadata["status"].value == UNHEALTHY
    checks = {r.data["check"]: r.data["status"] for r in metadata["checks"].value.records}
    assert checks["daemon"] == FAIL and checks["database:main"] == OK
    notices = outbox_lines(outbox)
    assert [(n["alert"], n["kind"], n["channel"]) for n in notices] == [
        ("sentinel:sentinel_healthcheck", "error", "outbox"),
        ("sentinel:sentinel_healthcheck", "error_resolved", "outbox"),
    ]
    assert "no heartbeat from" in notices[0]["message"]
    assert notices[0]["rows"][0]["check"] == "daemon"


def test_healthcheck_schedule_runs_every_five_minutes_by_default(tmp_path, state_url):
    config = write_specs(tmp_path / "specs", _specs(tmp_path))
    defs = build_sentinel_defs(config, job_prefix="team_")
    schedule = defs.get_schedule_def("team_sentinel_healthcheck_schedule")
    assert schedule.cron_schedule == "*/5 * * * *"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    assert schedule.job_name == "team_sentinel_healthcheck"
