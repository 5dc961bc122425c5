"""The result of one alert query, independent of the database backend."""

from __future__ import annotations

import datetime as _dt
import decimal
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class QueryResult:
    """Rows returned by an alert query.

    Attributes:
        columns: column names as the database returned them.
        rows: rows as tuples, in column order (at most ``max_rows`` of them).
        duration_ms: wall time of the query, connect included.
        truncated: True when the query returned more rows than were fetched.
    """

    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    duration_ms: float = 0.0
    truncated: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def records(self, limit: int | None = None) -> list[dict[str, Any]]:
        """Rows as dicts with JSON-friendly values."""
        rows = self.rows if limit is None else self.rows[:limit]
        return [{c: to_plain(v) for c, v in zip(self.columns, row)} for row in rows]

    def column_index(self, name: str) -> int | None:
        """Index of ``name`` in ``columns``, ignoring case; None if absent."""
        lowered = name.lower()
        for i, column in enumerate(self.columns):
            if column.lower() == lowered:
                return i
        return None


def to_plain(value: Any) -> Any:
    """Convert database values (Decimal, datetime, bytes...) into JSON-friendly values."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (_dt.datetime, _dt.date, _dt.time)):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)
