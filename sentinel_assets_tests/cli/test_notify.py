"""``sentinel notify-test CHANNEL`` against local receivers."""

from __future__ import annotations

import json
import textwrap

import pytest
from click.testing import CliRunner

from sentinel_assets.cli.main import main
from sentinel_assets_tests.notify_servers import (
    SLACK_TOKEN,
    WEBHOOK_SECRET,
    closed_port_url,
)

pytest_plugins = ["sentinel_assets_tests.notify_servers"]


@pytest.fixture
def specs_dir(tmp_path, slack, receiver, monkeypatch):
    monkeypatch.setenv("NT_SLACK_TOKEN", SLACK_TOKEN)
    monkeypatch.setenv("NT_HOOK_URL", receiver.url)
    monkeypatch.setenv("NT_HOOK_SECRET", WEBHOOK_SECRET)
    monkeypatch.setenv("NT_DEAD_URL", closed_port_url("/hooks/dead-secret-path"))
    monkeypatch.delenv("NT_UNSET_TOKEN", raising=False)
    (tmp_path / "channels.yaml").write_text(textwrap.dedent(f"""
        channels:
          hook: {{type: webhook, url: "${{NT_HOOK_URL}}", secret: "${{NT_HOOK_SECRET}}"}}
          chat:
            type: slack
            token: "${{NT_SLACK_TOKEN}}"
            channel: "#data-alerts"
            base_url: "{slack.base_url}"
          dead: {{type: webhook, url: "${{NT_DEAD_URL}}", max_attempts: 2, retry_backoff: 0.01}}
          unset: {{type: slack, token: "${{NT_UNSET_TOKEN}}", channel: "#x"}}
          outbox: {{type: log, path: "{tmp_path / 'outbox.jsonl'}"}}
        """))
    return tmp_path


def notify_test(*args: str):
    return CliRunner().invoke(main, ["notify-test", *args])


def test_sends_a_test_notice_to_a_webhook(specs_dir, receiver):
    result = notify_test("hook", "--specs", str(specs_dir))
    assert result.exit_code == 0, result.output
    assert "sent a test firing notice to hook (webhook) in 1 attempt(s)" in result.output
    [got] = receiver.received
    assert got["payload"]["alert"] == "sentinel_notify_test"
    assert "test notice" in got["payload"]["message"]


def test_sends_a_test_notice_to_slack_and_prints_the_message_id(specs_dir, slack):
    result = notify_test("chat", "--specs", str(specs_dir), "--kind", "resolved")
    assert result.exit_code == 0, result.output
    [message] = slack.messages
    assert message["text"].startswith("[RESOLVED] sentinel_notify_test")
    assert f"message id {message['ts']}" in result.output


def test_log_channel_works_too(specs_dir):
    result = notify_test("outbox", "--specs", str(specs_dir))
    assert result.exit_code == 0, result.output
    record = json.loads((specs_dir / "outbox.jsonl").read_text())
    assert record["alert"] == "sentinel_notify_test"


def test_failure_is_printed_and_exits_1_without_secrets(specs_dir):
    result = notify_test("dead", "--specs", str(specs_dir), "--output", "json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["ok"] is False and report["attempts"] == 2
    assert "cannot connect" in report["error"]
    assert "dead-secret-path" not in result.output


def test_unset_secret_variable_is_reported(specs_dir):
    result = notify_test("unset", "--specs", str(specs_dir))
    assert result.exit_code == 1
    assert "FAILED to send a test firing notice to unset (slack)" in result.output
    assert "NT_UNSET_TOKEN" in result.output


def test_unknown_channel_lists_the_defined_ones(specs_dir):
    result = notify_test("nope", "--specs", str(specs_dir))
    assert result.exit_code != 0
    assert "no channel named 'nope'" in result.output
    assert "chat, dead, hook, outbox, unset" in result.output
