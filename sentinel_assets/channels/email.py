"""Email over SMTP: STARTTLS, implicit TLS or plain, optional login, text + HTML parts."""

from __future__ import annotations

import smtplib
import socket
import ssl
from datetime import datetime, timezone
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import Any

import dagster as dg

from sentinel_assets.channels.base import DeliveryResult
from sentinel_assets.channels.retry import GaveUp, RetryPolicy
from sentinel_assets.core.messages import NoticeContext, render, report_problems
from sentinel_assets.core.redaction import redact
from sentinel_assets.spec.channels import EmailSettings
from sentinel_assets.spec.env_vars import MissingEnvVar, expand

SECURITY_MODES = ("starttls", "ssl", "none")


class EmailChannel(dg.ConfigurableResource, EmailSettings):
    """Sends each notice as a multipart (text + HTML) email through an SMTP server.

    Repeat, escalation and resolved notices of an episode reply to its firing email
    (``In-Reply-To``/``References``), so mail clients show them as one thread.

    Example:
        .. code-block:: python

            oncall = EmailChannel(
                to=["oncall@example.com"],
                smtp_host="smtp.example.com",
                username="sentinel",
                password=dg.EnvVar("SMTP_PASSWORD"),
            )
    """

    def deliver(self, context: NoticeContext, log: Any = None) -> DeliveryResult:
        """Send one notice; never raises."""
        if self.security not in SECURITY_MODES:
            return DeliveryResult(ok=False, attempts=0, error=f"security must be one of "
                                  f"{', '.join(SECURITY_MODES)}, got {self.security!r}")
        try:
            username = expand(self.username) if self.username else None
            password = expand(self.password) if self.password else None
        except MissingEnvVar as exc:
            return DeliveryResult(ok=False, attempts=0, error=f"cannot log in to SMTP: {exc}")
        secrets = (username, password)
        try:
            message, problems = self.message(context)
        except Exception as exc:  # noqa: BLE001 - a broken address must not raise out of deliver
            return DeliveryResult(ok=False, attempts=0,
                                  error=redact(f"cannot build the email: {exc}", *secrets))
        report_problems(context, problems, log)
        policy = RetryPolicy(max_attempts=self.max_attempts, backoff=self.retry_backoff)
        try:
            refused, attempts = policy.call(lambda: self._send(message, username, password),
                                            _retryable)
        except GaveUp as failure:
            return DeliveryResult(ok=False, attempts=failure.attempts,
                                  error=redact(self._describe(failure.error), *secrets))
        message_id = message["Message-ID"]
        detail: dict[str, Any] = {"message_id": message_id, "recipients": len(self.to + self.cc)}
        if refused:
            detail["refused"] = {rcpt: f"{code} {text!r}" for rcpt, (code, text) in refused.items()}
        if problems:
            detail["template_problems"] = list(problems)
        if log is not None:
            log.info(f"sentinel notice [{context.notice.kind}] {context.notice.alert}: emailed "
                     f"to channel {context.channel!r} in {attempts} attempt(s)")
        return DeliveryResult(ok=True, attempts=attempts, external_id=message_id, detail=detail)

    def message(self, context: NoticeContext) -> tuple[EmailMessage, tuple[str, ...]]:
        """The email for a notice, and any template overrides that failed and were replaced."""
        rendered = render(context, "email", self.templates)
        msg = EmailMessage()
        msg["Subject"] = rendered.subject
        msg["From"] = self.sender
        msg["To"] = ", ".join(self.to)
        if self.cc:
            msg["Cc"] = ", ".join(self.cc)
        msg["Date"] = format_datetime(datetime.now(timezone.utc))
        msg["Message-ID"] = message_id(context.idempotency_key, context.channel, self.sender)
        if context.thread_id:
            msg["In-Reply-To"] = context.thread_id
            msg["References"] = context.thread_id
        msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation auto-replies
        msg["X-Sentinel-Alert"] = context.notice.alert
        msg["X-Sentinel-Kind"] = context.notice.kind
        msg["X-Sentinel-Idempotency-Key"] = context.idempotency_key
        msg.set_content(rendered.body)
        if rendered.html:
            msg.add_alternative(rendered.html, subtype="html")
        return msg, rendered.problems

    def check(self) -> str:
        """Connect, log in when configured and send ``NOOP``: no mail is sent (healthcheck).

        Raises:
            ConnectionError: the server cannot be reached or refused the login; the message
                says which, without credentials.
        """
        username = expand(self.username) if self.username else None
        password = expand(self.password) if self.password else None
        try:
            with self._open(username, password) as server:
                code, _ = server.noop()
        except Exception as exc:  # noqa: BLE001 - every failure becomes one sentence
            raise ConnectionError(redact(self._describe(exc), username, password)) from None
        return f"SMTP NOOP answered {code}"

    def _open(self, username: str | None, password: str | None) -> smtplib.SMTP:
        """A connected SMTP session: TLS as configured, logged in when a username is set."""
        tls = ssl.create_default_context(cafile=self.ca_file)
        if self.security == "ssl":
            server: smtplib.SMTP = smtplib.SMTP_SSL(self.smtp_host, self.smtp_port,
                                                    timeout=self.timeout, context=tls)
        else:
            server = smtplib.SMTP(self.smtp_host, self.smtp_port, timeout=self.timeout)
        try:
            server.ehlo()
            if self.security == "starttls":
                server.starttls(context=tls)
                server.ehlo()
            if username:
                server.login(username, password or "")
        except BaseException:
            server.close()
            raise
        return server

    def _send(self, message: EmailMessage, username: str | None, password: str | None) -> dict:
        with self._open(username, password) as server:
            return server.send_message(message)

    def _describe(self, exc: BaseException) -> str:
        where = f"SMTP server {self.smtp_host}:{self.smtp_port}"
        if isinstance(exc, ConnectionRefusedError):
            return f"cannot connect to the {where}: connection refused"
        if isinstance(exc, (socket.timeout, TimeoutError)):
            return f"the {where} did not answer within {self.timeout:g}s"
        if isinstance(exc, smtplib.SMTPServerDisconnected):
            return f"the {where} closed the connection ({exc or 'no reason given'})"
        if isinstance(exc, smtplib.SMTPAuthenticationError):
            return (f"the {where} rejected the login ({exc.smtp_code} {_text(exc.smtp_error)}); "
                    "check the username and the password's environment variable")
        if isinstance(exc, smtplib.SMTPNotSupportedError):
            return (f"the {where} does not support {exc}; set security: ssl for implicit TLS, or "
                    "none for a plain connection")
        if isinstance(exc, smtplib.SMTPRecipientsRefused):
            refused = ", ".join(f"{r} ({c} {_text(t)})" for r, (c, t) in exc.recipients.items())
            return f"the {where} refused every recipient: {refused}"
        if isinstance(exc, smtplib.SMTPResponseException):
            return f"the {where} answered {exc.smtp_code} {_text(exc.smtp_error)}"
        if isinstance(exc, ssl.SSLCertVerificationError):
            return (f"the TLS certificate of the {where} could not be verified "
                    f"({exc.verify_message}); set ca_file to the CA that signed it")
        if isinstance(exc, ssl.SSLError):
            return f"TLS with the {where} failed: {exc}"
        if isinstance(exc, OSError):
            return f"cannot reach the {where}: {exc.strerror or exc}"
        return f"sending to the {where} failed: {type(exc).__name__}: {exc}"


def message_id(idempotency_key: str, channel: str, sender: str) -> str:
    """A Message-ID that is the same on every retry of one notice to one channel."""
    domain = parseaddr(sender)[1].rpartition("@")[2] or "localhost"
    return f"<sentinel.{idempotency_key}.{channel}@{domain}>"


def _retryable(exc: BaseException) -> bool:
    """Connection trouble and 4xx (transient) SMTP replies are retried; the rest is final."""
    if isinstance(exc, ssl.SSLError):
        return False
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(400 <= code < 500 for code, _ in exc.recipients.values())
    if isinstance(exc, (smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError)):
        return True
    if isinstance(exc, smtplib.SMTPResponseException):
        return 400 <= exc.smtp_code < 500
    if isinstance(exc, smtplib.SMTPException):
        return False
    return isinstance(exc, OSError)


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
