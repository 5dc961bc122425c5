"""Scheduled evaluation, grouped: one schedule per distinct cron and timezone, whose tick starts
one run of ``sentinel_evaluate`` per database shard with the alerts that are due.

A run per alert costs seconds of CPU (a process that imports Dagster and loads the location) and
about fifteen events; here a run evaluates up to ``SHARD_SIZE`` alerts of one database,
concurrently (``engine.group``), and writes one ``AssetCheckEvaluation`` event per alert, so
thousands of alerts a minute fit on a small machine. Each alert keeps its own cron and timezone
(its schedule is the one of its cron and timezone), its own history and state (its asset
check), and a run per database keeps a hanging database from delaying the others; the
instance's ``sentinel/database`` run limit still applies.
"""

# no `from __future__ import annotations`: Dagster reads the op's annotations at runtime

import time
from collections import defaultdict
from typing import Any, Mapping

import dagster as dg
from pydantic import Field

from sentinel_assets.names import (
    CELERY_QUEUE_TAG,
    DATABASE_TAG,
    GROUP_JOB,
    MAX_RETRIES_TAG,
    due_schedule_name,
)
from sentinel_assets.orchestration.checks import (
    check_evaluation,
    check_key,
    checked_alerts,
    evaluate_with_resources,
    resources_for,
    status_tags,
)
from sentinel_assets.spec.models import AlertSpec

SHARD_SIZE = 500
SCHEDULE_TAG = "sentinel/schedule"
# a run that failed as a whole (its worker died and could not be resumed, its launch failed) is
# started again this often where the instance has run_retries (deploy/dagster.celery.yaml)
MAX_RETRIES = 2
# a run worker writes one event per alert: hold one storage connection instead of one per event
_POOL = {"statement_timeout": 60_000, "pool_recycle": 3600, "max_overflow": 4}


class EvaluateConfig(dg.Config):
    """Which alerts a run of ``sentinel_evaluate`` evaluates."""

    alerts: list[str] = Field(description="Alert names; each is recorded on its asset check.")


def group_schedule_name(alert: AlertSpec, job_prefix: str = "") -> str:
    """The schedule that evaluates ``alert``: one per distinct cron and timezone."""
    return due_schedule_name(alert.schedule, alert.timezone, job_prefix)


def scheduled_alerts(alerts: list[AlertSpec]) -> list[AlertSpec]:
    """The alerts grouped schedules evaluate: enabled alerts that are checks."""
    return [a for a in checked_alerts(alerts) if a.enabled]


def shards(alerts: list[AlertSpec], size: int = SHARD_SIZE) -> list[tuple[str, list[AlertSpec]]]:
    """``(database, alerts)`` runs of one tick: by database, at most ``size`` alerts each."""
    by_database: dict[str, list[AlertSpec]] = defaultdict(list)
    for alert in alerts:
        by_database[alert.database].append(alert)
    return [(db, members[i:i + size]) for db, members in sorted(by_database.items())
            for i in range(0, len(members), size)]


def build_group_job(alerts: list[AlertSpec], available_channels: set[str], job_prefix: str = "",
                    executor: dg.ExecutorDefinition | None = dg.in_process_executor,
                    run_tags: Mapping[str, str] | None = None) -> dg.JobDefinition:
    """``sentinel_evaluate``: evaluates the alerts named in its config, each on its check."""
    by_name = {a.name: a for a in checked_alerts(alerts)}

    @dg.op(name=f"{job_prefix}evaluate_alerts", out={},
           required_resource_keys=resources_for(by_name.values(), available_channels),
           description="Evaluates the alerts named in the config, concurrently per database, "
           "and records each on its asset check.")
    def evaluate_alerts(context: dg.OpExecutionContext, config: EvaluateConfig):
        started = time.monotonic()
        chosen = [by_name[n] for n in dict.fromkeys(config.alerts) if n in by_name]
        unknown = sorted(set(config.alerts) - set(by_name))
        if unknown:
            context.log.warning(f"not in the specs any more, skipped: {', '.join(unknown[:20])}")
        if len(chosen) > 20:
            _pool_storage(context.instance)
        statuses: dict[str, str] = {}
        for result in evaluate_with_resources(context, chosen, available_channels):
            statuses[result.alert.name] = result.status
            context.log_event(check_evaluation(result, check_key(result.alert, job_prefix),
                                               context.run_id))
        context.instance.add_run_tags(context.run_id, status_tags(statuses))
        counts: dict[str, int] = defaultdict(int)
        for status in statuses.values():
            counts[status] += 1
        summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
        context.log.info(f"evaluated {len(statuses)} alerts in "
                         f"{time.monotonic() - started:.1f} s: {summary or 'none'}")

    @dg.job(name=f"{job_prefix}{GROUP_JOB}", executor_def=executor,
            tags={MAX_RETRIES_TAG: str(MAX_RETRIES), **(run_tags or {})},
            description="Evaluates many alerts in one run (the grouped schedules start it); "
            "each alert is recorded on its asset check.")
    def _job():
        evaluate_alerts()

    return _job


def build_group_schedules(alerts: list[AlertSpec], job: dg.JobDefinition,
                          job_prefix: str = "", queues: Mapping[str, str] | None = None
                          ) -> list[dg.ScheduleDefinition]:
    """One schedule per distinct (cron, timezone); each tick requests one run per shard.

    ``queues`` maps a database to its Celery queue (its ``queue:``): its runs carry the
    ``dagster-celery/queue`` tag, so only the workers of that queue run them.
    """
    groups: dict[str, list[AlertSpec]] = defaultdict(list)
    for alert in scheduled_alerts(alerts):
        groups[group_schedule_name(alert, job_prefix)].append(alert)
    return [_schedule(name, members, job, queues or {}) for name, members in sorted(groups.items())]


def shard_tags(database: str, schedule: str, queues: Mapping[str, str]) -> dict[str, str]:
    """The tags of the run of one shard of ``database``."""
    tags = {DATABASE_TAG: database, SCHEDULE_TAG: schedule}
    if queues.get(database):
        tags[CELERY_QUEUE_TAG] = queues[database]
    return tags


def _schedule(name: str, members: list[AlertSpec], job: dg.JobDefinition,
              queues: Mapping[str, str]) -> dg.ScheduleDefinition:
    cron, tz = members[0].schedule, members[0].timezone
    listed = ", ".join(a.name for a in members[:30])
    more = f" and {len(members) - 30} more" if len(members) > 30 else ""
    plan = shards(members)

    def requests(context: dg.ScheduleEvaluationContext):
        for index, (database, shard) in enumerate(plan):
            yield dg.RunRequest(run_key=f"{database}-{index}", run_config=run_config_for(job, shard),
                                tags=shard_tags(database, name, queues))

    return dg.ScheduleDefinition(
        name=name, job=job, cron_schedule=cron, execution_timezone=tz,
        execution_fn=requests, default_status=dg.DefaultScheduleStatus.RUNNING,
        description=f"Evaluates {len(members)} alerts on '{cron}' ({tz}): {listed}{more}",
        metadata={"alerts": dg.MetadataValue.json([a.name for a in members])},
    )


def run_config_for(job: dg.JobDefinition, alerts: list[AlertSpec]) -> dict[str, Any]:
    """The run config of a ``sentinel_evaluate`` run of ``alerts``."""
    op_name = next(iter(job.graph.node_dict))
    return {"ops": {op_name: {"config": {"alerts": [a.name for a in alerts]}}}}


def _pool_storage(instance: Any) -> None:
    """Keep one pooled storage connection for this run (dagster-postgres opens one per statement
    otherwise); the same switch Dagster's webserver makes. Other storages ignore it."""
    try:
        instance.optimize_for_webserver(**_POOL)
    except Exception:  # noqa: BLE001 - only an optimisation
        pass
