"""The email channel against a real SMTP server (aiosmtpd) on loopback."""

from __future__ import annotations

import logging

from sentinel_assets.channels.email import EmailChannel
from sentinel_assets_tests.helpers import free_port, notice_context
from sentinel_assets_tests.notify_servers import SMTP_PASSWORD, SMTP_USER

pytest_plugins = ["sentinel_assets_tests.notify_servers"]


def channel(port: int, **overrides) -> EmailChannel:
    settings = dict(to=["oncall@example.com"], cc=["lead@example.com"],
                    sender="sentinel@example.com", smtp_host="127.0.0.1", smtp_port=port,
                    security="none", timeout=5, max_attempts=3, retry_backoff=0.01)
    settings.update(overrides)
    return EmailChannel(**settings)


def test_firing_notice_arrives_as_multipart_text_and_html_email(smtp_factory):
    server = smtp_factory("none")
    result = channel(server.port).deliver(notice_context())
    assert result.ok and result.attempts == 1
    [msg] = server.messages
    assert msg["Subject"] == "[FIRING] orders_revenue_low — 8,512 < 10,000"
    assert msg["From"] == "sentinel@example.com"
    assert msg["To"] == "oncall@example.com" and msg["Cc"] == "lead@example.com"
    assert server.mailbox.envelopes[0][1] == ["oncall@example.com", "lead@example.com"]
    assert msg.get_content_type() == "multipart/alternative"
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    for part in (text, html):
        assert "Yesterday's revenue is below 10k" in part or "Yesterday&#39;s revenue" in part
        assert "8,512" in part and "10,000" in part
        assert "http://dagster.local/runs/abcd1234" in part
        assert "sentinel silence orders_revenue_low" in part
        assert "team=finance" in part and "data_team" in part
    assert "actual_value | threshold | orders" in text  # the first rows as a small table
    assert "<th" in html and ">41</td>" in html
    assert result.external_id == msg["Message-ID"]


def test_resolved_email_replies_to_the_firing_email(smtp_factory):
    server = smtp_factory("none")
    mail = channel(server.port)
    firing = mail.deliver(notice_context("firing"))
    resolved = mail.deliver(notice_context("resolved", thread_id=firing.external_id))
    assert resolved.ok
    first, second = server.messages
    assert second["Subject"].startswith("[RESOLVED] orders_revenue_low")
    assert second["In-Reply-To"] == first["Message-ID"]
    assert second["References"] == first["Message-ID"]


def test_starttls_with_login_delivers_and_verifies_the_certificate(smtp_factory, tls_files):
    server = smtp_factory("starttls", auth=True)
    cert, _ = tls_files
    mail = channel(server.port, security="starttls", ca_file=str(cert), username=SMTP_USER,
                   password=SMTP_PASSWORD)
    result = mail.deliver(notice_context())
    assert result.ok, result.error
    assert len(server.messages) == 1


def test_implicit_tls_delivers(smtp_factory, tls_files):
    server = smtp_factory("ssl")
    cert, _ = tls_files
    result = channel(server.port, security="ssl", ca_file=str(cert)).deliver(notice_context())
    assert result.ok, result.error
    assert len(server.messages) == 1


def test_untrusted_certificate_fails_at_once_with_a_hint(smtp_factory):
    server = smtp_factory("starttls")
    result = channel(server.port, security="starttls").deliver(notice_context())
    assert not result.ok
    assert result.attempts == 1
    assert "could not be verified" in result.error and "ca_file" in result.error


def test_wrong_password_is_not_retried_and_not_shown(smtp_factory, tls_files):
    server = smtp_factory("starttls", auth=True)
    cert, _ = tls_files
    secret = "wrong-password-31337"
    result = channel(server.port, security="starttls", ca_file=str(cert), username=SMTP_USER,
                     password=secret).deliver(notice_context())
    assert not result.ok and result.attempts == 1
    assert "rejected the login" in result.error
    assert secret not in result.error
    assert server.messages == []


def test_refused_connection_is_retried_then_reported():
    port = free_port()  # nothing listens here
    result = channel(port, max_attempts=3).deliver(notice_context())
    assert not result.ok
    assert result.attempts == 3
    assert result.error == f"cannot connect to the SMTP server 127.0.0.1:{port}: connection refused"


def test_dropped_connection_is_retried_and_the_mail_arrives_once(smtp_factory):
    server = smtp_factory("none")
    server.mailbox.drop_next = 1
    result = channel(server.port).deliver(notice_context())
    assert result.ok, result.error
    assert result.attempts == 2
    assert len(server.messages) == 1


def test_connection_dropped_every_time_gives_up_after_max_attempts(smtp_factory):
    server = smtp_factory("none")
    server.mailbox.drop_next = 5
    result = channel(server.port, max_attempts=2).deliver(notice_context())
    assert not result.ok and result.attempts == 2
    assert "closed the connection" in result.error


def test_password_from_an_unset_variable_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("SENTINEL_TEST_UNSET_PW", raising=False)
    result = channel(free_port(), username="u", password="pre-${SENTINEL_TEST_UNSET_PW}") \
        .deliver(notice_context())
    assert not result.ok and result.attempts == 0
    assert "SENTINEL_TEST_UNSET_PW is not set" in result.error


def test_alert_template_overrides_the_subject(smtp_factory, caplog):
    server = smtp_factory("none")
    ctx = notice_context(templates={"subject": "{{ kind_label }}: {{ alert }} at {{ value_text }}"})
    with caplog.at_level(logging.INFO):
        result = channel(server.port).deliver(ctx, logging.getLogger("test"))
    assert result.ok
    assert server.messages[0]["Subject"] == "FIRING: orders_revenue_low at 8,512"
