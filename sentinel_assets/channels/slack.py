"""Slack: ``chat.postMessage`` with a bot token, or an incoming webhook (``webhook_url``).

With a bot token, the ``repeat``, ``escalation`` and ``resolved`` notices of a firing episode
are replies in the thread of its ``firing`` message: the firing message's ``ts`` is returned as
the delivery's ``external_id``, kept in the state store, and comes back as
``NoticeContext.thread_id``. Incoming webhooks return no ``ts``, so their notices stand alone.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any
from urllib.error import URLError

import dagster as dg

from sentinel_assets.channels.base import DeliveryResult
from sentinel_assets.channels.retry import AttemptCounter, RetryPolicy, retry_after_seconds
from sentinel_assets.core.lifecycle import ESCALATION, RESOLVED
from sentinel_assets.core.messages import Message, NoticeContext, render, report_problems
from sentinel_assets.core.redaction import RedactingFilter, redact, remember, url_origin
from sentinel_assets.spec.channels import SlackSettings
from sentinel_assets.spec.env_vars import MissingEnvVar, expand

if TYPE_CHECKING:  # slack-sdk is imported when a client is built
    from slack_sdk.errors import SlackApiError

DEFAULT_API_ROOT = "https://slack.com/api/"
SECTION_LIMIT = 3000  # characters of one Block Kit section
MAX_BLOCKS = 50
# notices that also show in the channel, not only in the firing message's thread
BROADCAST_KINDS = frozenset({ESCALATION, RESOLVED})
_TOKEN_ERRORS = {"invalid_auth", "not_authed", "token_revoked", "token_expired",
                 "account_inactive", "missing_scope", "no_permission"}

# slack-sdk logs request URLs (an incoming-webhook URL is a secret): give it a redacting logger
_sdk_log = logging.getLogger("sentinel_assets.channels.slack_sdk")
_sdk_log.addFilter(RedactingFilter())


class SlackChannel(dg.ConfigurableResource, SlackSettings):
    """Posts each notice to Slack as Block Kit blocks with a plain-text fallback.

    Example:
        .. code-block:: python

            data_team = SlackChannel(token=dg.EnvVar("SLACK_BOT_TOKEN"), channel="#data-alerts")
            # or an incoming webhook:
            data_team = SlackChannel(webhook_url=dg.EnvVar("SLACK_WEBHOOK_URL"))
    """

    def deliver(self, context: NoticeContext, log: Any = None) -> DeliveryResult:
        """Post one notice; never raises."""
        message = render(context, self.kind, self.templates)
        report_problems(context, message.problems, log)
        try:
            result = self._post_webhook(message) if self.webhook_url else self._post(context, message)
        except MissingEnvVar as exc:
            return DeliveryResult(ok=False, attempts=0, error=f"cannot post to Slack: {exc}")
        if message.problems:
            result.detail["template_problems"] = list(message.problems)
        if result.ok and log is not None:
            log.info(f"sentinel notice [{context.notice.kind}] {context.notice.alert}: posted to "
                     f"Slack channel {context.channel!r} in {result.attempts} attempt(s)")
        return result

    def check(self) -> str:
        """``auth.test`` with the bot token: nothing is posted (healthcheck).

        An incoming webhook cannot be probed without posting, so it is not.

        Raises:
            ConnectionError: Slack cannot be reached or rejected the token.
        """
        if self.webhook_url:
            return "incoming webhook; not probed, since any request to it would post"
        if not self.token:
            raise ValueError("a slack channel needs token and channel, or webhook_url")
        from slack_sdk import WebClient
        from slack_sdk.errors import SlackApiError

        token = expand(self.token)
        remember(token)
        client = WebClient(token=token, base_url=api_root(self.base_url), timeout=self.timeout,
                           logger=_sdk_log)
        try:
            response = client.auth_test()
        except SlackApiError as exc:
            raise ConnectionError(redact(self._api_error(exc), token)) from None
        except Exception as exc:  # noqa: BLE001 - connection trouble becomes one sentence
            where = url_origin(api_root(self.base_url))
            raise ConnectionError(redact(f"cannot reach the Slack API at {where}: "
                                         f"{_reason(exc)}", token)) from None
        return f"auth.test ok as {response.get('user')} in {response.get('team')}"

    def _policy(self) -> RetryPolicy:
        return RetryPolicy(max_attempts=self.max_attempts, backoff=self.retry_backoff)

    def _post(self, context: NoticeContext, message: Message) -> DeliveryResult:
        if not self.token or not self.channel:
            return DeliveryResult(ok=False, attempts=0,
                                  error="a slack channel needs token and channel, or webhook_url")
        from slack_sdk import WebClient
        from slack_sdk.errors import SlackApiError

        from sentinel_assets.channels.retry_adapters import slack_handlers

        token = expand(self.token)
        remember(token)
        counter = AttemptCounter()
        client = WebClient(token=token, base_url=api_root(self.base_url), timeout=self.timeout,
                           retry_handlers=slack_handlers(self._policy(), counter), logger=_sdk_log)
        request: dict[str, Any] = {
            "channel": self.channel,
            "text": message.subject,
            "blocks": blocks(message),
            "unfurl_links": False,
            "unfurl_media": False,
        }
        if context.thread_id:
            request["thread_ts"] = context.thread_id
            request["reply_broadcast"] = context.notice.kind in BROADCAST_KINDS
        try:
            response = client.chat_postMessage(**request)
        except SlackApiError as exc:
            return DeliveryResult(ok=False, attempts=counter.attempts,
                                  error=redact(self._api_error(exc), token))
        except Exception as exc:  # noqa: BLE001 - connection errors after the retries
            where = url_origin(api_root(self.base_url))
            return DeliveryResult(ok=False, attempts=counter.attempts,
                                  error=redact(f"cannot reach the Slack API at {where}: "
                                               f"{_reason(exc)}", token))
        detail = {"channel": response.get("channel"), "ts": response.get("ts")}
        if context.thread_id:
            detail["thread_ts"] = context.thread_id
        return DeliveryResult(ok=True, attempts=counter.attempts, external_id=response.get("ts"),
                              detail=detail)

    def _api_error(self, exc: SlackApiError) -> str:
        response = exc.response
        data = response.data if isinstance(response.data, dict) else {}
        code = data.get("error") or f"HTTP {response.status_code}"
        if response.status_code == 429:
            wait = retry_after_seconds(response.headers)
            after = f" and asked to wait {wait:g}s" if wait is not None else ""
            return (f"Slack rate-limited the message (429{after}); it will be retried on the "
                    "next evaluation")
        if code == "channel_not_found":
            return (f"Slack channel {self.channel!r} was not found (channel_not_found); check the "
                    "name, and invite the bot if the channel is private")
        if code == "not_in_channel":
            return (f"the bot is not a member of Slack channel {self.channel!r} (not_in_channel); "
                    "invite it with /invite")
        if code in _TOKEN_ERRORS:
            return (f"Slack rejected the bot token ({code}); check the token and the environment "
                    "variable it comes from")
        return f"Slack answered {code} (HTTP {response.status_code})"

    def _post_webhook(self, message: Message) -> DeliveryResult:
        from slack_sdk.webhook import WebhookClient

        from sentinel_assets.channels.retry_adapters import slack_handlers

        url = expand(self.webhook_url or "")
        remember(url)
        counter = AttemptCounter()
        client = WebhookClient(url, timeout=self.timeout, logger=_sdk_log,
                               retry_handlers=slack_handlers(self._policy(), counter))
        where = f"the Slack incoming webhook at {url_origin(url)}"
        try:
            body: dict[str, Any] = {"text": message.subject, "blocks": blocks(message),
                                    "unfurl_links": False, "unfurl_media": False}
            # overrides that legacy webhooks honour (SQL Sentinel sent them too)
            body.update({k: v for k, v in (("channel", self.channel),
                                           ("username", self.username)) if v})
            response = client.send_dict(body)
        except Exception as exc:  # noqa: BLE001 - connection errors after the retries
            return DeliveryResult(ok=False, attempts=counter.attempts,
                                  error=redact(f"cannot reach {where}: {_reason(exc)}", url))
        if response.status_code == 200:
            return DeliveryResult(ok=True, attempts=counter.attempts)
        body = (response.body or "").strip()[:200]
        hint = ""
        if body in ("invalid_token", "no_service", "no_team", "team_disabled"):
            hint = "; the webhook URL is no longer valid: check its environment variable"
        elif body in ("channel_not_found", "channel_is_archived", "action_prohibited"):
            hint = "; the webhook's channel cannot be posted to"
        return DeliveryResult(ok=False, attempts=counter.attempts,
                              error=redact(f"{where} answered {response.status_code} "
                                           f"{body or '(no body)'}{hint}", url))


def api_root(base_url: str | None) -> str:
    """The Web API root with the trailing slash slack-sdk needs."""
    root = base_url or DEFAULT_API_ROOT
    return root if root.endswith("/") else root + "/"


def blocks(message: Message) -> list[dict[str, Any]]:
    """Block Kit: a header with the subject, then the body in sections of at most 3000 chars."""
    result: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": message.subject, "emoji": True}}
    ]
    for chunk in _chunks(message.body.strip(), SECTION_LIMIT):
        result.append({"type": "section", "text": {"type": "mrkdwn", "text": chunk}})
    return result[:MAX_BLOCKS]


def _chunks(text: str, limit: int) -> list[str]:
    chunks: list[str] = []
    current = ""
    for line in text.splitlines(keepends=True):
        while len(line) > limit:
            if current:
                chunks.append(current)
                current = ""
            chunks.append(line[:limit])
            line = line[limit:]
        if len(current) + len(line) > limit:
            chunks.append(current)
            current = ""
        current += line
    if current.strip():
        chunks.append(current)
    return [c.rstrip("\n") for c in chunks if c.strip()] or ["(empty)"]


def _reason(exc: BaseException) -> str:
    if isinstance(exc, URLError):
        reason = exc.reason
        return str(getattr(reason, "strerror", None) or reason)
    if isinstance(exc, TimeoutError):
        return "timed out"
    return f"{type(exc).__name__}: {exc}"
