"""One job per alert, for running one alert through Dagster by name
(``dagster job execute -j <alert>``), up to ``build_sentinel_defs``'s ``alert_jobs_limit``.

A plain alert's job runs one op that evaluates it and records the evaluation on its asset check
as well; a windowed alert (``window:``) has the same op job, time-partitioned, with its own
schedule of the last complete window; an alert with ``asset:`` gets an asset job that runs its
check. Scheduled evaluation of plain and asset alerts is grouped (``orchestration.grouped``).
What runs inside the ops is in ``orchestration.ops``.
"""

import os
from dataclasses import dataclass
from typing import Mapping

import dagster as dg

from sentinel_assets.core.judging import ERROR
from sentinel_assets.engine.group import GroupResult
from sentinel_assets.names import ALERT_TAG, DATABASE_TAG
from sentinel_assets.orchestration.checks import alert_description, check_evaluation, check_key
from sentinel_assets.orchestration.metadata import evaluation_metadata
from sentinel_assets.orchestration.ops import evaluate_in_op, required_resources
from sentinel_assets.orchestration.windows import build_window_schedule, partitions_for
from sentinel_assets.spec.models import AlertSpec, SentinelConfig

DEFAULT_ALERT_JOBS_LIMIT = 500


def _jobs_limit() -> int:
    try:
        return int(os.environ.get("SENTINEL_ALERT_JOBS_LIMIT") or DEFAULT_ALERT_JOBS_LIMIT)
    except ValueError:
        return DEFAULT_ALERT_JOBS_LIMIT


def alerts_with_own_jobs(config: SentinelConfig, alert_jobs_limit: int | None = None
                         ) -> list[AlertSpec]:
    """The alerts that get a job of their own: all of them up to the limit, else the windowed
    ones (a window is a partition of its own job)."""
    limit = alert_jobs_limit if alert_jobs_limit is not None else _jobs_limit()
    own_jobs = len(config.alerts) <= limit
    return [a for a in config.alerts if own_jobs or a.window]


@dataclass
class AlertDefinitions:
    """What one alert compiles to: a job, and a schedule when it has a window."""

    job: object
    schedule: dg.ScheduleDefinition | None = None


def build_alert_definitions(
    alert: AlertSpec,
    job_name: str,
    available_channels: set[str],
    executor: dg.ExecutorDefinition | None = dg.in_process_executor,
    job_prefix: str = "",
    run_tags: Mapping[str, str] | None = None,
) -> AlertDefinitions:
    """The job of one alert (and the schedule of a windowed one); ``run_tags`` go on its runs."""
    tags = {ALERT_TAG: alert.name, DATABASE_TAG: alert.database, **(run_tags or {})}
    if alert.asset:
        job = dg.define_asset_job(
            name=job_name, selection=dg.AssetSelection.checks(check_key(alert, job_prefix)),
            description=alert_description(alert), tags=tags, executor_def=executor)
        return AlertDefinitions(job)
    channel_names = [c for c in alert.channel_names if c in available_channels]
    check = None if alert.window else check_key(alert, job_prefix)
    job = build_alert_job(alert, job_name, channel_names, executor, check, run_tags)
    return AlertDefinitions(job, build_window_schedule(alert, job) if alert.window else None)


def build_alert_job(
    alert: AlertSpec,
    job_name: str,
    channel_names: list[str],
    executor: dg.ExecutorDefinition | None = dg.in_process_executor,
    check: dg.AssetCheckKey | None = None,
    run_tags: Mapping[str, str] | None = None,
) -> dg.JobDefinition:
    """The job ``job_name`` that evaluates ``alert`` once per run (per window if windowed);
    with ``check``, each evaluation is also recorded on that asset check."""

    @dg.op(
        name=f"evaluate_{job_name}",
        description=alert.description or f"Evaluate the alert {alert.name}",
        required_resource_keys=required_resources(alert, channel_names),
        tags={ALERT_TAG: alert.name},
    )
    def evaluate(context: dg.OpExecutionContext):
        ev = evaluate_in_op(context, alert, channel_names)
        metadata = evaluation_metadata(ev)
        if check is not None:
            # an ERROR is the check's result (failed, severity ERROR, the reason in its
            # description and metadata), as in grouped runs: a routine outcome, so the run
            # succeeds without a stack trace in its logs or the UI
            context.log_event(check_evaluation(GroupResult(alert, ev), check, context.run_id))
        elif ev.status == ERROR:
            # a window has no check: its partition's run fails, saying why (the ERROR notice
            # went out or was held back); Dagster records where the Failure was raised
            raise dg.Failure(description=f"alert {alert.name}: {ev.outcome.message}",
                             metadata=metadata, allow_retries=False) from None
        return dg.Output(ev.status, metadata=metadata)

    @dg.job(
        name=job_name,
        description=alert_description(alert),
        tags={ALERT_TAG: alert.name, DATABASE_TAG: alert.database, **(run_tags or {})},
        partitions_def=partitions_for(alert) if alert.window else None,
        executor_def=executor,
    )
    def _job():
        evaluate()

    return _job
