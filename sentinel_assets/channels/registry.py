"""Builds the Dagster resource of each channel from its spec (``channel_resource``).

Secret fields go
through ``resources.secret_value``: a whole ``${VAR}`` becomes ``dg.EnvVar("VAR")`` so the
Dagster UI shows the variable's name, never its value; a value with a reference inside it
(``https://hooks.example.com/${TOKEN}``) stays a template, expanded when a notice is sent.
"""

from __future__ import annotations

from typing import Any, Callable

import dagster as dg

from sentinel_assets.channels.email import EmailChannel
from sentinel_assets.channels.log import LogChannel
from sentinel_assets.channels.slack import SlackChannel
from sentinel_assets.channels.webhook import WebhookChannel
from sentinel_assets.orchestration.resources import secret_value
from sentinel_assets.spec.models import (
    EmailChannelSpec,
    LogChannelSpec,
    SlackChannelSpec,
    WebhookChannelSpec,
)


def log_channel(spec: LogChannelSpec) -> LogChannel:
    """The resource for the embedded ``log`` channel (a local outbox)."""
    return LogChannel(path=spec.path)


def email_channel(spec: EmailChannelSpec) -> EmailChannel:
    """The resource for an ``email`` channel."""
    return EmailChannel(
        to=list(spec.to),
        cc=list(spec.cc),
        sender=spec.from_,
        smtp_host=spec.smtp_host,
        smtp_port=spec.smtp_port,
        username=secret_value(spec.username),
        password=secret_value(spec.password),
        security=spec.security,
        timeout=spec.timeout,
        ca_file=spec.ca_file,
        max_attempts=spec.max_attempts,
        retry_backoff=spec.retry_backoff,
        templates=dict(spec.templates),
    )


def slack_channel(spec: SlackChannelSpec) -> SlackChannel:
    """The resource for a ``slack`` channel (bot token or incoming webhook)."""
    return SlackChannel(
        token=secret_value(spec.token),
        channel=spec.channel,
        webhook_url=secret_value(spec.webhook_url),
        base_url=spec.base_url,
        timeout=spec.timeout,
        max_attempts=spec.max_attempts,
        retry_backoff=spec.retry_backoff,
        templates=dict(spec.templates),
    )


def webhook_channel(spec: WebhookChannelSpec) -> WebhookChannel:
    """The resource for a ``webhook`` channel."""
    return WebhookChannel(
        url=secret_value(spec.url),
        secret=secret_value(spec.secret),
        headers={name: secret_value(value) for name, value in spec.headers.items()},
        timeout=spec.timeout,
        max_attempts=spec.max_attempts,
        retry_backoff=spec.retry_backoff,
        templates=dict(spec.templates),
    )


CHANNEL_BUILDERS: dict[str, Callable[[Any], dg.ConfigurableResource]] = {
    "log": log_channel,
    "email": email_channel,
    "slack": slack_channel,
    "webhook": webhook_channel,
}


def channel_resource(spec) -> dg.ConfigurableResource:
    """The resource of a validated channel spec."""
    return CHANNEL_BUILDERS[spec.type](spec)
