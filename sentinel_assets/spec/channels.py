"""Channel settings, declared once: the spec entries of ``channels:`` and the Dagster resources
that send notices are both built on these classes.

A ``*Settings`` class holds every setting of one channel type with its type, default and
description. The spec entry (``EmailChannelSpec``) adds what the YAML needs (``type:``, the file
and line it came from, cross-field checks); the resource (``channels.email.EmailChannel``) adds
the sending. ``CHANNEL_SPECS`` is the one registry of channel types: the loader, the renderer and
the resource registry all look a type up there.

Secret settings (``secret_fields``) keep their ``${VAR}`` reference: the Dagster layer turns a
whole ``${VAR}`` into ``dg.EnvVar("VAR")`` and a resource expands a reference inside a value when
it sends, so no secret is ever baked into a config.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal, Union

from pydantic import BaseModel, Field, PrivateAttr, model_validator

from sentinel_assets.spec.source import Sourced

SECURITY_MODES = ("starttls", "ssl", "none")


class ChannelSettings(BaseModel):
    """Settings every channel type has."""

    #: the ``type:`` word of the channel in the YAML
    kind: ClassVar[str] = ""
    #: settings whose values are secrets or may carry one
    secret_fields: ClassVar[tuple[str, ...]] = ()
    #: the message parts its templates can override
    template_parts: ClassVar[tuple[str, ...]] = ()

    templates: dict[str, str] = Field(
        default_factory=dict,
        description="Jinja2 templates overriding the channel's default message parts, by part "
        "('subject') or by notice kind and part ('resolved.subject').",
    )


class SendingSettings(ChannelSettings):
    """Settings of a channel that sends over the network, with the one retry policy."""

    max_attempts: int = Field(default=4, ge=1, le=10,
                              description="Tries per delivery, the first one included.")
    retry_backoff: float = Field(
        default=1.0, ge=0, le=60,
        description="Seconds before the first retry; doubles with each retry.")


class LogSettings(ChannelSettings):
    """The embedded default: one JSON object per notice appended to a local outbox file."""

    kind: ClassVar[str] = "log"

    path: str | None = Field(
        default=None,
        description="Outbox file; default $SENTINEL_OUTBOX, else .sentinel/outbox.jsonl in the "
        "working directory.")


class SlackSettings(SendingSettings):
    """Slack through a bot token (``chat.postMessage``) or an incoming webhook."""

    kind: ClassVar[str] = "slack"
    secret_fields: ClassVar[tuple[str, ...]] = ("token", "webhook_url")
    template_parts: ClassVar[tuple[str, ...]] = ("subject", "body")

    token: str | None = Field(default=None,
                              description="Bot token (xoxb-...); write it as ${VAR}.")
    channel: str | None = Field(default=None,
                                description="Channel name or id for the bot token, e.g. #alerts; "
                                "with webhook_url, sent as the webhook's channel override.")
    webhook_url: str | None = Field(
        default=None, description="Incoming-webhook URL instead of token and channel; ${VAR}.")
    username: str | None = Field(
        default=None, description="With webhook_url: the name to post as (legacy webhooks "
        "honour it, as with SQL Sentinel); default: the webhook's own.")
    base_url: str | None = Field(
        default=None, description="API root, for GovSlack or a proxy; default Slack's own.")
    timeout: float = Field(default=30.0, gt=0, description="Seconds to wait for Slack.")


class EmailSettings(SendingSettings):
    """Email over SMTP: STARTTLS, implicit TLS or plain, optional login."""

    kind: ClassVar[str] = "email"
    secret_fields: ClassVar[tuple[str, ...]] = ("username", "password")
    template_parts: ClassVar[tuple[str, ...]] = ("subject", "body", "html")

    to: list[str] = Field(min_length=1, description="Recipients.")
    cc: list[str] = Field(default_factory=list, description="Copy recipients.")
    sender: str = Field(default="sentinel@localhost",
                        description="The From address (written `from:` in the YAML).")
    smtp_host: str = Field(description="SMTP server host name.")
    smtp_port: int = Field(default=587, description="SMTP port: 587 STARTTLS, 465 TLS, 25 plain.")
    username: str | None = Field(default=None, description="Login user; none: no login.")
    password: str | None = Field(default=None, description="Login password; write it as ${VAR}.")
    security: Literal["starttls", "ssl", "none"] = Field(
        default="starttls", description="starttls, ssl (implicit TLS) or none.")
    timeout: float = Field(default=30.0, gt=0, description="Seconds to wait for the server.")
    ca_file: str | None = Field(
        default=None,
        description="CA bundle that signs the SMTP server's certificate; default: system CAs.")


class WebhookSettings(SendingSettings):
    """A JSON POST to a URL, signed with HMAC-SHA256 when ``secret`` is set."""

    kind: ClassVar[str] = "webhook"
    secret_fields: ClassVar[tuple[str, ...]] = ("url", "secret", "headers")
    template_parts: ClassVar[tuple[str, ...]] = ("subject", "body")

    url: str = Field(description="Where to POST; ${VAR} when the URL holds a secret.")
    method: Literal["POST", "PUT", "PATCH"] = Field(
        default="POST", description="HTTP method that carries the JSON body: POST, PUT or PATCH.")
    secret: str | None = Field(
        default=None,
        description="HMAC-SHA256 key: each POST carries X-Sentinel-Signature: sha256=<hex>.")
    headers: dict[str, str] = Field(default_factory=dict,
                                    description="Extra request headers; values may be ${VAR}.")
    timeout: float = Field(default=10.0, gt=0,
                           description="Seconds to connect, and to wait for an answer.")


# --- the spec entries ---------------------------------------------------------------------------
class _ChannelSpec(Sourced):
    """A ``channels:`` entry: settings plus ``type:`` and where it was written."""

    _name: str = PrivateAttr(default="")

    @property
    def name(self) -> str:
        return self._name

    def settings(self) -> dict[str, Any]:
        """The values of the settings (what the resource is built from)."""
        return {name: getattr(self, name) for name in self.settings_model().model_fields}

    @classmethod
    def settings_model(cls) -> type[ChannelSettings]:
        return next(b for b in cls.__mro__ if b.__dict__.get("kind") and
                    issubclass(b, ChannelSettings) and not issubclass(b, _ChannelSpec))


class LogChannelSpec(_ChannelSpec, LogSettings):
    __doc__ = LogSettings.__doc__
    type: Literal[LogSettings.kind] = Field(description="The channel type.")


class SlackChannelSpec(_ChannelSpec, SlackSettings):
    __doc__ = SlackSettings.__doc__
    type: Literal[SlackSettings.kind] = Field(description="The channel type.")

    @model_validator(mode="after")
    def _check(self) -> "SlackChannelSpec":
        if self.webhook_url is not None and self.token is not None:
            raise ValueError("a slack channel takes token and channel, or webhook_url, not both")
        if self.webhook_url is None and (self.token is None or self.channel is None):
            raise ValueError("a slack channel needs token and channel, or webhook_url")
        return self


class EmailChannelSpec(_ChannelSpec, EmailSettings):
    __doc__ = EmailSettings.__doc__
    type: Literal[EmailSettings.kind] = Field(description="The channel type.")

    @model_validator(mode="before")
    @classmethod
    def _from_is_sender(cls, data: Any) -> Any:
        # the YAML says `from:` (a Python keyword); the setting is `sender`
        if isinstance(data, dict) and "from" in data:
            data = {("sender" if k == "from" else k): v for k, v in data.items()}
        return data


class WebhookChannelSpec(_ChannelSpec, WebhookSettings):
    __doc__ = WebhookSettings.__doc__
    type: Literal[WebhookSettings.kind] = Field(description="The channel type.")


#: every channel type, by its ``type:`` word: the one registry of channel types
CHANNEL_SPECS: dict[str, type[_ChannelSpec]] = {
    spec.settings_model().kind: spec
    for spec in (LogChannelSpec, SlackChannelSpec, EmailChannelSpec, WebhookChannelSpec)
}
CHANNEL_TYPES = tuple(CHANNEL_SPECS)
#: settings whose values are secrets, across every type (kept as ${VAR} by the loader)
CHANNEL_SECRET_FIELDS = frozenset(f for s in CHANNEL_SPECS.values() for f in s.secret_fields)

ChannelSpec = Annotated[
    Union[LogChannelSpec, SlackChannelSpec, EmailChannelSpec, WebhookChannelSpec],
    Field(discriminator="type"),
]
