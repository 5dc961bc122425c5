"""Bounds on what a query returns: one home for truncation. Pure: no Dagster, no I/O.

A query may return a 20 MB cell. Whatever sentinel keeps of a result, in the state store, in
Dagster's metadata, in a message or in what a channel sends, holds at most ``CELL_CHARS``
characters of one value, ``MESSAGE_CHARS`` of a message and ``ROWS_CHARS`` of the first rows
together; a cut value ends with a marker that says how long it was. Judging still sees the values
as the database returned them.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Iterable, Mapping

from sentinel_assets.core.query_result import QueryResult, to_plain

CELL_CHARS = 1_000  # one value (a cell, actual_value, threshold)
NAME_CHARS = 200  # a column name
MESSAGE_CHARS = 2_000  # an outcome's message, a query error
ROWS_CHARS = 20_000  # the first rows, every cell and column name together
_MARKER = re.compile(r"… \[truncated, [0-9,]+ chars\]\Z")
FIRST_ROWS = 10  # rows kept of a judged result
MAX_COLUMNS = 100  # columns kept of a judged result


def truncate_text(value: str, limit: int = CELL_CHARS) -> str:
    """``value`` when it has at most ``limit`` characters, else its first ``limit`` characters
    and a marker: ``'xxx… [truncated, 20,000,000 chars]'``. A value cut before keeps the length
    its marker gives, as long as what it kept fits ``limit``."""
    if len(value) <= limit:
        return value
    marker = _MARKER.search(value, max(0, len(value) - 60))
    if marker is not None and marker.start() <= limit:
        return value
    return f"{value[:max(0, limit)]}… [truncated, {len(value):,} chars]"


def bound_value(value: Any, limit: int = CELL_CHARS) -> Any:
    """A JSON-friendly value (``to_plain``) whose text has at most ``limit`` characters."""
    plain = to_plain(value)
    return truncate_text(plain, limit) if isinstance(plain, str) else plain


def bound_rows(rows: Iterable[Mapping[str, Any]], cell: int = CELL_CHARS,
               total: int = ROWS_CHARS) -> tuple[dict[str, Any], ...]:
    """Rows as dicts with bounded values and names, ``total`` characters at most in all: the
    first rows whole, then what the budget leaves (at least the first cell of the first row)."""
    out: list[dict[str, Any]] = []
    left = total
    for row in rows:
        if left <= 0:
            break
        kept: dict[str, Any] = {}
        for name, value in row.items():
            if left <= 0 and kept:
                break
            key = truncate_text(str(name), NAME_CHARS)
            kept[key] = bound_value(value, min(cell, max(left, 0)))
            left -= len(key) + _size(kept[key])
        out.append(kept)
    return tuple(out)


def bound_result(result: QueryResult | None, rows: int = FIRST_ROWS) -> QueryResult | None:
    """What is kept of a result once it is judged: its first ``rows`` rows and ``MAX_COLUMNS``
    columns, bounded like ``bound_rows`` (a cell the budget has no room left for is None), and
    everything else as is."""
    if result is None:
        return None
    columns = tuple(truncate_text(str(c), NAME_CHARS) for c in result.columns[:MAX_COLUMNS])
    records = bound_rows(dict(zip(range(len(columns)), row)) for row in result.rows[:rows])
    kept = tuple(tuple(record.get(str(i)) for i in range(len(columns))) for record in records)
    return dataclasses.replace(result, columns=columns, rows=kept)


def _size(value: Any) -> int:
    return len(value) if isinstance(value, str) else len(str(value))
