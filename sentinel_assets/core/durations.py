"""Parsing of human durations such as ``90s``, ``15m``, ``4h``, ``1d`` or ``1h30m``."""

from __future__ import annotations

import math
import re
from datetime import timedelta

from sentinel_assets.core.excerpt import excerpt

_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)")
_NUMBER = re.compile(r"^\d+(?:\.\d+)?$")
_UNITS = {
    "ms": timedelta(milliseconds=1),
    "s": timedelta(seconds=1),
    "m": timedelta(minutes=1),
    "h": timedelta(hours=1),
    "d": timedelta(days=1),
    "w": timedelta(weeks=1),
}
#: the longest duration a spec may give (so that "now + duration" is always a date)
MAX_DURATION = timedelta(days=3650)
_EXPECTED = "expected a duration like '90s', '15m', '4h' or '1h30m'"


def parse_duration(value: str | int | float | timedelta) -> timedelta:
    """Parse ``"4h"``, ``"1h30m"``, ``"90s"`` or a number of seconds into a ``timedelta``.

    Raises:
        ValueError: with a sentence that says what was expected, also for a duration longer
            than ``MAX_DURATION`` (3650 days), ``.inf`` or ``.nan``.
    """
    if isinstance(value, timedelta):
        return _at_most_max(value.total_seconds(), value)
    if isinstance(value, bool):
        raise ValueError(f"expected a duration like '90s', '15m' or '4h', got {value!r}")
    if isinstance(value, (int, float)):
        if isinstance(value, float) and math.isnan(value):
            raise ValueError(f"{_EXPECTED} or a number of seconds, got {value!r}")
        if value < 0:
            raise ValueError(f"a duration cannot be negative, got {excerpt(value)}")
        return _at_most_max(value, value)
    text = str(value).strip().lower().replace(" ", "")
    pos, seconds = 0, 0.0
    for match in _PART.finditer(text):
        if match.start() != pos:
            break
        seconds += float(match.group(1)) * _UNITS[match.group(2)].total_seconds()
        pos = match.end()
    if not text or pos != len(text):
        hint = "; add a unit: ms, s, m, h, d or w" if _NUMBER.match(text) else ""
        raise ValueError(f"{_EXPECTED}, got {excerpt(value)}{hint}")
    return _at_most_max(seconds, value)


def _at_most_max(seconds: float, value) -> timedelta:
    """``seconds`` as a timedelta, when no longer than ``MAX_DURATION``."""
    if not seconds <= MAX_DURATION.total_seconds():  # also inf
        raise ValueError(f"a duration can be at most {format_duration(MAX_DURATION)} (ten years), "
                         f"got {excerpt(value)}")
    return timedelta(seconds=seconds)


def format_duration(delta: timedelta) -> str:
    """Format a ``timedelta`` the way it is written in specs (``4h``, ``1h30m``, ``45s``)."""
    if delta < timedelta(0):
        return "-" + format_duration(-delta)
    millis = delta // timedelta(milliseconds=1)
    if millis == 0:
        return "0s"
    parts = []
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)):
        count, millis = divmod(millis, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)
