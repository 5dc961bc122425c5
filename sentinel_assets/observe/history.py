"""Execution history, read back from the Dagster instance (the runs *are* the history).

An alert with an asset check has its history on the check: every execution of it, whichever run
evaluated it (its own job, a grouped ``sentinel_evaluate`` run, "Execute" on the asset's page, a
schedule), each with the evaluation's metadata. A windowed alert has no check (its history is per
window) and is read from its own runs and their step metadata.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterable, Mapping

import dagster as dg

from sentinel_assets.core.judging import STATUSES
from sentinel_assets.names import (
    ALERT_TAG,
    NOT_EVALUATED,
    PARTITION_TAG,
    STATUS_TAG,
    VALUE_TAG,
    WINDOW_TAG,
    member_tag,
)

MEMBER_STATUSES = (*STATUSES, NOT_EVALUATED)
_OUTCOME_EVENTS = (dg.DagsterEventType.STEP_OUTPUT, dg.DagsterEventType.STEP_FAILURE)


@dataclass(frozen=True)
class HistoryEntry:
    """One evaluation of an alert as Dagster recorded it."""

    run_id: str
    evaluated_at: datetime | None
    status: str
    value: Any
    run_status: str
    window: str | None
    state: str | None = None
    threshold: Any = None
    message: str | None = None
    notices: tuple[str, ...] = field(default_factory=tuple)
    run_url: str | None = None

    def as_dict(self) -> dict:
        """JSON-ready; ``value`` and ``threshold`` keep their type (numbers stay numbers), as in
        ``sentinel status``."""
        return {
            "run_id": self.run_id,
            "evaluated_at": self.evaluated_at.isoformat() if self.evaluated_at else None,
            "status": self.status,
            "state": self.state,
            "value": self.value,
            "threshold": self.threshold,
            "message": self.message,
            "notices": list(self.notices),
            "run_status": self.run_status,
            "run_url": self.run_url,
            "window": self.window,
        }


def alert_history(instance: dg.DagsterInstance, alert: str, limit: int = 20,
                  check: dg.AssetCheckKey | None = None) -> list[HistoryEntry]:
    """The newest ``limit`` evaluations of ``alert``, newest first: from its asset check's
    executions when it has a ``check``, else from its runs (own and grouped)."""
    if check is not None:
        return _check_history(instance, check, limit)
    return _run_history(instance, alert, limit)


# -- from the asset check ---------------------------------------------------------------------------
def _check_history(instance: dg.DagsterInstance, check: dg.AssetCheckKey,
                   limit: int) -> list[HistoryEntry]:
    records = instance.event_log_storage.get_asset_check_execution_history(check, limit=limit)
    runs = {r.dagster_run.run_id: r for r in instance.get_run_records(
        dg.RunsFilter(run_ids=list({rec.run_id for rec in records})))} if records else {}
    entries = []
    for rec in records:
        run = runs.get(rec.run_id)
        run_status = run.dagster_run.status if run else None
        data = _evaluation(rec.event)
        if data is None:  # planned, never evaluated (still running, or the run died first)
            running = run_status is not None and not run.dagster_run.is_finished
            entries.append(HistoryEntry(
                run_id=rec.run_id, evaluated_at=_at(rec.create_timestamp),
                status="RUNNING" if running else NOT_EVALUATED, value=None,
                run_status=run_status.value if run_status else "UNKNOWN", window=rec.partition))
            continue
        entries.append(_entry(rec.run_id, data.metadata, rec.create_timestamp,
                              run_status.value if run_status else "UNKNOWN", rec.partition))
    return entries


def _evaluation(event: Any) -> Any:
    dagster_event = getattr(event, "dagster_event", None)
    data = getattr(dagster_event, "event_specific_data", None)
    return data if isinstance(data, dg.AssetCheckEvaluation) else None


# -- from the runs (windowed alerts, and instances from before checks) -------------------------------
def _run_history(instance: dg.DagsterInstance, alert: str, limit: int) -> list[HistoryEntry]:
    own = instance.get_run_records(
        filters=dg.RunsFilter(tags={ALERT_TAG: alert}), limit=limit, order_by="create_timestamp",
        ascending=False,
    )
    grouped = instance.get_run_records(
        filters=dg.RunsFilter(tags={member_tag(alert): list(MEMBER_STATUSES)}), limit=limit,
        order_by="create_timestamp", ascending=False,
    )
    records = sorted({r.dagster_run.run_id: r for r in [*own, *grouped]}.values(),
                     key=lambda r: r.create_timestamp, reverse=True)[:limit]
    entries = []
    for record in records:
        run = record.dagster_run
        started = record.start_time or record.create_timestamp.timestamp()
        window = run.tags.get(WINDOW_TAG) or run.tags.get(PARTITION_TAG)
        metadata = _run_metadata(instance, run.run_id, alert)
        if member_tag(alert) in run.tags:
            status = run.tags[member_tag(alert)]
        else:
            status = run.tags.get(STATUS_TAG) or _pending_status(run.status)
        entry = _entry(run.run_id, metadata, started, run.status.value, window)
        if not metadata:
            entry = HistoryEntry(run.run_id, _at(started), status, _typed_text(
                run.tags.get(VALUE_TAG)), run.status.value, window)
        entries.append(entry)
    return entries


def _run_metadata(instance: dg.DagsterInstance, run_id: str, alert: str) -> Mapping[str, Any]:
    """The evaluation's metadata in a run: its check evaluation (grouped runs) or the step's
    output or failure (an alert's own job)."""
    checks = instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION).records
    for record in checks:
        data = record.event_log_entry.dagster_event.event_specific_data
        if _text(data.metadata.get("alert")) == alert:
            return data.metadata
    for kind in _OUTCOME_EVENTS:
        for record in instance.get_records_for_run(run_id, of_type=kind).records:
            data = record.event_log_entry.dagster_event.event_specific_data
            metadata = getattr(data, "metadata", None)
            if metadata is None and kind == dg.DagsterEventType.STEP_FAILURE:
                metadata = getattr(getattr(data, "user_failure_data", None), "metadata", None)
            if metadata and "status" in metadata:
                return metadata
    return {}


# -- shared ------------------------------------------------------------------------------------------
def _entry(run_id: str, metadata: Mapping[str, Any], timestamp: float, run_status: str,
           window: str | None) -> HistoryEntry:
    evaluated = metadata.get("evaluated_at")
    at = getattr(evaluated, "value", None)
    return HistoryEntry(
        run_id=run_id,
        evaluated_at=_at(at if isinstance(at, (int, float)) else timestamp),
        status=_text(metadata.get("status")) or NOT_EVALUATED,
        value=_typed(metadata.get("value")),
        run_status=run_status,
        window=window,
        state=_new_state(_text(metadata.get("state"))),
        threshold=_typed(metadata.get("threshold")),
        message=_text(metadata.get("message")),
        notices=tuple(_notice_lines(_text(metadata.get("notices")))),
        run_url=_text(metadata.get("run")),
    )


def _at(timestamp: float | None) -> datetime | None:
    return datetime.fromtimestamp(timestamp, tz=timezone.utc) if timestamp else None


def _text(value: Any) -> str | None:
    raw = getattr(value, "value", value)
    if raw is None:
        return None
    return getattr(raw, "md_str", None) or str(raw)


def _typed(value: Any) -> Any:
    """A metadata value as JSON would have it: int and float entries stay numbers."""
    if isinstance(value, (dg.IntMetadataValue, dg.FloatMetadataValue)):
        return value.value
    return _typed_text(_text(value))


def _typed_text(text: str | None) -> Any:
    if text in (None, "None"):
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except (TypeError, ValueError):
            pass
    return text


def _new_state(transition: str | None) -> str | None:
    """``"OK → FIRING"`` → ``"FIRING"``."""
    return transition.split("→")[-1].strip() if transition else None


_MARKUP = re.compile(r"[`*]")


def _notice_lines(markdown: str | None) -> Iterable[str]:
    """The evaluation's notices as plain lines (``firing → outbox: sent, 1 attempt(s)``)."""
    for line in (markdown or "").splitlines():
        if line.startswith("- "):
            yield _MARKUP.sub("", line[2:]).strip()


def _pending_status(run_status: dg.DagsterRunStatus) -> str:
    if run_status in (dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED,
                      dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED):
        return "RUNNING"
    return NOT_EVALUATED  # the run ended before the op judged anything (crash, cancel)
