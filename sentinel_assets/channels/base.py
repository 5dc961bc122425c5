"""What every channel receives (a ``NoticeContext``, defined with the messages) and returns."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Protocol

from sentinel_assets.core.messages import NoticeContext


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
