"""Execution history, read back from the Dagster instance (the runs *are* the history)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

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


@dataclass(frozen=True)
class HistoryEntry:
    """One evaluation of an alert as Dagster recorded it."""

    run_id: str
    evaluated_at: datetime | None
    status: str
    value: str | None
    run_status: str
    window: str | None

    def as_dict(self) -> dict:
        return {
            "run_id": self.run_id,
            "evaluated_at": self.evaluated_at.isoformat() if self.evaluated_at else None,
            "status": self.status,
            "value": self.value,
            "run_status": self.run_status,
            "window": self.window,
        }


def alert_history(instance: dg.DagsterInstance, alert: str, limit: int = 20) -> list[HistoryEntry]:
    """The newest ``limit`` evaluations of ``alert``, its own runs and batch runs, newest first."""
    own = instance.get_run_records(
        filters=dg.RunsFilter(tags={ALERT_TAG: alert}), limit=limit, order_by="create_timestamp",
        ascending=False,
    )
    batched = instance.get_run_records(
        filters=dg.RunsFilter(tags={member_tag(alert): list(MEMBER_STATUSES)}), limit=limit,
        order_by="create_timestamp", ascending=False,
    )
    records = sorted([*own, *batched], key=lambda r: r.create_timestamp, reverse=True)[:limit]
    entries = []
    for record in records:
        run = record.dagster_run
        started = record.start_time or record.create_timestamp.timestamp()
        in_batch = member_tag(alert) in run.tags
        if in_batch:
            status, value = run.tags[member_tag(alert)], _batch_value(instance, run.run_id, alert)
        else:
            status = run.tags.get(STATUS_TAG) or _pending_status(run.status)
            value = run.tags.get(VALUE_TAG)
        entries.append(
            HistoryEntry(
                run_id=run.run_id,
                evaluated_at=datetime.fromtimestamp(started, tz=timezone.utc) if started else None,
                status=status,
                value=value,
                run_status=run.status.value,
                window=run.tags.get(WINDOW_TAG) or run.tags.get(PARTITION_TAG),
            )
        )
    return entries


def _batch_value(instance: dg.DagsterInstance, run_id: str, alert: str) -> str | None:
    """The value a grouped run recorded for ``alert`` (its asset check evaluation)."""
    records = instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION).records
    for record in records:
        data = record.event_log_entry.dagster_event.event_specific_data
        named = data.metadata.get("alert")
        if getattr(named, "value", None) == alert:
            value = data.metadata.get("value")
            raw = getattr(value, "value", None)
            return None if raw in (None, "None") else str(raw)
    return None


def _pending_status(run_status: dg.DagsterRunStatus) -> str:
    if run_status in (dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED,
                      dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED):
        return "RUNNING"
    return NOT_EVALUATED  # the run ended before the op judged anything (crash, cancel)
