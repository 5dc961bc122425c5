"""Judging: turn a query result (or a query error) into an outcome. Pure: no Dagster, no I/O.

The contract comes from SQL Sentinel: a query returns a ``status`` column whose value is ``ALERT``
or ``OK`` (case-insensitive), optionally ``actual_value`` and ``threshold``; any row with ALERT
makes the outcome ALERT. A ``condition`` on the first row replaces the status column. Anything
that does not fit the contract is ERROR, never ALERT and never OK, and so is a result with more
rows than ``max_rows``: rows that were not read cannot be judged OK. Every value an outcome keeps
(value, threshold, rows, message) is bounded (``core.bounds``).
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from typing import Any, Callable

from sentinel_assets.core.bounds import MESSAGE_CHARS, bound_rows, bound_value, truncate_text
from sentinel_assets.core.query_result import QueryResult, to_plain
from sentinel_assets.names import JUDGED_STATUSES, Status

# plain strings: values that reach Dagster's serialized events must not be enum members
OK, ALERT, ERROR, NO_DATA = (s.value for s in JUDGED_STATUSES)
STATUSES = (OK, ALERT, ERROR, NO_DATA)
assert STATUSES == (Status.OK, Status.ALERT, Status.ERROR, Status.NO_DATA)
CONTEXT_ROWS = 10

_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}
CONDITION_OPS = tuple(_OPS)


@dataclass(frozen=True)
class Condition:
    """Fire when ``<first row>.column <op> threshold`` holds."""

    column: str
    op: str
    threshold: Any


@dataclass(frozen=True)
class JudgeRules:
    """How to read a result: an optional condition, and what zero rows mean (ok|alert|error)."""

    condition: Condition | None = None
    no_data: str = "ok"


@dataclass(frozen=True)
class Outcome:
    """The verdict of one evaluation.

    ``status`` is OK, ALERT, ERROR or NO_DATA (zero rows with ``no_data: ok``; the lifecycle treats
    it as OK). ``message`` says why in a sentence; ``rows`` are the first rows as plain dicts.
    """

    status: str
    message: str
    value: Any = None
    threshold: Any = None
    rows: tuple[dict[str, Any], ...] = field(default_factory=tuple)
    row_count: int = 0
    alert_rows: int = 0

    @property
    def is_ok(self) -> bool:
        return self.status in (OK, NO_DATA)


def judge(rules: JudgeRules, result: QueryResult | None, error: str | None = None) -> Outcome:
    """Judge one query result. ``error`` (a failed query or a timeout) always gives ERROR."""
    if error is not None or result is None:
        return Outcome(ERROR, truncate_text(f"query failed: {error or 'no result'}",
                                            MESSAGE_CHARS))
    context = bound_rows(result.records(CONTEXT_ROWS))
    if result.truncated:
        return Outcome(
            ERROR,
            f"the query returned more than max_rows ({len(result.rows)}) rows, so not every "
            "row could be judged; aggregate in SQL (e.g. one row with status and "
            "actual_value, such as SELECT CASE WHEN COUNT(*) > 0 THEN 'ALERT' ELSE 'OK' END "
            "AS status, COUNT(*) AS actual_value ...) or raise max_rows",
            rows=context,
            row_count=len(result.rows),
        )
    if not result.rows:
        return _no_data(rules.no_data, result)
    if rules.condition is not None:
        return _judge_condition(rules.condition, result, context)
    return _judge_status_column(result, context)


def _no_data(policy: str, result: QueryResult) -> Outcome:
    cols = truncate_text(", ".join(result.columns), MESSAGE_CHARS // 2) or "no columns"
    if policy == "alert":
        return Outcome(ALERT, f"query returned no rows ({cols}); no_data: alert")
    if policy == "error":
        return Outcome(ERROR, f"query returned no rows ({cols}); no_data: error")
    return Outcome(NO_DATA, f"query returned no rows ({cols}); no_data: ok")


def _judge_status_column(result: QueryResult, context: tuple[dict[str, Any], ...]) -> Outcome:
    status_idx = result.column_index("status")
    if status_idx is None:
        return Outcome(
            ERROR,
            "query returned no 'status' column (columns: "
            f"{truncate_text(', '.join(result.columns), MESSAGE_CHARS // 2)}); return status "
            "ALERT/OK or use a condition",
            rows=context,
            row_count=len(result.rows),
        )
    statuses = []
    for number, row in enumerate(result.rows, start=1):
        raw = to_plain(row[status_idx])  # bytes from some drivers become text here
        text = str(raw).strip().upper() if raw is not None else None
        if text not in (ALERT, OK):
            got = "NULL" if raw is None else repr(bound_value(raw))
            return Outcome(
                ERROR,
                f"row {number} of {len(result.rows)} has status {got}; "
                "expected 'ALERT' or 'OK' (case-insensitive)",
                rows=context,
                row_count=len(result.rows),
            )
        statuses.append(text)
    alert_rows = statuses.count(ALERT)
    first = statuses.index(ALERT) if alert_rows else 0
    value = _column(result, first, "actual_value")
    threshold = _column(result, first, "threshold")
    status = ALERT if alert_rows else OK
    if alert_rows:
        message = f"{alert_rows} of {len(statuses)} rows returned ALERT"
    else:
        message = f"all {len(statuses)} rows returned OK"
    if value is not None:
        limit = f", threshold {threshold}" if threshold is not None else ""
        message += f" (value {value}{limit})"
    return Outcome(status, message, value, threshold, context, len(result.rows), alert_rows)


def _judge_condition(
    condition: Condition, result: QueryResult, context: tuple[dict[str, Any], ...]
) -> Outcome:
    idx = result.column_index(condition.column)
    if idx is None:
        return Outcome(
            ERROR,
            f"condition column {condition.column!r} is not in the result "
            f"(columns: {truncate_text(', '.join(result.columns), MESSAGE_CHARS // 2)})",
            rows=context,
            row_count=len(result.rows),
        )
    raw = to_plain(result.rows[0][idx])
    if raw is None:
        return Outcome(
            ERROR,
            f"condition column {condition.column!r} is NULL in the first row",
            rows=context,
            row_count=len(result.rows),
        )
    left, right = _comparable(raw, condition.threshold)
    shown = bound_value(raw)
    if left is None:
        return Outcome(
            ERROR,
            f"cannot compare {condition.column}={shown!r} with threshold "
            f"{condition.threshold!r} using {condition.op!r}",
            value=shown,
            threshold=condition.threshold,
            rows=context,
            row_count=len(result.rows),
        )
    fired = _OPS[condition.op](left, right)
    verdict = "holds" if fired else "does not hold"
    message = f"{condition.column} {shown} {condition.op} {condition.threshold} {verdict}"
    return Outcome(
        ALERT if fired else OK,
        message,
        shown,
        condition.threshold,
        context,
        len(result.rows),
        1 if fired else 0,
    )


def _comparable(value: Any, threshold: Any) -> tuple[Any, Any]:
    try:
        return float(value), float(threshold)
    except (TypeError, ValueError):
        pass
    if isinstance(value, str) and isinstance(threshold, str):
        return value, threshold
    return None, None


def _column(result: QueryResult, row: int, name: str) -> Any:
    idx = result.column_index(name)
    return None if idx is None else bound_value(result.rows[row][idx])
