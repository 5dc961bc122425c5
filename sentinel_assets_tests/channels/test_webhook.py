"""The webhook channel against local receivers that check the signature, fail, or hang."""

from __future__ import annotations

import logging

from sentinel_assets.channels.webhook import SCHEMA, WebhookChannel, signature
from sentinel_assets_tests.helpers import notice_context
from sentinel_assets_tests.notify_servers import (
    WEBHOOK_SECRET,
    WebhookReceiver,
    closed_port_url,
)

pytest_plugins = ["sentinel_assets_tests.notify_servers"]


def hook(url: str, **overrides) -> WebhookChannel:
    settings = dict(url=url, secret=WEBHOOK_SECRET, timeout=5, max_attempts=3,
                    retry_backoff=0.01)
    settings.update(overrides)
    return WebhookChannel(**settings)


def test_signed_payload_follows_the_documented_schema(receiver: WebhookReceiver):
    ctx = notice_context()
    result = hook(receiver.url).deliver(ctx)
    assert result.ok, result.error
    assert result.attempts == 1
    [got] = receiver.received
    payload = got["payload"]
    assert payload["schema"] == SCHEMA == "sentinel.notice/v1"
    assert {k: payload[k] for k in ("alert", "kind", "status", "previous_status", "value",
                                    "threshold", "owner", "run_id", "run_url")} == {
        "alert": "orders_revenue_low", "kind": "firing", "status": "FIRING",
        "previous_status": "OK", "value": 8512, "threshold": 10000, "owner": "data_team",
        "run_id": "abcd1234", "run_url": "http://dagster.local/runs/abcd1234"}
    assert payload["rows"] == [{"status": "ALERT", "actual_value": 8512, "threshold": 10000,
                                "orders": 41}]
    assert payload["tags"] == {"team": "finance", "severity": "high"}
    assert payload["evaluated_at"] == "2026-11-05T09:00:00+00:00"
    assert payload["summary"] == "[FIRING] orders_revenue_low — 8,512 < 10,000"
    assert "sentinel silence orders_revenue_low" in payload["text"]
    assert len(payload["fingerprint"]) == 16
    assert got["headers"]["Idempotency-Key"] == ctx.idempotency_key
    assert got["headers"]["Content-Type"] == "application/json"
    assert got["headers"]["X-Sentinel-Signature"] == signature(WEBHOOK_SECRET, got["body"])


def test_repeat_and_resolved_share_the_episode_fingerprint(receiver):
    channel = hook(receiver.url)
    channel.deliver(notice_context("firing"))
    channel.deliver(notice_context("resolved"))
    firing, resolved = (r["payload"] for r in receiver.received)
    assert firing["fingerprint"] == resolved["fingerprint"]
    assert firing["idempotency_key"] != resolved["idempotency_key"]


def test_custom_headers_may_come_from_the_environment(receiver, monkeypatch):
    monkeypatch.setenv("SENTINEL_TEST_API_KEY", "key-from-env-42")
    channel = hook(receiver.url, headers={"X-Api-Key": "${SENTINEL_TEST_API_KEY}",
                                          "X-Team": "finance"})
    assert channel.deliver(notice_context()).ok
    headers = receiver.received[0]["headers"]
    assert headers["X-Api-Key"] == "key-from-env-42" and headers["X-Team"] == "finance"


def test_server_error_then_success_is_retried_with_the_same_idempotency_key(receiver):
    receiver.fail_next(500, "try again")
    result = hook(receiver.url).deliver(notice_context())
    assert result.ok, result.error
    assert result.attempts == 2
    assert len(receiver.received) == 1
    keys = {a["Idempotency-Key"] for a in receiver.attempts}
    assert len(receiver.attempts) == 2 and len(keys) == 1


def test_rate_limit_honours_retry_after(receiver):
    receiver.fail_next(429, "slow down", {"Retry-After": "0"})
    result = hook(receiver.url).deliver(notice_context())
    assert result.ok and result.attempts == 2


def test_persistent_server_error_gives_up_after_max_attempts(receiver):
    receiver.fail_next(503, "down", times=5)
    result = hook(receiver.url, max_attempts=3).deliver(notice_context())
    assert not result.ok
    assert result.attempts == 3 and len(receiver.attempts) == 3
    assert result.error.startswith("webhook http://localhost:") or \
        result.error.startswith("webhook http://127.0.0.1:")
    assert "answered 503: down" in result.error


def test_client_error_is_not_retried(receiver):
    receiver.fail_next(400, "bad payload")
    result = hook(receiver.url).deliver(notice_context())
    assert not result.ok and result.attempts == 1
    assert "answered 400: bad payload" in result.error


def test_wrong_secret_is_rejected_by_the_receiver(receiver):
    result = hook(receiver.url, secret="not-the-shared-secret").deliver(notice_context())
    assert not result.ok and "401" in result.error
    assert "not-the-shared-secret" not in result.error


def test_redirects_are_not_followed(receiver, httpserver):
    httpserver.expect_request("/moved", method="POST").respond_with_data(
        "", status=307, headers={"Location": receiver.url})
    result = hook(httpserver.url_for("/moved")).deliver(notice_context())
    assert not result.ok and result.attempts == 1
    assert "redirects are not followed" in result.error
    assert receiver.attempts == []


def test_receiver_hanging_past_the_timeout_fails_without_a_retry(hanging_server):
    result = hook(hanging_server.url_for("/slow"), timeout=0.3).deliver(notice_context())
    assert not result.ok
    assert result.attempts == 1  # it may have been received: the next evaluation retries it
    assert "no answer within 0.3s (timeout)" in result.error


def test_refused_connection_is_retried_and_the_url_path_is_never_shown(caplog):
    url = closed_port_url("/hooks/T0/secret-path-token-777")
    with caplog.at_level(logging.DEBUG):
        result = hook(url, max_attempts=3).deliver(notice_context())
    assert not result.ok and result.attempts == 3
    assert "cannot connect" in result.error
    for text in (result.error, caplog.text):
        assert "secret-path-token-777" not in text
        assert WEBHOOK_SECRET not in text


def test_rate_limit_asking_for_too_long_a_wait_fails_now_for_a_later_retry(receiver):
    receiver.fail_next(429, "slow down", {"Retry-After": "3600"})
    result = hook(receiver.url).deliver(notice_context())
    assert not result.ok and result.attempts == 1
    assert "asking to wait 3600s" in result.error and "next evaluation" in result.error


def test_failing_template_override_falls_back_to_the_default_and_warns(receiver, caplog):
    ctx = notice_context(templates={"subject": "{{ value + 'x' }}"})
    with caplog.at_level(logging.WARNING):
        result = hook(receiver.url).deliver(ctx, logging.getLogger("sentinel_test"))
    assert result.ok
    assert receiver.received[0]["payload"]["summary"].startswith("[FIRING] orders_revenue_low")
    assert "alert templates.subject failed (TypeError" in caplog.text
