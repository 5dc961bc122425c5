"""Execution history, read back from the Dagster instance (the runs *are* the history)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

import dagster as dg

from sentinel_assets.metadata import ALERT_TAG, STATUS_TAG, VALUE_TAG, WINDOW_TAG

PARTITION_TAG = "dagster/partition"


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
    """The newest ``limit`` runs that evaluated ``alert``, newest first."""
    records = instance.get_run_records(
        filters=dg.RunsFilter(tags={ALERT_TAG: alert}), limit=limit, order_by="create_timestamp",
        ascending=False,
    )
    entries = []
    for record in records:
        run = record.dagster_run
        started = record.start_time or record.create_timestamp.timestamp()
        status = run.tags.get(STATUS_TAG) or _pending_status(run.status)
        entries.append(
            HistoryEntry(
                run_id=run.run_id,
                evaluated_at=datetime.fromtimestamp(started, tz=timezone.utc) if started else None,
                status=status,
                value=run.tags.get(VALUE_TAG),
                run_status=run.status.value,
                window=run.tags.get(WINDOW_TAG) or run.tags.get(PARTITION_TAG),
            )
        )
    return entries


def _pending_status(run_status: dg.DagsterRunStatus) -> str:
    if run_status in (dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED,
                      dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED):
        return "RUNNING"
    return "NOT_EVALUATED"  # the run ended before the op judged anything (crash, cancel)
