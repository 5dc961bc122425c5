"""Time-windowed alerts: Dagster time partitions, their schedule, and the window parameters.

``window: hourly|daily|weekly|<cron>`` makes the alert's job time-partitioned with Dagster's own
``TimeWindowPartitionsDefinition``; the query receives ``:window_start`` and ``:window_end`` as
bound parameters. The schedule evaluates the last complete window (``lag`` later); a backfill
replays past windows, recording each result per partition without touching the live lifecycle.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import dagster as dg
from dagster._core.definitions.partitions.context import partition_loading_context

from sentinel_assets.names import BACKFILL_TAG, schedule_name
from sentinel_assets.spec.models import AlertSpec

WINDOW_CRONS = {"hourly": "0 * * * *", "daily": "0 0 * * *", "weekly": "0 0 * * 0"}
DEFAULT_START = "2026-01-01"


def window_cron(alert: AlertSpec) -> str:
    return WINDOW_CRONS.get(alert.window or "", alert.window or "")


def partitions_for(alert: AlertSpec) -> dg.TimeWindowPartitionsDefinition:
    """The partitions of a windowed alert, one per window, in the alert's timezone."""
    fmt = "%Y-%m-%d" if alert.window in ("daily", "weekly") else "%Y-%m-%d-%H:%M"
    start = datetime.fromisoformat(alert.start or DEFAULT_START)
    return dg.TimeWindowPartitionsDefinition(
        cron_schedule=window_cron(alert),
        start=start.strftime(fmt),
        fmt=fmt,
        timezone=alert.timezone,
    )


def last_complete_window_key(alert: AlertSpec, at: datetime) -> str | None:
    """The key of the last window that ended at least ``lag`` before ``at``."""
    lag = alert.lag or timedelta(0)
    if isinstance(at, (int, float)):
        at = datetime.fromtimestamp(at, tz=timezone.utc)
    with partition_loading_context(effective_dt=at - lag):
        return partitions_for(alert).get_last_partition_key()


def build_window_schedule(alert: AlertSpec, job: dg.JobDefinition) -> dg.ScheduleDefinition:
    """On the alert's cron, request a run of the last complete window (one run per window)."""
    status = dg.DefaultScheduleStatus.RUNNING if alert.enabled else dg.DefaultScheduleStatus.STOPPED

    @dg.schedule(
        name=schedule_name(job.name),
        job=job,
        cron_schedule=alert.schedule,
        execution_timezone=alert.timezone,
        default_status=status,
        description=f"Evaluates the last complete {alert.window} window of {alert.name}",
    )
    def _schedule(context: dg.ScheduleEvaluationContext):
        key = last_complete_window_key(alert, context.scheduled_execution_time)
        if key is None:
            return dg.SkipReason(f"no complete {alert.window} window yet (start {alert.start})")
        return dg.RunRequest(run_key=key, partition_key=key)

    return _schedule


def window_params(context: Any) -> dict[str, datetime]:
    """``window_start``/``window_end`` of the run's partition, timezone-aware."""
    window = context.partition_time_window
    return {"window_start": window.start, "window_end": window.end}


def is_replay(context: Any, alert: AlertSpec) -> bool:
    """True for runs that must not move the live lifecycle: backfills and past windows.

    A run is live when it is not part of a backfill and evaluates the last window that was
    complete when the run was created (so a run that waited in the queue still counts as live).
    """
    if context.run.tags.get(BACKFILL_TAG):
        return True
    record = context.instance.get_run_record_by_id(context.run_id)
    created = record.create_timestamp if record else datetime.now(timezone.utc)
    return context.partition_key != last_complete_window_key(alert, created)
