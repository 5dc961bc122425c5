"""The Prometheus exporter: figures equal the recorded history, promtool accepts the output,
``/metrics`` and ``/health`` over HTTP, and the Pushgateway push of each run."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import urllib.error
import urllib.request
from collections import Counter
from datetime import datetime, timezone

import dagster as dg
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from sentinel_assets.names import alert_schedule_name
from sentinel_assets.observe.exporter import make_app, make_exporter, serve_in_thread
from sentinel_assets.observe.health import HealthInputs, run_healthcheck
from sentinel_assets.observe.history import alert_history
from sentinel_assets.observe.metrics import build_registry, cron_interval
from sentinel_assets.orchestration.factory import build_sentinel_defs
from sentinel_assets.orchestration.resources import build_resources
from sentinel_assets.state.store import get_state_store
from sentinel_assets_tests.health_helpers import (
    beat_all_daemons,
    evaluate_at,
    set_schedule_state,
)
from sentinel_assets_tests.helpers import free_port, write_specs


@pytest.fixture
def config(tmp_path, state_url, outbox):
    db = tmp_path / "shop.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE revenue (amount INTEGER)")
        conn.execute("INSERT INTO revenue VALUES (500)")
    return write_specs(tmp_path / "specs", f"""
databases:
  shop: {{url: "sqlite:///{db}"}}
channels:
  outbox: {{type: log}}
  team: {{type: log, path: "{tmp_path / 'team.jsonl'}"}}
defaults: {{database: shop, owner: outbox, notify: [team]}}
alerts:
  - name: revenue_low
    schedule: "0 9 * * *"
    query: SELECT amount AS total FROM revenue
    condition: {{column: total, op: "<", threshold: 1000}}
  - name: broken_query
    schedule: "*/30 * * * *"
    query: SELECT status FROM no_such_table
""")


def _set_revenue(tmp_path, amount: int) -> None:
    with sqlite3.connect(tmp_path / "shop.db") as conn:
        conn.execute("UPDATE revenue SET amount = ?", (amount,))


def _samples(registry) -> dict[tuple[str, tuple], float]:
    text = generate_latest(registry).decode()
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def _evaluate_series(tmp_path, defs, instance) -> None:
    """ALERT, ALERT, OK for revenue_low; one ERROR; one run whose process died."""
    job = defs.get_job_def("revenue_low")
    job.execute_in_process(instance=instance)
    job.execute_in_process(instance=instance)
    _set_revenue(tmp_path, 5000)
    job.execute_in_process(instance=instance)
    defs.get_job_def("broken_query").execute_in_process(instance=instance, raise_on_error=False)
    crashed = instance.create_run_for_job(job, tags=job.tags)
    instance.report_run_failed(crashed)


def test_counters_and_gauges_equal_what_the_history_says(tmp_path, config, pg_instance):
    defs = build_sentinel_defs(config)
    _evaluate_series(tmp_path, defs, pg_instance)
    store = get_state_store()
    samples = _samples(build_registry(config, pg_instance, store))

    for alert in ("revenue_low", "broken_query"):
        history = Counter(e.status for e in alert_history(pg_instance, alert, limit=100))
        exported = {dict(labels)["status"]: value for (name, labels), value in samples.items()
                    if name == "sentinel_alert_evaluations_total"
                    and dict(labels)["alert"] == alert}
        assert exported == dict(history)
    assert samples[("sentinel_alert_evaluations_total",
                    (("alert", "revenue_low"), ("status", "ALERT")))] == 2
    assert samples[("sentinel_alert_evaluations_total",
                    (("alert", "revenue_low"), ("status", "NOT_EVALUATED")))] == 1

    states = store.all_states()
    assert samples[("sentinel_alert_status", (("alert", "revenue_low"),))] == 0
    assert samples[("sentinel_alert_status", (("alert", "broken_query"),))] == 3
    for alert in ("revenue_low", "broken_query"):
        assert samples[("sentinel_last_evaluation_timestamp_seconds", (("alert", alert),))] == \
            pytest.approx(states[alert].last_evaluated_at.timestamp())

    latest = pg_instance.get_run_records(
        filters=dg.RunsFilter(tags={"sentinel/alert": "revenue_low"},
                              statuses=[dg.DagsterRunStatus.SUCCESS]),
        limit=1, order_by="update_timestamp", ascending=False)[0]
    assert samples[("sentinel_alert_duration_seconds", (("alert", "revenue_low"),))] == \
        pytest.approx(latest.end_time - latest.start_time)

    delivered = Counter((d.channel, d.kind, d.status) for d in store.deliveries(limit=1000))
    assert delivered == {("team", "firing", "sent"): 1, ("team", "resolved", "sent"): 1,
                         ("outbox", "error", "sent"): 1}
    for (channel, kind, result), count in delivered.items():
        labels = (("channel", channel), ("kind", kind), ("result", result))
        assert samples[("sentinel_notifications_total", labels)] == count
    # every configured channel's kinds and results start at 0, so a first failure is a rise
    for channel in ("outbox", "team"):
        for kind in ("firing", "resolved", "error"):
            labels = (("channel", channel), ("kind", kind), ("result", "failed"))
            assert samples[("sentinel_notifications_total", labels)] == 0
    assert samples[("sentinel_scheduled_alerts", ())] == 2


def test_exporter_output_passes_promtool(tmp_path, config):
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is not installed; run `make test-deps` (Debian package "
                    "'prometheus') to check the exporter's output", pytrace=False)
    defs = build_sentinel_defs(config)
    job = defs.get_job_def("revenue_low")
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        job.execute_in_process(instance=instance)
        defs.get_job_def("broken_query").execute_in_process(instance=instance,
                                                            raise_on_error=False)
        instance.report_run_failed(instance.create_run_for_job(job, tags=job.tags))
        text = generate_latest(build_registry(config, instance, get_state_store()))
    checked = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                             timeout=60)
    assert checked.returncode == 0, (checked.stdout + checked.stderr).decode()
    assert b"sentinel_alert_evaluations_total{" in text


def test_each_run_is_counted_once_across_scrapes(tmp_path, config):
    defs = build_sentinel_defs(config)
    job = defs.get_job_def("revenue_low")
    key = ("sentinel_alert_evaluations_total", (("alert", "revenue_low"), ("status", "ALERT")))
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        registry = build_registry(config, instance, get_state_store())
        first = job.execute_in_process(instance=instance)
        assert _samples(registry)[key] == 1
        job.execute_in_process(instance=instance)
        assert _samples(registry)[key] == 2
        instance.add_run_tags(first.run_id, {"reviewed": "yes"})  # bumps its update time
        assert _samples(registry)[key] == 2


def test_scheduled_alerts_leave_out_stopped_schedules(tmp_path, config):
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        set_schedule_state(instance, alert_schedule_name(config.alert("broken_query")),
                           "*/30 * * * *", running=False)
        samples = _samples(build_registry(config, instance, get_state_store()))
    assert samples[("sentinel_scheduled_alerts", ())] == 1


def test_interval_of_each_enabled_alert_is_the_gap_between_its_last_two_ticks(tmp_path):
    config = write_specs(tmp_path / "specs", """
databases: {shop: {url: "sqlite:///:memory:"}}
channels: {outbox: {type: log}}
defaults: {database: shop, owner: outbox}
alerts:
  - {name: daily, schedule: "0 9 * * *", query: SELECT 'OK' AS status}
  - {name: half_hourly, schedule: "*/30 * * * *", query: SELECT 'OK' AS status}
  - {name: weekdays, schedule: "0 9 * * 1-5", timezone: Europe/Berlin,
     query: SELECT 'OK' AS status}
  - {name: shortcut, schedule: "@hourly", query: SELECT 'OK' AS status}
  - {name: paused, schedule: "0 9 * * *", enabled: false, query: SELECT 'OK' AS status}
""")
    samples = _samples(build_registry(config, None, get_state_store()))
    intervals = {dict(labels)["alert"]: value for (name, labels), value in samples.items()
                 if name == "sentinel_alert_interval_seconds"}
    assert set(intervals) == {"daily", "half_hourly", "weekdays", "shortcut"}  # not disabled ones
    assert intervals["daily"] == 86400 and intervals["half_hourly"] == 1800
    assert intervals["shortcut"] == 3600
    # a weekday cron's interval spans the weekend on Monday, one day on Wednesday
    monday = datetime(2024, 6, 3, 12, tzinfo=timezone.utc)
    wednesday = datetime(2024, 6, 5, 12, tzinfo=timezone.utc)
    assert cron_interval(config.alert("weekdays"), monday) == 3 * 86400
    assert cron_interval(config.alert("weekdays"), wednesday) == 86400
    # no instance: no daemon figures (nothing to read them from)
    assert not any(name == "sentinel_daemon_heartbeat_timestamp_seconds" for name, _ in samples)


def test_daemon_heartbeats_are_exported_per_required_daemon(tmp_path, config):
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        registry = build_registry(config, instance, get_state_store())
        required = set(instance.get_required_daemon_types())
        never = {dict(labels)["daemon"]: value for (name, labels), value in
                 _samples(registry).items()
                 if name == "sentinel_daemon_heartbeat_timestamp_seconds"}
        beat_all_daemons(instance, at=1_700_000_000.0)
        beaten = {dict(labels)["daemon"]: value for (name, labels), value in
                  _samples(registry).items()
                  if name == "sentinel_daemon_heartbeat_timestamp_seconds"}
    assert required and set(never) == required == set(beaten)
    assert set(never.values()) == {0.0}  # never beat: 0, so "now - timestamp" is huge
    assert set(beaten.values()) == {1_700_000_000.0}


def _get(url: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read()


def test_exporter_serves_metrics_and_health_over_http(tmp_path, config):
    inputs = HealthInputs(config, build_resources(config))
    evaluate_at(config, "revenue_low", datetime.now(timezone.utc))
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        registry = build_registry(config, instance, get_state_store)
        server = make_exporter(make_app(registry, lambda: run_healthcheck(inputs)),
                               "127.0.0.1", 0)
        serve_in_thread(server)
        base = f"http://127.0.0.1:{server.server_port}"
        try:
            metrics = _get(f"{base}/metrics")
            health = _get(f"{base}/health")
            missing = _get(f"{base}/nothing")
        finally:
            server.shutdown()
            server.server_close()
    status, content_type, body = metrics
    assert status == 200 and content_type.startswith("text/plain")
    assert 'sentinel_alert_status{alert="revenue_low"} 2.0' in body.decode()
    status, content_type, body = health
    assert status == 200 and content_type == "application/json"
    report = json.loads(body)
    assert report["status"] == "healthy"
    assert {c["name"] for c in report["checks"]} >= {"state_store", "database:shop"}
    assert missing[0] == 404


def test_health_endpoint_answers_503_when_unhealthy(tmp_path, config):
    down = write_specs(tmp_path / "down", f"""
databases: {{gone: {{url: "postgresql+psycopg2://postgres@127.0.0.1:{free_port()}/x"}}}}
alerts: []
""")
    inputs = HealthInputs(down, build_resources(down))
    server = make_exporter(make_app(build_registry(down, None, get_state_store),
                                    lambda: run_healthcheck(inputs)), "127.0.0.1", 0)
    serve_in_thread(server)
    try:
        status, _, body = _get(f"http://127.0.0.1:{server.server_port}/health")
    finally:
        server.shutdown()
        server.server_close()
    assert status == 503
    assert json.loads(body)["status"] == "unhealthy"


def test_each_run_pushes_its_gauges_to_the_pushgateway(tmp_path, config, httpserver,
                                                       monkeypatch):
    httpserver.expect_request("/metrics/job/sentinel/alert/revenue_low",
                              method="PUT").respond_with_data("")
    monkeypatch.setenv("SENTINEL_PUSHGATEWAY_URL", f"http://127.0.0.1:{httpserver.port}")
    defs = build_sentinel_defs(config)
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        result = defs.get_job_def("revenue_low").execute_in_process(instance=instance)
    assert result.success
    (request, _), = httpserver.log
    pushed = {s.name: s.value for f in text_string_to_metric_families(request.data.decode())
              for s in f.samples}
    assert pushed["sentinel_alert_status"] == 2  # FIRING
    assert pushed["sentinel_last_evaluation_timestamp_seconds"] > 0
    assert pushed["sentinel_alert_duration_seconds"] >= 0


def test_unreachable_pushgateway_never_fails_the_run(tmp_path, config, monkeypatch):
    monkeypatch.setenv("SENTINEL_PUSHGATEWAY_URL", f"http://127.0.0.1:{free_port()}")
    defs = build_sentinel_defs(config)
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        result = defs.get_job_def("revenue_low").execute_in_process(instance=instance)
        run = instance.get_run_by_id(result.run_id)
    assert result.success
    assert run.tags["sentinel/status"] == "ALERT"
