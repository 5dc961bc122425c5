"""Webhook: one signed JSON POST per notice (schema ``sentinel.notice/v1``, docs/notifications.md)."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from typing import TYPE_CHECKING, Any

import dagster as dg

from sentinel_assets.channels.base import DeliveryResult
from sentinel_assets.channels.retry import RetryPolicy, retry_after_seconds
from sentinel_assets.core.messages import NoticeContext, render, report_problems, template_variables
from sentinel_assets.core.redaction import guard_library_loggers, redact, remember, url_origin
from sentinel_assets.spec.channels import WebhookSettings
from sentinel_assets.spec.env_vars import MissingEnvVar, expand

if TYPE_CHECKING:  # urllib3 is imported when the first notice is sent
    import urllib3

SCHEMA = "sentinel.notice/v1"
SIGNATURE_HEADER = "X-Sentinel-Signature"
USER_AGENT = "sentinel-assets"
# a receiver's answer is quoted in the error up to this many characters
BODY_EXCERPT = 200

_pool: urllib3.PoolManager | None = None
_pool_lock = threading.Lock()
guard_library_loggers()


def _pool_manager() -> urllib3.PoolManager:
    """The one connection pool of every webhook channel, made on first use."""
    global _pool
    if _pool is None:
        import urllib3

        with _pool_lock:
            if _pool is None:
                _pool = urllib3.PoolManager()
    return _pool


class WebhookChannel(dg.ConfigurableResource, WebhookSettings):
    """POSTs each notice as JSON, signed with HMAC-SHA256 when a ``secret`` is set.

    Each request carries ``Idempotency-Key`` (the same on every retry of a notice) and, with a
    secret, ``X-Sentinel-Signature: sha256=<hex HMAC-SHA256 of the raw body>``. Redirects are
    not followed. Connection errors, 429 and 5xx are retried with capped exponential backoff.

    Example:
        .. code-block:: python

            ops_hook = WebhookChannel(
                url=dg.EnvVar("OPS_WEBHOOK_URL"), secret=dg.EnvVar("OPS_WEBHOOK_SECRET")
            )
    """

    def deliver(self, context: NoticeContext, log: Any = None) -> DeliveryResult:
        """POST one notice; never raises."""
        try:
            url = expand(self.url)
            secret = expand(self.secret) if self.secret else None
            extra = {name: expand(value) for name, value in self.headers.items()}
        except MissingEnvVar as exc:
            return DeliveryResult(ok=False, attempts=0, error=f"cannot call the webhook: {exc}")
        secrets = (url, secret, *extra.values())
        remember(*secrets)
        payload, problems = notice_payload(context, self.templates)
        report_problems(context, problems, log)
        body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False,
                          default=str).encode("utf-8")
        headers = {
            **extra,
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "Idempotency-Key": context.idempotency_key,
        }
        if secret:
            headers[SIGNATURE_HEADER] = signature(secret, body)
        where = f"webhook {url_origin(url)}"
        import urllib3
        from urllib3.exceptions import MaxRetryError

        from sentinel_assets.channels.retry_adapters import urllib3_retry

        retry = RetryPolicy(max_attempts=self.max_attempts, backoff=self.retry_backoff)
        try:
            response = _pool_manager().request(
                self.method, url, body=body, headers=headers, redirect=False,
                retries=urllib3_retry(retry),
                timeout=urllib3.Timeout(connect=self.timeout, read=self.timeout),
            )
        except MaxRetryError as exc:
            attempts = getattr(exc, "attempts", self.max_attempts)
            return DeliveryResult(ok=False, attempts=attempts,
                                  error=redact(f"{where}: {self._reason(exc.reason)}", *secrets))
        except Exception as exc:  # noqa: BLE001 - a malformed URL and the like
            return DeliveryResult(ok=False, attempts=1,
                                  error=redact(f"{where}: {type(exc).__name__}: {exc}", *secrets))
        attempts = response.retries.attempts if response.retries is not None else 1
        detail: dict[str, Any] = {"status": response.status}
        if problems:
            detail["template_problems"] = list(problems)
        if 200 <= response.status < 300:
            if log is not None:
                log.info(f"sentinel notice [{context.notice.kind}] {context.notice.alert}: "
                         f"{where} accepted it ({response.status}) in {attempts} attempt(s)")
            return DeliveryResult(ok=True, attempts=attempts, detail=detail)
        return DeliveryResult(ok=False, attempts=attempts, detail=detail,
                              error=redact(f"{where} answered {self._status(response)}", *secrets))

    def _status(self, response: urllib3.BaseHTTPResponse) -> str:
        status = response.status
        excerpt = response.data[:BODY_EXCERPT].decode("utf-8", "replace").strip()
        text = f"{status}" + (f": {excerpt}" if excerpt else "")
        if 300 <= status < 400:
            return f"{status} (a redirect; redirects are not followed, set url to the final address)"
        if status == 429:
            wait = retry_after_seconds(response.headers)
            after = f", asking to wait {wait:g}s" if wait is not None else ""
            return f"{text} (rate limited{after}; retried on the next evaluation)"
        return text

    def _reason(self, reason: BaseException | None) -> str:
        from urllib3.exceptions import (
            ConnectTimeoutError,
            NewConnectionError,
            ProtocolError,
            ReadTimeoutError,
            SSLError,
        )

        if isinstance(reason, ReadTimeoutError):
            return f"no answer within {self.timeout:g}s (timeout)"
        if isinstance(reason, NewConnectionError):  # before ConnectTimeoutError, its base
            cause = reason.__cause__ or reason.__context__
            why = getattr(cause, "strerror", None) or "connection failed"
            return f"cannot connect: {why}"
        if isinstance(reason, ConnectTimeoutError):
            return f"could not connect within {self.timeout:g}s (timeout)"
        if isinstance(reason, SSLError):
            return f"TLS failed: {reason}"
        if isinstance(reason, ProtocolError):
            return f"the connection was dropped: {reason.args[0] if reason.args else reason}"
        return f"{type(reason).__name__}: {reason}" if reason else "gave up"


def signature(secret: str, body: bytes) -> str:
    """``sha256=<hex HMAC-SHA256 of body>``: what a receiver recomputes to trust a request."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def notice_payload(
    context: NoticeContext, templates: dict[str, str] | None = None
) -> tuple[dict[str, Any], tuple[str, ...]]:
    """The ``sentinel.notice/v1`` JSON object, and any template overrides that failed."""
    variables = template_variables(context)
    message = render(context, "webhook", templates)
    n = context.notice
    payload = {
        "schema": SCHEMA,
        "alert": n.alert,
        "kind": n.kind,
        "status": n.status,
        "previous_status": n.previous_status,
        "description": context.description,
        "message": variables["message"],
        "summary": message.subject,
        "text": message.body,
        "value": variables["value"],
        "threshold": variables["threshold"],
        "rows": variables["rows"],
        "tags": variables["tags"],
        "owner": context.owner,
        "database": context.database,
        "run_id": context.run_id,
        "run_url": context.run_url,
        "window": context.window,
        "evaluated_at": n.evaluated_at.isoformat(),
        "episode": n.episode,
        "escalated": n.escalated,
        "fingerprint": variables["fingerprint"],
        "idempotency_key": context.idempotency_key,
        "channel": context.channel,
        "silence": context.silence_hint,
    }
    return payload, message.problems
