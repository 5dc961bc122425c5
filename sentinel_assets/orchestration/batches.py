"""Batched evaluation: many alerts in one run (DESIGN.md §7).

A run per alert costs ~0.5 s of Dagster overhead, so thousands of alerts cannot each have one.
Alerts with ``batch: true`` that share database, schedule and timezone are evaluated by one job,
``sentinel_batch_<database>_<hash>``, whose op calls ``evaluate_alert`` for each of them. Each
alert's result is still recorded per alert in Dagster storage: an output named after the alert
(with the same metadata as a single run) and a run tag ``sentinel/batch/<alert>=<status>`` that
``sentinel history`` and the metrics read. Every alert keeps its own job, so
``dagster job execute -j <alert>`` still evaluates it alone; its own schedule is stopped.
"""

import hashlib
from collections import defaultdict
from dataclasses import dataclass

import dagster as dg

from sentinel_assets.core.judging import ALERT, ERROR, NO_DATA, OK
from sentinel_assets.names import (
    BATCH_TAG,
    DATABASE_TAG,
    NOT_EVALUATED,
    STATUS_TAG,
    member_tag,
    schedule_name,
)
from sentinel_assets.orchestration.metadata import evaluation_metadata
from sentinel_assets.orchestration.ops import evaluate_in_op, required_resources
from sentinel_assets.spec.models import AlertSpec

# the run's own sentinel/status is its worst member's
_SEVERITY = {OK: 0, NO_DATA: 0, ALERT: 1, NOT_EVALUATED: 2, ERROR: 3}


@dataclass(frozen=True)
class Batch:
    """Alerts evaluated together: same database, schedule and timezone."""

    name: str
    database: str
    schedule: str
    timezone: str
    alerts: tuple[AlertSpec, ...]


def group_batches(alerts: list[AlertSpec], job_prefix: str = "") -> list[Batch]:
    """The batches of the ``batch: true`` alerts; names are stable across processes."""
    groups: dict[tuple[str, str, str], list[AlertSpec]] = defaultdict(list)
    for alert in alerts:
        if alert.batch and alert.enabled and not alert.window and not alert.asset:
            groups[(alert.database, alert.schedule, alert.timezone)].append(alert)
    batches = []
    for (database, schedule, tz), members in sorted(groups.items()):
        digest = hashlib.sha256(f"{schedule}|{tz}".encode()).hexdigest()[:8]
        name = f"{job_prefix}sentinel_batch_{database.lower()}_{digest}"
        batches.append(Batch(name, database, schedule, tz, tuple(members)))
    return batches


def build_batch_definitions(
    batch: Batch,
    available_channels: set[str],
    executor: dg.ExecutorDefinition | None = dg.in_process_executor,
) -> tuple[dg.JobDefinition, dg.ScheduleDefinition]:
    """The job and schedule that evaluate ``batch`` in one run."""
    channels = {
        a.name: [c for c in a.channel_names if c in available_channels] for a in batch.alerts
    }
    required = set().union(*(required_resources(a, channels[a.name]) for a in batch.alerts))
    names = ", ".join(a.name for a in batch.alerts)

    @dg.op(
        name=f"evaluate_{batch.name}",
        description=f"Evaluate {len(batch.alerts)} alerts: {names}",
        required_resource_keys=required,
        out={a.name: dg.Out(str, is_required=False) for a in batch.alerts},
        tags={BATCH_TAG: batch.name},
    )
    def evaluate_batch(context: dg.OpExecutionContext):
        statuses: dict[str, str] = {}
        for alert in batch.alerts:
            try:
                ev = evaluate_in_op(context, alert, channels[alert.name], tag_run=False)
            except Exception as exc:  # noqa: BLE001 - one broken alert never stops the others
                context.log.error(f"alert {alert.name} could not be evaluated: "
                                  f"{type(exc).__name__}: {exc}")
                statuses[alert.name] = NOT_EVALUATED
                continue
            statuses[alert.name] = ev.status
            yield dg.Output(ev.status, output_name=alert.name, metadata=evaluation_metadata(ev))
        worst = max(statuses.values(), key=lambda s: _SEVERITY[s]) if statuses else OK
        tags = {member_tag(name): status for name, status in statuses.items()}
        context.instance.add_run_tags(context.run_id, {STATUS_TAG: worst, **tags})
        failed = sorted(n for n, s in statuses.items() if s in (ERROR, NOT_EVALUATED))
        if failed:
            # like a single alert's ERROR: the notices went out, the run fails with the reason
            raise dg.Failure(
                description=f"{len(failed)} of {len(statuses)} alerts did not evaluate cleanly: "
                f"{', '.join(failed)}",
                allow_retries=False,
            )

    @dg.job(
        name=batch.name,
        description=f"Batched alerts on {batch.database} at '{batch.schedule}' "
        f"({batch.timezone}): {names}",
        tags={BATCH_TAG: batch.name, DATABASE_TAG: batch.database},
        executor_def=executor,
    )
    def _job():
        evaluate_batch()

    schedule = dg.ScheduleDefinition(
        name=schedule_name(batch.name),
        job=_job,
        cron_schedule=batch.schedule,
        execution_timezone=batch.timezone,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=f"Evaluates {len(batch.alerts)} batched alerts on '{batch.schedule}'",
    )
    return _job, schedule
