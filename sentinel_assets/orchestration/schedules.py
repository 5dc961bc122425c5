"""One schedule per alert, on the alert's cron and timezone."""

from __future__ import annotations

import dagster as dg

from sentinel_assets.names import schedule_name
from sentinel_assets.spec.models import AlertSpec


def build_alert_schedule(
    alert: AlertSpec, job, *, running: bool | None = None, note: str = ""
) -> dg.ScheduleDefinition:
    """``<job>_schedule``: RUNNING when the alert is enabled (unless ``running`` says), else STOPPED."""
    running = alert.enabled if running is None else running and alert.enabled
    status = dg.DefaultScheduleStatus.RUNNING if running else dg.DefaultScheduleStatus.STOPPED
    return dg.ScheduleDefinition(
        name=schedule_name(job.name),
        job=job,
        cron_schedule=alert.schedule,
        execution_timezone=alert.timezone,
        default_status=status,
        description=f"Evaluates {alert.name} on '{alert.schedule}' ({alert.timezone})"
        + (f"; {note}" if note else ""),
    )
