"""What a person sees of an evaluation in the Dagster UI: run metadata and tags."""

from __future__ import annotations

from typing import Any

import dagster as dg

from sentinel_assets.core.bounds import MESSAGE_CHARS, bound_rows, bound_value, truncate_text
from sentinel_assets.core.query_result import to_plain
from sentinel_assets.engine.evaluation import Evaluation
from sentinel_assets.names import STATUS_TAG, VALUE_TAG

TABLE_ROWS = 10


def _scalar(value: Any) -> dg.MetadataValue:
    value = bound_value(value)
    if isinstance(value, bool) or value is None:
        return dg.MetadataValue.text(str(value))
    if isinstance(value, int):
        return dg.MetadataValue.int(value)
    if isinstance(value, float):
        return dg.MetadataValue.float(value)
    return dg.MetadataValue.text(str(value))


def _rows_table(ev: Evaluation) -> dg.MetadataValue | None:
    if ev.result is None or not ev.result.columns:
        return None
    columns = list(ev.result.columns)
    records = []
    for row in _first_rows(ev):
        data = {}
        for col in columns:
            value = to_plain(row.get(col))
            data[col] = value if isinstance(value, (str, int, float, bool)) or value is None else str(value)
        records.append(dg.TableRecord(data))
    schema = dg.TableSchema(columns=[dg.TableColumn(c, _column_type(ev, c)) for c in columns])
    return dg.MetadataValue.table(records=records, schema=schema)


def _first_rows(ev: Evaluation) -> tuple[dict[str, Any], ...]:
    return bound_rows(ev.result.records(TABLE_ROWS))


def _column_type(ev: Evaluation, column: str) -> str:
    for row in _first_rows(ev):
        value = row.get(column)
        if isinstance(value, bool):
            return "bool"
        if isinstance(value, int):
            return "int"
        if isinstance(value, float):
            return "float"
        if value is not None:
            return "string"
    return "string"


def _notices_md(ev: Evaluation) -> str:
    lines = []
    for d in ev.deliveries:
        result = "sent" if d.ok else f"FAILED ({d.error})"
        retry = " (retry of an earlier notice)" if d.retry else ""
        lines.append(f"- `{d.kind}` → **{d.channel}**: {result}, {d.attempts} attempt(s){retry}")
    for n in ev.suppressed:
        why = f"silenced: {ev.silence.describe()}" if ev.silence else "silenced"
        lines.append(f"- `{n.kind}` held back ({why})")
    return "\n".join(lines) or "No notice: nothing changed that needs telling."


def evaluation_metadata(ev: Evaluation, rows: bool = True) -> dict[str, dg.MetadataValue]:
    """Status, value, threshold, SQL, first rows (unless ``rows=False``), query duration and
    every delivery."""
    md: dict[str, dg.MetadataValue] = {
        "status": dg.MetadataValue.text(ev.status),
        "message": dg.MetadataValue.text(truncate_text(ev.outcome.message, MESSAGE_CHARS)),
        "state": dg.MetadataValue.text(f"{ev.previous.status} → {ev.state.status}"),
        "value": _scalar(ev.outcome.value),
        "threshold": _scalar(ev.outcome.threshold),
        "row_count": dg.MetadataValue.int(ev.outcome.row_count),
        "sql": dg.MetadataValue.md(f"```sql\n{ev.alert.query.strip()}\n```"),
        "notices": dg.MetadataValue.md(_notices_md(ev)),
        "evaluated_at": dg.MetadataValue.timestamp(ev.evaluated_at),
    }
    if ev.query_ms is not None:
        md["query_duration_ms"] = dg.MetadataValue.float(round(ev.query_ms, 3))
    table = _rows_table(ev) if rows else None
    if table is not None:
        md["first_rows"] = table
    if ev.silence is not None:
        md["silenced"] = dg.MetadataValue.text(ev.silence.describe())
    if ev.params:
        md["params"] = dg.MetadataValue.json({k: str(v) for k, v in ev.params.items()})
    return md


def evaluation_tags(ev: Evaluation) -> dict[str, str]:
    """Run tags added when an evaluation ends (no secrets: status and value only)."""
    tags = {STATUS_TAG: ev.status}
    value = to_plain(ev.outcome.value)
    if value is not None:
        tags[VALUE_TAG] = str(value)[:200]
    return tags
