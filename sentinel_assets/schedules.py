"""One schedule per alert, on the alert's cron and timezone."""

from __future__ import annotations

import dagster as dg

from sentinel_assets.spec_models import AlertSpec


def build_alert_schedule(alert: AlertSpec, job: dg.JobDefinition) -> dg.ScheduleDefinition:
    """``<job>_schedule``: RUNNING when the alert is enabled, else STOPPED."""
    status = dg.DefaultScheduleStatus.RUNNING if alert.enabled else dg.DefaultScheduleStatus.STOPPED
    return dg.ScheduleDefinition(
        name=f"{job.name}_schedule",
        job=job,
        cron_schedule=alert.schedule,
        execution_timezone=alert.timezone,
        default_status=status,
        description=f"Evaluates {alert.name} on '{alert.schedule}' ({alert.timezone})",
    )
