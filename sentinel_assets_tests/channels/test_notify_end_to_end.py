"""An alert through OK -> ALERT -> ALERT -> OK with Slack, webhook and email on real servers."""

from __future__ import annotations

import logging
import sqlite3
import textwrap
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.remote_representation.external_data import RepositorySnap
from dagster._serdes import serialize_value

from sentinel_assets.channels.email import EmailChannel
from sentinel_assets.channels.slack import SlackChannel
from sentinel_assets.channels.webhook import WebhookChannel
from sentinel_assets.databases.sql import SqlDatabase
from sentinel_assets.engine.evaluation import evaluate_alert
from sentinel_assets.orchestration.factory import build_sentinel_defs
from sentinel_assets.spec.loader import load_specs
from sentinel_assets.state.store import StateStore
from sentinel_assets_tests.notify_servers import (
    SLACK_TOKEN,
    SMTP_PASSWORD,
    SMTP_USER,
    WEBHOOK_SECRET,
    SmtpServer,
)

API_KEY = "api-key-1123581321"
QUERY = ("SELECT CASE WHEN SUM(amount) < 10000 THEN 'ALERT' ELSE 'OK' END AS status, "
         "SUM(amount) AS actual_value, 10000 AS threshold, COUNT(*) AS orders FROM orders")

pytest_plugins = ["sentinel_assets_tests.notify_servers"]


def shop_db(path, amount: float) -> str:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS orders (amount REAL)")
        conn.execute("DELETE FROM orders")
        conn.execute("INSERT INTO orders VALUES (?)", (amount,))
    return f"sqlite:///{path}"


@dataclass
class Specs:
    path: Path
    smtp: SmtpServer


@pytest.fixture
def specs(tmp_path, slack, receiver, smtp_factory, tls_files, monkeypatch):
    """Specs whose secrets all come from ${VARS}, pointing at the local servers."""
    smtp = smtp_factory("starttls", auth=True)
    monkeypatch.setenv("E2E_SLACK_TOKEN", SLACK_TOKEN)
    monkeypatch.setenv("E2E_WEBHOOK_URL", receiver.url)
    monkeypatch.setenv("E2E_WEBHOOK_SECRET", WEBHOOK_SECRET)
    monkeypatch.setenv("E2E_SMTP_PASSWORD", SMTP_PASSWORD)
    monkeypatch.setenv("E2E_API_KEY", API_KEY)
    monkeypatch.setenv("SENTINEL_WEBSERVER_URL", "http://dagster.example:3000")
    db = shop_db(tmp_path / "shop.db", 12000)
    folder = tmp_path / "specs"
    folder.mkdir()
    (folder / "alerts.yaml").write_text(textwrap.dedent(f"""
        databases:
          shop: {{url: "{db}"}}
        channels:
          chat:
            type: slack
            token: "${{E2E_SLACK_TOKEN}}"
            channel: "#data-alerts"
            base_url: "{slack.base_url}"
            retry_backoff: 0.01
          hook:
            type: webhook
            url: "${{E2E_WEBHOOK_URL}}"
            secret: "${{E2E_WEBHOOK_SECRET}}"
            headers: {{X-Api-Key: "${{E2E_API_KEY}}"}}
            retry_backoff: 0.01
          mail:
            type: email
            to: [oncall@example.com]
            smtp_host: 127.0.0.1
            smtp_port: {smtp.port}
            ca_file: "{tls_files[0]}"
            username: {SMTP_USER}
            password: "${{E2E_SMTP_PASSWORD}}"
            retry_backoff: 0.01
        alerts:
          - name: orders_revenue_low
            description: Yesterday's revenue is below 10k
            owner: chat
            tags: {{team: finance}}
            schedule: "0 9 * * *"
            database: shop
            query: "{QUERY}"
            notify: [chat, hook, mail]
        """))
    return Specs(folder, smtp)


SECRETS = (SLACK_TOKEN, WEBHOOK_SECRET, SMTP_PASSWORD, API_KEY, "sentinel-abc123")


def test_alert_episode_sends_one_firing_and_one_resolved_per_channel(
    specs, slack, receiver, dagster_home, state_url, caplog, tmp_path
):
    defs = build_sentinel_defs(specs.path)
    job = defs.resolve_job_def("orders_revenue_low")
    instance = dg.DagsterInstance.get()
    runs = []
    with caplog.at_level(logging.DEBUG):
        for amount in (12000, 8512, 8000, 11000):  # OK -> ALERT -> ALERT -> OK
            shop_db(tmp_path / "shop.db", amount)
            result = job.execute_in_process(instance=instance, raise_on_error=True)
            runs.append(result.run_id)

    statuses = [instance.get_run_by_id(r).tags["sentinel/status"] for r in runs]
    assert statuses == ["OK", "ALERT", "ALERT", "OK"]

    firing, resolved = slack.messages
    assert firing["text"] == "[FIRING] orders_revenue_low — 8,512 < 10,000"
    assert resolved["text"].startswith("[RESOLVED] orders_revenue_low — 11,000 > 10,000")
    assert "thread_ts" not in firing
    assert resolved["thread_ts"] == firing["ts"]
    assert f"http://dagster.example:3000/runs/{runs[1]}" in str(firing["blocks"])

    assert [r["payload"]["kind"] for r in receiver.received] == ["firing", "resolved"]
    assert {r["headers"]["X-Api-Key"] for r in receiver.received} == {API_KEY}
    assert receiver.received[0]["payload"]["run_id"] == runs[1]

    mails = specs.smtp.messages
    assert [m["Subject"].split("]")[0] for m in mails] == ["[FIRING", "[RESOLVED"]
    assert mails[1]["In-Reply-To"] == mails[0]["Message-ID"]

    deliveries = StateStore(state_url).deliveries("orders_revenue_low")
    assert sorted((d.channel, d.kind, d.status, d.attempts) for d in deliveries) == [
        ("chat", "firing", "sent", 1), ("chat", "resolved", "sent", 1),
        ("hook", "firing", "sent", 1), ("hook", "resolved", "sent", 1),
        ("mail", "firing", "sent", 1), ("mail", "resolved", "sent", 1),
    ]
    [metadata] = [e.dagster_event.step_output_data.metadata for e in instance.all_logs(runs[1])
                  if e.dagster_event and e.dagster_event.is_successful_output]
    for name in ("chat", "hook", "mail"):  # each delivery shows in the run's metadata
        assert f"`firing` → **{name}**: sent, 1 attempt(s)" in metadata["notices"].value

    # no secret in run tags, run config, the event log, or what sentinel and its libraries log
    seen = [serialize_value(instance.get_run_by_id(r).tags) for r in runs]
    seen += [serialize_value(instance.get_run_by_id(r).run_config) for r in runs]
    seen += [serialize_value(list(instance.all_logs(r))) for r in runs]
    seen += [r.getMessage() for r in caplog.records if not r.name.startswith("werkzeug")]
    for text in seen:
        for secret in SECRETS:
            assert secret not in text


def test_resource_config_shown_by_dagster_holds_env_var_names_not_secrets(specs, state_url):
    defs = build_sentinel_defs(specs.path)
    snapshot = serialize_value(RepositorySnap.from_def(defs.get_repository_def()))
    for secret in SECRETS:
        assert secret not in snapshot
    resources = defs.resources
    assert resources["sentinel_channel_chat"].token == dg.EnvVar("E2E_SLACK_TOKEN")
    assert resources["sentinel_channel_hook"].url == dg.EnvVar("E2E_WEBHOOK_URL")
    assert resources["sentinel_channel_hook"].secret == dg.EnvVar("E2E_WEBHOOK_SECRET")
    assert resources["sentinel_channel_hook"].headers == {"X-Api-Key": dg.EnvVar("E2E_API_KEY")}
    assert resources["sentinel_channel_mail"].password == dg.EnvVar("E2E_SMTP_PASSWORD")
    for name in ("E2E_SLACK_TOKEN", "E2E_WEBHOOK_URL", "E2E_WEBHOOK_SECRET", "E2E_API_KEY",
                 "E2E_SMTP_PASSWORD"):
        assert name in snapshot


# -- evaluate_alert directly: retries across evaluations and routing ------------------------------
def shop(tmp_path, amount: float | None) -> None:
    """Set yesterday's revenue; None drops the table so that the query fails."""
    if amount is None:
        with sqlite3.connect(tmp_path / "shop.db") as conn:
            conn.execute("DROP TABLE orders")
    else:
        shop_db(tmp_path / "shop.db", amount)


def evaluator(specs, tmp_path, state_url, slack, receiver, alert=None):
    """``evaluate(amount)`` runs one evaluation with channel resources made directly."""
    config = load_specs(specs.path)
    alert = alert or config.alert("orders_revenue_low")
    channels = {
        "chat": SlackChannel(token=SLACK_TOKEN, channel="#data-alerts", base_url=slack.base_url,
                             retry_backoff=0.01),
        "hook": WebhookChannel(url=receiver.url, secret=WEBHOOK_SECRET, max_attempts=2,
                               retry_backoff=0.01),
        "mail": EmailChannel(to=["oncall@example.com"], smtp_host="127.0.0.1",
                             smtp_port=specs.smtp.port, ca_file=config.channels["mail"].ca_file,
                             username=SMTP_USER, password=SMTP_PASSWORD, retry_backoff=0.01),
    }
    store = StateStore(state_url)
    database = SqlDatabase(url=f"sqlite:///{tmp_path / 'shop.db'}")

    def evaluate(amount: float | None):
        shop(tmp_path, amount)
        return evaluate_alert(alert, database=database, state_store=store, channels=channels)

    return store, evaluate


def test_failed_delivery_is_retried_on_the_next_evaluation_with_the_same_key(
    specs, slack, receiver, tmp_path, state_url
):
    store, evaluate = evaluator(specs, tmp_path, state_url, slack, receiver)
    receiver.fail_next(500, "down", times=2)  # both attempts of the first evaluation fail
    first = evaluate(8512)
    [failed] = [d for d in first.deliveries if d.channel == "hook"]
    assert not failed.ok and failed.attempts == 2 and "answered 500: down" in failed.error

    second = evaluate(8000)  # still ALERT: no new notice, the failed one goes out again
    [retried] = [d for d in second.deliveries if d.channel == "hook"]
    assert retried.ok and retried.retry
    assert retried.idempotency_key == failed.idempotency_key
    assert [r["payload"]["kind"] for r in receiver.received] == ["firing"]
    assert {a["Idempotency-Key"] for a in receiver.attempts} == {failed.idempotency_key}

    third = evaluate(7000)
    assert [d for d in third.deliveries if d.channel == "hook"] == []  # never sent twice
    [row] = [d for d in store.deliveries("orders_revenue_low") if d.channel == "hook"]
    assert (row.status, row.attempts) == ("sent", 3)
    assert len(slack.messages) == 1  # the other channels got their firing once


def test_notify_on_restricts_kinds_and_the_owner_gets_error_notices(
    specs, slack, receiver, tmp_path, state_url
):
    spec = load_specs(specs.path).alert("orders_revenue_low")
    data = spec.model_dump(by_alias=True)
    data.update(notify=["chat", {"channel": "hook", "on": ["resolved"]}], owner="mail")
    alert = type(spec).model_validate(data)
    _, evaluate = evaluator(specs, tmp_path, state_url, slack, receiver, alert)
    statuses = [evaluate(amount).status for amount in (8512, 12000, None, 12000)]
    assert statuses == ["ALERT", "OK", "ERROR", "OK"]

    assert [m["text"].split("]")[0] for m in slack.messages] == ["[FIRING", "[RESOLVED"]
    assert [r["payload"]["kind"] for r in receiver.received] == ["resolved"]
    assert [m["X-Sentinel-Kind"] for m in specs.smtp.messages] == ["error", "error_resolved"]
