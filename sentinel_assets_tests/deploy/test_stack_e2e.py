"""The deployed stack, end to end: ``scripts/stack.sh up`` (the services of docker-compose.yaml,
run natively) on free ports and a fresh PostgreSQL database; the daemon runs an alert scheduled
``* * * * *``, and the run shows up in PostgreSQL storage, at a webhook, in the webserver's
GraphQL API and on ``/metrics``. One stack start for the module; it is stopped also on failure.
"""

from __future__ import annotations

import json
import sqlite3
import textwrap
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families
from pytest_httpserver import HTTPServer

from sentinel_assets_tests.helpers import REPO_ROOT, free_port, graphql
from sentinel_assets_tests.notify_servers import WEBHOOK_SECRET, WebhookReceiver
from sentinel_assets_tests.stack import kill_leftovers, run_stack, stack_env, stack_logs

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

ROOT = REPO_ROOT
ALERT = "stack_orders_late"
# the scheduler ticks on the minute; the run is queued, launched and finished a few seconds later
RUN_DEADLINE_SECONDS = 100
FINISHED = ("SUCCESS", "FAILURE", "CANCELED")

RUNS_QUERY = """
query AlertRuns($alert: String!) {
  runsOrError(filter: {tags: [{key: $alert, value: "ALERT"}]}) {
    __typename
    ... on Runs { results { runId jobName status tags { key value } } }
    ... on PythonError { message }
  }
}
"""


@dataclass
class Stack:
    env: dict[str, str]
    dir: Path
    db_url: str
    webserver: str
    metrics: str
    receiver: WebhookReceiver


def _shop(tmp_path: Path) -> Path:
    db = tmp_path / "shop.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE orders (id INTEGER, shipped INTEGER)")
        conn.executemany("INSERT INTO orders VALUES (?, ?)", [(1, 1), (2, 0), (3, 0)])
    return db


def _specs(tmp_path: Path, db: Path) -> Path:
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "stack.yaml").write_text(textwrap.dedent(f"""\
        databases:
          shop: {{url: "sqlite:///{db}"}}
        channels:
          ops: {{type: webhook, url: "${{STACK_HOOK_URL}}", secret: "${{STACK_HOOK_SECRET}}",
                max_attempts: 2, retry_backoff: 0.1}}
        defaults: {{database: shop, owner: ops, notify: [ops]}}
        alerts:
          - name: {ALERT}
            description: Orders that have not shipped
            schedule: "* * * * *"
            query: SELECT COUNT(*) AS unshipped FROM orders WHERE shipped = 0
            condition: {{column: unshipped, op: ">", threshold: 0}}
        """))
    return specs


def _stack_env(tmp_path: Path, pg_url: str, receiver: WebhookReceiver) -> dict[str, str]:
    return stack_env(
        tmp_path, pg_url, _specs(tmp_path, _shop(tmp_path)),
        # the monitoring profile: Debian's prometheus on deploy/monitoring (test_monitoring.py)
        SENTINEL_MONITORING="1", SENTINEL_PROMETHEUS_PORT=str(free_port()),
        STACK_HOOK_URL=receiver.url, STACK_HOOK_SECRET=WEBHOOK_SECRET)


@pytest.fixture(scope="module")
def stack(tmp_path_factory, pg_url_factory):
    tmp_path = tmp_path_factory.mktemp("stack")
    server = HTTPServer(host="127.0.0.1", port=free_port())
    server.start()
    receiver = WebhookReceiver(server)
    pg_url = pg_url_factory()
    env = _stack_env(tmp_path, pg_url, receiver)
    stack_dir = Path(env["SENTINEL_STACK_DIR"])
    try:
        up = run_stack("up", env, timeout=300)
        assert up.returncode == 0, f"stack.sh up failed:\n{up.stderr}\n{stack_logs(stack_dir)}"
        yield Stack(env, stack_dir, pg_url,
                    webserver=f"http://127.0.0.1:{env['SENTINEL_WEBSERVER_PORT']}",
                    metrics=f"http://127.0.0.1:{env['SENTINEL_METRICS_PORT']}/metrics",
                    receiver=receiver)
    finally:
        down = run_stack("down", env, timeout=120)
        left = kill_leftovers(stack_dir)
        server.clear()
        server.stop()
        assert down.returncode == 0, down.stderr
        assert not left, f"stack.sh down left these running: {left}"


def _finished_runs(engine: sa.Engine) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(
            "SELECT r.run_id, r.status FROM runs r JOIN run_tags t ON t.run_id = r.run_id "
            "WHERE t.key = :member ORDER BY r.id"  # a grouped run that evaluated the alert
        ), {"member": f"sentinel/batch/{ALERT}"})]


def _wait_for_finished_run(engine: sa.Engine, stack: Stack) -> tuple[str, str]:
    deadline = time.monotonic() + RUN_DEADLINE_SECONDS
    while time.monotonic() < deadline:
        finished = [run for run in _finished_runs(engine) if run[1] in FINISHED]
        if finished:
            return finished[0]
        time.sleep(1)
    pytest.fail(f"the daemon did not finish a run of {ALERT} within {RUN_DEADLINE_SECONDS}s of "
                f"the stack coming up\n{stack_logs(stack.dir)}")


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.read().decode()


def _graphql(stack: Stack, query: str, variables: dict) -> dict:
    return graphql(stack.webserver, query, variables)


def _evaluations(metrics_text: str, alert: str, status: str) -> float | None:
    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            if (sample.name == "sentinel_alert_evaluations_total"
                    and sample.labels == {"alert": alert, "status": status}):
                return sample.value
    return None


def test_daemon_runs_a_scheduled_alert_and_every_service_sees_it(stack):
    engine = sa.create_engine(stack.db_url)
    try:
        run_id, status = _wait_for_finished_run(engine, stack)
        with engine.connect() as conn:
            tags = dict(conn.execute(sa.text(
                "SELECT key, value FROM run_tags WHERE run_id = :run_id"), {"run_id": run_id}).all())
            events = {r[0] for r in conn.execute(sa.text(
                "SELECT dagster_event_type FROM event_logs WHERE run_id = :run_id"),
                {"run_id": run_id})}
            deliveries = conn.execute(sa.text(
                "SELECT kind, channel, status, run_id FROM sentinel_deliveries WHERE alert = :a"),
                {"a": ALERT}).all()
    finally:
        engine.dispose()

    # Dagster's storage in PostgreSQL: the scheduled run, its tags and its event log
    assert status == "SUCCESS", stack_logs(stack.dir)
    # a grouped run of its database, started by the schedule of its cron, recording the alert on
    # its asset check
    assert tags[f"sentinel/batch/{ALERT}"] == "ALERT"
    assert tags["sentinel/database"] == "shop"
    assert tags["dagster/schedule_name"].startswith("sentinel_due_")
    assert {dg.DagsterEventType.RUN_START.value, dg.DagsterEventType.RUN_SUCCESS.value,
            dg.DagsterEventType.ASSET_CHECK_EVALUATION.value} <= events
    # sentinel's state store (SENTINEL_STATE_URL defaults to the same database)
    assert [tuple(d) for d in deliveries] == [("firing", "ops", "sent", run_id)]

    # the webhook got the notice, signed, with a link to the run in the webserver
    notices = [r["payload"] for r in stack.receiver.received if r["payload"]["alert"] == ALERT]
    assert [(n["kind"], n["run_id"]) for n in notices] == [("firing", run_id)]
    assert notices[0]["run_url"] == f"{stack.webserver}/runs/{run_id}"

    # the webserver's GraphQL API lists the run with its tags
    answer = _graphql(stack, RUNS_QUERY, {"alert": f"sentinel/batch/{ALERT}"})
    runs = answer["data"]["runsOrError"]
    assert runs["__typename"] == "Runs", answer
    listed = {r["runId"]: r for r in runs["results"]}
    assert listed[run_id]["status"] == "SUCCESS"
    listed_tags = {t["key"]: t["value"] for t in listed[run_id]["tags"]}
    assert listed[run_id]["jobName"] == "sentinel_evaluate"
    assert listed_tags[f"sentinel/batch/{ALERT}"] == "ALERT"

    # the exporter counts it
    assert _evaluations(_get(stack.metrics), ALERT, "ALERT") == 1.0


def test_monitoring_profile_scrapes_the_stacks_exporter_and_its_rules_stay_quiet(stack):
    prometheus = f"http://127.0.0.1:{stack.env['SENTINEL_PROMETHEUS_PORT']}"
    target = f"127.0.0.1:{stack.env['SENTINEL_METRICS_PORT']}"

    def instant(expr: str) -> list[dict]:
        query = urllib.parse.urlencode({"query": expr})
        return json.loads(_get(f"{prometheus}/api/v1/query?{query}"))["data"]["result"]

    deadline = time.monotonic() + 60  # the first scrape comes within one 30 s interval
    while not instant(f'up{{job="sentinel", instance="{target}"}} == 1'):
        assert time.monotonic() < deadline, f"Prometheus never scraped {target}\n{stack_logs(stack.dir)}"
        time.sleep(1)
    beats = instant('time() - sentinel_daemon_heartbeat_timestamp_seconds{job="sentinel"}')
    assert beats and all(float(b["value"][1]) < 300 for b in beats)  # the daemon is running
    rules = json.loads(_get(f"{prometheus}/api/v1/rules"))["data"]["groups"]
    assert {r["name"] for g in rules for r in g["rules"]} >= {
        "SentinelExporterDown", "SentinelDaemonHeartbeatStale"}
    # exporter up, daemon beating: neither rule is pending or firing
    active = {a["labels"]["alertname"]
              for a in json.loads(_get(f"{prometheus}/api/v1/alerts"))["data"]["alerts"]}
    assert not active & {"SentinelExporterDown", "SentinelDaemonHeartbeatStale"}


# -- spec changes reach the running stack (orchestration/reload.py); last: it changes the specs --
ADDED = "stack_reload_added"
# a reload takes one sensor interval, the settling time and a code load; the alerts it adds are
# evaluated at the next minute's tick
RELOAD_DEADLINE_SECONDS = 150
TICKS_QUERY = """
query Ticks($selector: SensorSelector!, $after: Float) {
  sensorOrError(sensorSelector: $selector) {
    ... on Sensor { sensorState { ticks(limit: 20, afterTimestamp: $after) {
      status error { cause { message } } } } }
  }
}
"""
JOB_QUERY = """
query Job($selector: PipelineSelector!) { pipelineOrError(params: $selector) { __typename } }
"""
LOCATION = {"repositoryLocationName": "sentinel_assets", "repositoryName": "__repository__"}


def _grouped_runs_since(engine: sa.Engine, after_id: int) -> dict[str, dict[str, str]]:
    """Finished runs after runs.id ``after_id``: run id -> {alert: status} of its evaluations."""
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT r.run_id, t.key, t.value FROM runs r JOIN run_tags t ON t.run_id = r.run_id "
            "WHERE r.id > :after AND r.status IN ('SUCCESS', 'FAILURE', 'CANCELED') "
            "AND t.key LIKE 'sentinel/batch/%'"), {"after": after_id}).all()
    runs: dict[str, dict[str, str]] = {}
    for run_id, key, value in rows:
        runs.setdefault(run_id, {})[key.removeprefix("sentinel/batch/")] = value
    return runs


def _last_run_id(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT COALESCE(MAX(id), 0) FROM runs")).scalar_one()


def _wait_until(what: str, stack: Stack, check):
    deadline = time.monotonic() + RELOAD_DEADLINE_SECONDS
    while not (found := check()):
        assert time.monotonic() < deadline, f"{what}: not within {RELOAD_DEADLINE_SECONDS}s\n" \
                                            f"{stack_logs(stack.dir)}"
        time.sleep(2)
    return found


def test_spec_changes_reach_the_running_stack_without_a_restart(stack):
    specs = Path(stack.env["SENTINEL_SPECS_DIR"])
    engine = sa.create_engine(stack.db_url)
    try:
        before, changed_at = _last_run_id(engine), time.time()
        # a second alert file, the first alert's query edited (no order is late: OK), a broken file
        (specs / "added.yaml").write_text(textwrap.dedent(f"""\
            alerts:
              - name: {ADDED}
                schedule: "* * * * *"
                query: SELECT COUNT(*) AS orders FROM orders
                condition: {{column: orders, op: ">", threshold: 2}}
            """))
        first = specs / "stack.yaml"
        first.write_text(first.read_text().replace("WHERE shipped = 0", "WHERE shipped = 5"))
        (specs / "broken.yaml").write_text("alerts: [\n")

        # the daemon evaluates the new alert and the edited one, with the broken file in place
        both = _wait_until(f"a run of {ADDED}", stack, lambda: [
            alerts for alerts in _grouped_runs_since(engine, before).values() if ADDED in alerts])
        assert both[0] == {ADDED: "ALERT", ALERT: "OK"}
        # the spec-errors sensor reports the broken file
        errors = {**LOCATION, "sensorName": "sentinel_spec_errors"}
        reported = _wait_until("the broken file reported", stack, lambda: [
            tick["error"]["cause"]["message"] for tick in _graphql(stack, TICKS_QUERY, {
                "selector": errors, "after": changed_at})["data"]["sensorOrError"]["sensorState"]
            ["ticks"] if tick["status"] == "FAILURE"])
        assert "broken.yaml" in reported[0] and "invalid YAML" in reported[0]

        # a removed file removes its alert: from the webserver, then from the scheduled runs
        (specs / "added.yaml").unlink()
        job = {**LOCATION, "pipelineName": ADDED}
        _wait_until(f"{ADDED} gone from the webserver", stack, lambda: _graphql(
            stack, JOB_QUERY, {"selector": job})["data"]["pipelineOrError"]["__typename"]
            == "PipelineNotFoundError")
        removed = _last_run_id(engine)
        after = _wait_until("a scheduled run after the removal", stack,
                            lambda: list(_grouped_runs_since(engine, removed).values()))
        assert after[0] == {ALERT: "OK"}
    finally:
        engine.dispose()
