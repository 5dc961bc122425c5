"""End to end: a SQL Sentinel alert file, unchanged, run by ``dagster job execute`` against its
SQLite example tables, notifying a real SMTP server, a Slack incoming webhook and a webhook."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
from werkzeug import Request, Response

from sentinel_assets_tests.helpers import TESTS_DIR

pytest_plugins = ["sentinel_assets_tests.notify_servers"]

DAGSTER = str(Path(sys.executable).parent / "dagster")
SQLSENTINEL = TESTS_DIR / "data" / "sqlsentinel"
OPS_TOKEN = "ops-token-1123581321"


@pytest.fixture
def ops_hook(httpserver):
    """The on-call webhook of the file: takes PUTs and keeps their headers and bodies."""
    received: list[dict] = []

    def handle(request: Request) -> Response:
        received.append({"method": request.method, "headers": dict(request.headers),
                         "payload": json.loads(request.get_data())})
        return Response("{}", status=200, content_type="application/json")

    httpserver.expect_request("/ops/hook", method="PUT").respond_with_handler(handle)
    return httpserver.url_for("/ops/hook"), received


@pytest.fixture
def project(tmp_path, monkeypatch, dagster_home, state_url, smtp_factory, slack, ops_hook):
    specs = tmp_path / "alert_specs"
    specs.mkdir()
    shutil.copy(SQLSENTINEL / "alerts.yaml", specs / "alerts.yaml")
    with sqlite3.connect(tmp_path / "sample_data.db") as conn:
        conn.executescript((SQLSENTINEL / "sample_data.sql").read_text())
    smtp = smtp_factory("none")
    env = {"SENTINEL_SPECS_DIR": str(specs), "SENTINEL_SPEC_CACHE": "off",
           # SQL Sentinel's own settings, as its README has them
           "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(smtp.port), "SMTP_USE_TLS": "false",
           "SMTP_FROM_ADDRESS": "sqlsentinel@example.com", "SLACK_WEBHOOK_URL": slack.webhook_url,
           "OPS_WEBHOOK_URL": ops_hook[0], "OPS_WEBHOOK_TOKEN": OPS_TOKEN}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for name in ("SMTP_USERNAME", "SMTP_PASSWORD", "WEBHOOK_URL"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path, smtp, slack, ops_hook[1]


def _execute(job: str, cwd: Path) -> None:
    done = subprocess.run(
        [DAGSTER, "job", "execute", "-m", "sentinel_assets.definitions", "-j", job],
        cwd=cwd, env=dict(os.environ), capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_file_runs_unchanged_through_dagster_and_notifies_every_channel(project):
    cwd, smtp, slack, hook = project

    # cwd: the file's relative sqlite:///sample_data.db opens from there, as in SQL Sentinel
    _execute("high_api_error_rate", cwd)
    _execute("low_daily_revenue", cwd)

    with dg.DagsterInstance.get() as instance:
        for alert in ("high_api_error_rate", "low_daily_revenue"):
            records = instance.get_run_records(dg.RunsFilter(tags={"sentinel/alert": alert}))
            assert [r.dagster_run.tags["sentinel/status"] for r in records] == ["ALERT"]
            assert records[0].dagster_run.tags["sentinel/database"] == "alerts"
            # the secrets reached Dagster as EnvVars: none is in the run or its events
            recorded = repr(records[0].dagster_run) + repr(
                instance.all_logs(records[0].dagster_run.run_id))
            assert OPS_TOKEN not in recorded and slack.webhook_url not in recorded
    # email: the recipients of each entry, SQL Sentinel's subjects with the original names
    mails = {m["Subject"]: m for m in smtp.messages}
    assert set(mails) == {"[ALERT] High API Error Rate",
                          "Revenue Alert: Low Daily Revenue is ALERT (8512.5 < 10000)"}
    assert sorted(rcpts for _, rcpts in smtp.mailbox.envelopes) == [
        ["finance@example.com", "cfo@example.com"], ["oncall@example.com"]]
    revenue = mails["Revenue Alert: Low Daily Revenue is ALERT (8512.5 < 10000)"]
    assert revenue["From"] == "sqlsentinel@example.com"
    assert revenue["To"] == "finance@example.com, cfo@example.com"
    assert "Low Daily Revenue is firing" in revenue.get_body(("plain",)).get_content()
    # the Slack incoming webhook from SLACK_WEBHOOK_URL, with the entry's username
    [posted] = slack.webhook_messages
    assert posted["username"] == "SQL Sentinel"
    assert posted["blocks"][0]["text"]["text"] == "[FIRING] High API Error Rate — 20 > 5"
    # the webhook: PUT, with the entry's headers (the token expanded only when sending)
    [call] = hook
    assert call["method"] == "PUT"
    assert call["headers"]["Authorization"] == f"Bearer {OPS_TOKEN}"
    assert call["headers"]["X-Team"] == "platform"
    assert call["payload"]["alert"] == "high_api_error_rate"
    assert call["payload"]["kind"] == "firing" and call["payload"]["value"] == 20.0
