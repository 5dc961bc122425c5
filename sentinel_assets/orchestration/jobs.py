"""One job per alert: the definitions; what runs inside them is in ``orchestration.ops``.

A plain alert is an op job; a windowed alert (``window:``) is the same op job, time-partitioned;
an alert with ``asset:`` is an ``@asset_check`` on that key plus an asset job that runs the check,
so its results show on the asset's Checks tab.
"""

from dataclasses import dataclass, field

import dagster as dg

from sentinel_assets.core.judging import ERROR, NO_DATA, OK
from sentinel_assets.names import (
    ALERT_TAG,
    DATABASE_TAG,
)
from sentinel_assets.orchestration.metadata import evaluation_metadata
from sentinel_assets.orchestration.ops import evaluate_in_op, required_resources
from sentinel_assets.orchestration.schedules import build_alert_schedule
from sentinel_assets.orchestration.windows import (
    build_window_schedule,
    partitions_for,
)
from sentinel_assets.spec.models import AlertSpec


@dataclass
class AlertDefinitions:
    """What one alert compiles to."""

    job: object
    schedule: dg.ScheduleDefinition
    asset_checks: list = field(default_factory=list)


def build_alert_definitions(
    alert: AlertSpec,
    job_name: str,
    available_channels: set[str],
    executor: dg.ExecutorDefinition | None = dg.in_process_executor,
) -> AlertDefinitions:
    """The job, schedule and (for ``asset:`` alerts) asset check of one alert."""
    channel_names = [c for c in alert.channel_names if c in available_channels]
    if alert.asset:
        check = build_alert_check(alert, job_name, channel_names)
        job = dg.define_asset_job(
            name=job_name,
            selection=dg.AssetSelection.checks(check),
            description=_job_description(alert),
            tags={ALERT_TAG: alert.name, DATABASE_TAG: alert.database},
            executor_def=executor,
        )
        return AlertDefinitions(job, build_alert_schedule(alert, job), [check])
    job = build_alert_job(alert, job_name, channel_names, executor)
    if alert.window:
        schedule = build_window_schedule(alert, job)
    elif alert.batch:
        # its batch job's schedule evaluates it; this one stays for runs of the alert alone
        schedule = build_alert_schedule(alert, job, running=False,
                                        note="stopped: a batch schedule evaluates this alert")
    else:
        schedule = build_alert_schedule(alert, job)
    return AlertDefinitions(job, schedule)


def build_alert_job(
    alert: AlertSpec,
    job_name: str,
    channel_names: list[str],
    executor: dg.ExecutorDefinition | None = dg.in_process_executor,
) -> dg.JobDefinition:
    """The job ``job_name`` that evaluates ``alert`` once per run (per window if windowed)."""

    @dg.op(
        name=f"evaluate_{job_name}",
        description=alert.description or f"Evaluate the alert {alert.name}",
        required_resource_keys=required_resources(alert, channel_names),
        tags={ALERT_TAG: alert.name},
    )
    def evaluate(context: dg.OpExecutionContext):
        ev = evaluate_in_op(context, alert, channel_names)
        metadata = evaluation_metadata(ev)
        if ev.status == ERROR:
            # the ERROR notice went out (or was held back); the run fails with the reason
            raise dg.Failure(description=f"alert {alert.name}: {ev.outcome.message}",
                             metadata=metadata, allow_retries=False)
        return dg.Output(ev.status, metadata=metadata)

    @dg.job(
        name=job_name,
        description=_job_description(alert),
        tags={ALERT_TAG: alert.name, DATABASE_TAG: alert.database},
        partitions_def=partitions_for(alert) if alert.window else None,
        executor_def=executor,
    )
    def _job():
        evaluate()

    return _job


def build_alert_check(alert: AlertSpec, check_name: str, channel_names: list[str]):
    """``@asset_check`` on the alert's asset key; notices are sent from inside the check."""
    severity = dg.AssetCheckSeverity.WARN if alert.severity == "warn" else dg.AssetCheckSeverity.ERROR

    @dg.asset_check(
        asset=dg.AssetKey(alert.asset_key_path),
        name=check_name,
        description=alert.description or f"Sentinel alert {alert.name}",
        required_resource_keys=required_resources(alert, channel_names),
        blocking=False,
    )
    def _check(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        ev = evaluate_in_op(context, alert, channel_names)
        # a failed check does not fail the run: the notice already went out from here
        return dg.AssetCheckResult(
            passed=ev.status in (OK, NO_DATA),
            severity=severity,
            description=ev.outcome.message,
            metadata=evaluation_metadata(ev),
        )

    return _check


def _job_description(alert: AlertSpec) -> str:
    text = alert.description or f"Alert {alert.name}"
    where = f" ({alert.source_file}:{alert.source_line})" if alert.source_file else ""
    return f"{text}{where}"
