"""The Slack channel through slack-sdk, pointed with ``base_url`` at a local Slack Web API."""

from __future__ import annotations

import logging

from sentinel_assets.channels.slack import SlackChannel
from sentinel_assets_tests.helpers import notice_context
from sentinel_assets_tests.notify_servers import (
    SLACK_TOKEN,
    FakeSlack,
    closed_port_url,
)

pytest_plugins = ["sentinel_assets_tests.notify_servers"]


def bot(slack: FakeSlack, **overrides) -> SlackChannel:
    settings = dict(token=SLACK_TOKEN, channel="#data-alerts", base_url=slack.base_url,
                    timeout=5, max_attempts=3, retry_backoff=0.01)
    settings.update(overrides)
    return SlackChannel(**settings)


def test_firing_notice_is_posted_as_blocks_with_a_text_fallback(slack):
    result = bot(slack).deliver(notice_context())
    assert result.ok, result.error
    assert result.attempts == 1
    [message] = slack.messages
    assert message["channel"] == "#data-alerts"
    assert message["text"] == "[FIRING] orders_revenue_low — 8,512 < 10,000"
    header, *sections = message["blocks"]
    assert header == {"type": "header", "text": {"type": "plain_text", "emoji": True,
                                                 "text": message["text"]}}
    body = "\n".join(s["text"]["text"] for s in sections)
    assert "Yesterday's revenue is below 10k" in body
    assert "`8,512` vs threshold `10,000`" in body
    assert "actual_value | threshold | orders" in body
    assert "<http://dagster.local/runs/abcd1234|View the run in Dagster>" in body
    assert "sentinel silence orders_revenue_low" in body
    assert "team=finance" in body and "data_team" in body
    assert "thread_ts" not in message
    assert result.external_id == message["ts"]


def test_resolved_notice_replies_in_the_firing_message_thread(slack):
    channel = bot(slack)
    firing = channel.deliver(notice_context("firing"))
    resolved = channel.deliver(notice_context("resolved", thread_id=firing.external_id))
    assert resolved.ok
    first, second = slack.messages
    assert second["thread_ts"] == first["ts"] == firing.external_id
    assert second["reply_broadcast"] is True  # the channel sees that it is over
    assert second["text"].startswith("[RESOLVED] orders_revenue_low")


def test_rate_limit_is_honoured_with_retry_after(slack):
    slack.fail_next(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "1"})
    result = bot(slack).deliver(notice_context())
    assert result.ok, result.error
    assert result.attempts == 2
    assert len(slack.messages) == 1
    first, second = slack.request_times
    assert second - first >= 1.0  # slack-sdk waited as long as the server asked


def test_rate_limit_asking_for_too_long_a_wait_fails_now_for_a_later_retry(slack):
    slack.fail_next(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "3600"})
    result = bot(slack).deliver(notice_context())
    assert not result.ok and result.attempts == 1
    assert "rate-limited" in result.error and "3600" in result.error
    assert slack.requests == 1


def test_server_error_is_retried(slack):
    slack.fail_next(503, "upstream unavailable")
    result = bot(slack).deliver(notice_context())
    assert result.ok, result.error
    assert result.attempts == 2


def test_channel_not_found_is_not_retried_and_said_clearly(slack):
    result = bot(slack, channel="#nowhere").deliver(notice_context())
    assert not result.ok
    assert result.attempts == 1 and slack.requests == 1
    assert "'#nowhere' was not found (channel_not_found)" in result.error


def test_invalid_token_is_not_retried_and_not_shown(slack):
    token = "xoxb-revoked-999999999"
    result = bot(slack, token=token).deliver(notice_context())
    assert not result.ok and result.attempts == 1
    assert "rejected the bot token (invalid_auth)" in result.error
    assert token not in result.error


def test_unreachable_api_is_retried_then_reported():
    url = closed_port_url("/api/")
    result = SlackChannel(token=SLACK_TOKEN, channel="#data-alerts", base_url=url,
                          max_attempts=2, retry_backoff=0.01).deliver(notice_context())
    assert not result.ok and result.attempts == 2
    assert result.error.startswith("cannot reach the Slack API at http://127.0.0.1:")
    assert SLACK_TOKEN not in result.error


def test_incoming_webhook_variant_posts_blocks(slack):
    channel = SlackChannel(webhook_url=slack.webhook_url, max_attempts=2, retry_backoff=0.01)
    result = channel.deliver(notice_context())
    assert result.ok, result.error
    [message] = slack.webhook_messages
    assert message["text"].startswith("[FIRING] orders_revenue_low")
    assert message["blocks"][0]["type"] == "header"


def test_incoming_webhook_errors_never_show_the_url(slack, caplog):
    slack.fail_next(404, "no_service")
    slack.fail_next(500, "oops", times=3)
    channel = SlackChannel(webhook_url=slack.webhook_url, max_attempts=2, retry_backoff=0.01)
    with caplog.at_level(logging.DEBUG):
        gone = channel.deliver(notice_context())
        failing = channel.deliver(notice_context())
    assert not gone.ok and gone.attempts == 1
    assert "answered 404 no_service" in gone.error and "no longer valid" in gone.error
    assert not failing.ok and failing.attempts == 2
    # what sentinel and slack-sdk log (the fake server's own access log aside)
    logged = [r.getMessage() for r in caplog.records if not r.name.startswith("werkzeug")]
    assert any("Sending a request" in line for line in logged)
    for text in (gone.error, failing.error, *logged):
        assert "hooksecret123" not in text
