"""The ``sentinel_retention`` job: OSS Dagster keeps every run forever, so sentinel prunes its own.

Once a day (schedule ``<job>_schedule``, RUNNING) it deletes, for runs older than the cut-off
(``$SENTINEL_RETENTION_DAYS``, default 30 days, or the op config ``days``):

- sentinel's finished runs with their event logs (``instance.delete_run``) and captured compute
  logs. A run is sentinel's when it carries a ``sentinel/`` tag (alert, healthcheck and retention
  jobs all do), so the runs of a host project that embeds sentinel are never touched; a run
  counts as old only when it was both created and last updated before the cut-off;
- delivery records (``sentinel_deliveries``) created before the cut-off.

Recent history is never touched: the cut-off is at least one day back, which also keeps the
24-hour window in which failed deliveries are retried.
"""

# no ``from __future__ import annotations``: Dagster reads the op's config annotation at runtime
import os
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Mapping

import dagster as dg
from pydantic import Field

from sentinel_assets.names import RETENTION_JOB, RETENTION_TAG, STATE_KEY, TAG_PREFIX, schedule_name

RETENTION_CRON = "0 3 * * *"
DAYS_ENV = "SENTINEL_RETENTION_DAYS"
DEFAULT_DAYS = 30
# sentinel runs are short; this job may delete many runs, so it gets more than the instance's
# run_monitoring.max_runtime_seconds default (dagster.yaml)
MAX_RUNTIME_SECONDS = 3600
PAGE = 200
_FINISHED = [dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE,
             dg.DagsterRunStatus.CANCELED]


class RetentionConfig(dg.Config):
    """How far back to keep history."""

    days: int | None = Field(
        default=None,
        description=f"Keep this many days of runs and deliveries; default ${DAYS_ENV}, "
        f"else {DEFAULT_DAYS}. At least 1.",
    )


@dataclass(frozen=True)
class Pruned:
    """What one retention pass deleted."""

    cutoff: datetime
    runs: int
    deliveries: int


def retention_days(days: int | None = None) -> int:
    """``days``, else ``$SENTINEL_RETENTION_DAYS``, else 30; refuses anything below one day."""
    if days is None:
        raw = os.environ.get(DAYS_ENV, "").strip()
        if not raw:
            return DEFAULT_DAYS
        try:
            days = int(raw)
        except ValueError:
            raise ValueError(f"{DAYS_ENV}={raw!r} is not a whole number of days; "
                             f"set it to e.g. {DEFAULT_DAYS}") from None
    if days < 1:
        raise ValueError(f"retention of {days} day(s) would delete recent history; "
                         f"keep at least 1 day (config 'days' or {DAYS_ENV})")
    return days


def is_sentinel_run(run: dg.DagsterRun) -> bool:
    """Runs of sentinel's jobs carry a ``sentinel/`` tag; a host project's runs do not."""
    return any(key.startswith(TAG_PREFIX) for key in run.tags)


def prune_runs(instance: dg.DagsterInstance, cutoff: datetime, log=None) -> int:
    """Delete sentinel's finished runs created and last updated before ``cutoff``.

    Returns:
        The number of runs deleted.
    """
    old = dg.RunsFilter(statuses=_FINISHED, created_before=cutoff, updated_before=cutoff)
    deleted, cursor, seen = 0, None, set()
    while True:
        records = instance.get_run_records(filters=old, limit=PAGE, cursor=cursor)
        fresh = [r.dagster_run for r in records if r.dagster_run.run_id not in seen]
        if not fresh:
            return deleted
        for run in fresh:
            seen.add(run.run_id)
            if is_sentinel_run(run):
                _delete_run(instance, run.run_id, log)
                deleted += 1
            else:
                # the cursor must name a run that still exists: deleted runs leave the result,
                # so paging on from the last kept run reaches the rest
                cursor = run.run_id


def _delete_run(instance: dg.DagsterInstance, run_id: str, log) -> None:
    instance.delete_run(run_id)  # the run and its event log
    try:
        instance.compute_log_manager.delete_logs(prefix=[run_id])
    except Exception as exc:  # noqa: BLE001 - stdout/stderr files are not worth failing for
        if log:
            log.warning(f"could not delete the captured logs of run {run_id}: {exc}")


def prune(instance: dg.DagsterInstance, store, days: int | None = None, *,
          now: datetime | None = None, log=None) -> Pruned:
    """Delete sentinel runs and delivery records older than ``days`` (see the module docstring).

    Args:
        instance: the Dagster instance whose run and event storage is pruned.
        store: the sentinel ``StateStore`` holding the delivery records.
        days: how many days to keep; default ``$SENTINEL_RETENTION_DAYS`` or 30.
        now: the reference time (default: now, UTC).
        log: a Dagster or stdlib logger for warnings.
    """
    cutoff = (now or datetime.now(timezone.utc)) - timedelta(days=retention_days(days))
    runs = prune_runs(instance, cutoff, log=log)
    return Pruned(cutoff, runs, store.prune_deliveries(cutoff))


def build_retention_defs(job_prefix: str = "",
                         run_tags: Mapping[str, str] | None = None) -> dg.Definitions:
    """``<job_prefix>sentinel_retention`` and its daily schedule (03:00 UTC, RUNNING).

    The job needs the ``sentinel_state`` resource, which ``build_sentinel_defs`` provides.
    """
    job_name = f"{job_prefix}{RETENTION_JOB}"

    @dg.op(name=f"prune_{job_name}", required_resource_keys={STATE_KEY},
           description="Delete sentinel runs (with their events) and delivery records older "
           "than the retention period")
    def prune_history(context: dg.OpExecutionContext, config: RetentionConfig):
        store = getattr(context.resources, STATE_KEY).store()
        done = prune(context.instance, store, config.days, log=context.log)
        context.log.info(f"retention: deleted {done.runs} run(s) and {done.deliveries} delivery "
                         f"record(s) older than {done.cutoff.isoformat()}")
        return dg.Output(done.runs, metadata={
            "cutoff": dg.MetadataValue.text(done.cutoff.isoformat()),
            "runs_deleted": dg.MetadataValue.int(done.runs),
            "deliveries_deleted": dg.MetadataValue.int(done.deliveries),
        })

    # in process, as alert jobs: one op, and a Celery worker's process may start no subprocess
    @dg.job(name=job_name, description="Prune sentinel's run history and delivery records",
            tags={RETENTION_TAG: "prune", "dagster/max_runtime": str(MAX_RUNTIME_SECONDS),
                  **(run_tags or {})}, executor_def=dg.in_process_executor)
    def retention_job():
        prune_history()

    schedule = dg.ScheduleDefinition(
        name=schedule_name(job_name),
        job=retention_job,
        cron_schedule=RETENTION_CRON,
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Prunes sentinel history older than $SENTINEL_RETENTION_DAYS (default 30) "
        "days, daily at 03:00 UTC",
    )
    return dg.Definitions(jobs=[retention_job], schedules=[schedule])
