"""What every channel receives and returns."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Protocol

from sentinel_assets.core.lifecycle import Notice


@dataclass(frozen=True)
class NoticeContext:
    """A notice with everything a message about it needs to say."""

    notice: Notice
    channel: str
    description: str = ""
    owner: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    database: str | None = None
    query: str | None = None
    run_id: str | None = None
    run_url: str | None = None
    window: dict[str, str] | None = None
    # the delivery of this episode's `firing` notice on this channel (Slack threads replies on it)
    thread_id: str | None = None
    templates: dict[str, str] = field(default_factory=dict)

    @property
    def idempotency_key(self) -> str:
        return self.notice.idempotency_key

    @property
    def silence_hint(self) -> str:
        return f"sentinel silence {self.notice.alert} --for 2h --reason '...'"


@dataclass(frozen=True)
class DeliveryResult:
    """What happened when a channel tried to deliver one notice."""

    ok: bool
    attempts: int = 1
    error: str | None = None
    external_id: str | None = None  # e.g. a Slack message ts, kept for threading
    detail: dict[str, Any] = field(default_factory=dict)


class Channel(Protocol):
    """Anything with ``deliver(context, log) -> DeliveryResult``; it must not raise."""

    def deliver(self, context: NoticeContext, log: logging.Logger | Any) -> DeliveryResult: ...
