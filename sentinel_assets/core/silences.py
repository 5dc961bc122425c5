"""Silences: hold back an alert's notices until an expiry. Pure: no Dagster, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Mapping


@dataclass(frozen=True)
class Silence:
    """A silence targets one alert by name, or every alert whose tags match ``matchers``."""

    id: int | None
    until: datetime
    reason: str
    alert: str | None = None
    matchers: tuple[tuple[str, str], ...] = ()
    created_at: datetime | None = None
    created_by: str | None = None

    def covers(self, alert: str, tags: Mapping[str, str], now: datetime) -> bool:
        """True when this silence is active at ``now`` and targets ``alert``."""
        if now >= self.until:
            return False
        if self.alert is not None:
            return self.alert == alert
        return bool(self.matchers) and all(tags.get(k) == v for k, v in self.matchers)

    def describe(self) -> str:
        target = self.alert or ",".join(f"{k}={v}" for k, v in self.matchers)
        return f"{target} until {self.until.isoformat()} ({self.reason})"


def parse_matchers(items: list[str] | tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """Parse ``["team=finance", "severity=high"]`` into matcher pairs.

    Raises:
        ValueError: for an item that is not ``key=value``.
    """
    pairs = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ValueError(f"expected a tag matcher like team=finance, got {item!r}")
        pairs.append((key.strip(), value.strip()))
    return tuple(sorted(pairs))


def active_silence(
    alert: str, tags: Mapping[str, str], silences: list[Silence], now: datetime
) -> Silence | None:
    """The active silence that covers ``alert`` and lasts longest, or None."""
    covering = [s for s in silences if s.covers(alert, tags, now)]
    return max(covering, key=lambda s: s.until) if covering else None
