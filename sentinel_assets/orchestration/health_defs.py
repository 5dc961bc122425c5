"""The ``sentinel_healthcheck`` job, its schedule, and sentinel's own sensors, as definitions.

``build_health_defs`` returns a ``dg.Definitions`` that ``build_sentinel_defs`` merges into its
own: the healthcheck job (every 5 minutes, RUNNING), the run-failure sensor and the liveness
sensor (both RUNNING). They use the resources passed in directly rather than requiring them, so a
database resource that cannot start shows up as a failed check, not as a crashed healthcheck.
"""

from __future__ import annotations

from typing import Any, Mapping

import dagster as dg

from sentinel_assets.core.judging import ALERT, ERROR, OK, Outcome
from sentinel_assets.names import (
    HEALTH_JOB,
    HEALTH_TAG,
    LIVENESS_SENSOR,
    RUN_FAILURE_SENSOR,
    STATE_KEY,
    schedule_name,
)
from sentinel_assets.observe.findings import health_recipients, pseudo_alert, record_finding
from sentinel_assets.observe.health import (
    DEGRADED,
    HEALTHY,
    HealthInputs,
    HealthReport,
    initialize,
    run_healthcheck,
)
from sentinel_assets.orchestration.failure_sensors import (
    build_liveness_sensor,
    build_run_failure_sensor,
)
from sentinel_assets.spec.models import SentinelConfig

HEALTH_CRON = "*/5 * * * *"
_OUTCOMES = {HEALTHY: OK, DEGRADED: ALERT}  # anything else (unhealthy) is ERROR


def health_alert(config: SentinelConfig, job_name: str = HEALTH_JOB):
    """The pseudo-alert whose state is sentinel's health (see ``self_monitoring``)."""
    return pseudo_alert(f"sentinel:{job_name}", "The health of sentinel itself",
                        health_recipients(config), schedule=HEALTH_CRON)


def health_outcome(report: HealthReport) -> Outcome:
    """healthy -> OK, degraded -> ALERT, unhealthy -> ERROR; the problems travel as rows."""
    rows = tuple({"check": c.name, "status": c.status, "detail": c.detail}
                 for c in report.problems)
    return Outcome(_OUTCOMES.get(report.status, ERROR), report.summary(), value=report.status,
                   rows=rows, row_count=len(rows), alert_rows=len(rows))


def health_metadata(report: HealthReport) -> dict[str, dg.MetadataValue]:
    """The verdict, a table of every check, and the report as JSON."""
    records = [
        dg.TableRecord({"check": c.name, "status": c.status, "detail": c.detail,
                        "latency_ms": round(c.latency_ms, 3) if c.latency_ms is not None else None})
        for c in report.checks
    ]
    schema = dg.TableSchema(columns=[
        dg.TableColumn("check", "string"), dg.TableColumn("status", "string"),
        dg.TableColumn("detail", "string"), dg.TableColumn("latency_ms", "float"),
    ])
    return {
        "status": dg.MetadataValue.text(report.status),
        "summary": dg.MetadataValue.text(report.summary()),
        "checks": dg.MetadataValue.table(records=records, schema=schema),
        "report": dg.MetadataValue.json(report.as_dict()),
    }


def notify_health(report: HealthReport, config: SentinelConfig, resources: Mapping[str, Any],
                  *, job_name: str = HEALTH_JOB, run_id: str | None = None, log: Any = None):
    """Record the verdict on the health pseudo-alert; its owners hear of every change."""
    store = initialize(resources[STATE_KEY]).store()
    return record_finding(health_alert(config, job_name), health_outcome(report),
                          resources=resources, store=store, now=report.checked_at,
                          run_id=run_id, log=log)


def build_health_job(config: SentinelConfig, resources: Mapping[str, Any],
                     job_prefix: str = "", run_tags: Mapping[str, str] | None = None
                     ) -> dg.JobDefinition:
    """``<job_prefix>sentinel_healthcheck``: run every check, record the verdict, notify on change."""
    job_name = f"{job_prefix}{HEALTH_JOB}"

    @dg.op(name=f"check_{job_name}", description="Check databases, channels, the state store, "
           "the Dagster daemon, late alerts and spec errors")
    def healthcheck(context):
        report = run_healthcheck(HealthInputs(config, resources, context.instance, job_prefix))
        context.instance.add_run_tags(context.run_id, {HEALTH_TAG: report.status})
        context.log.info(report.summary())
        try:
            ev = notify_health(report, config, resources, job_name=job_name,
                               run_id=context.run_id, log=context.log)
            sent = ", ".join(f"{d.kind}->{d.channel}" for d in ev.deliveries) or "none"
            context.log.info(f"health notices: {sent}")
        except Exception as exc:  # noqa: BLE001 - the report itself is still worth recording
            context.log.warning(f"could not record or notify the health verdict (the state store "
                                f"is needed for that): {exc}")
        return dg.Output(report.status, metadata=health_metadata(report))

    # in process, as alert jobs: one op, and a Celery worker's process may start no subprocess
    @dg.job(name=job_name, description="Is sentinel alive? Databases, channels, state store, "
            "daemon heartbeats, late alerts and spec errors", tags=dict(run_tags or {}),
            executor_def=dg.in_process_executor)
    def _job():
        healthcheck()

    return _job


def build_health_defs(config: SentinelConfig, resources: Mapping[str, Any],
                      job_prefix: str = "", run_tags: Mapping[str, str] | None = None
                      ) -> dg.Definitions:
    """The healthcheck job and schedule, the run-failure sensor and the liveness sensor."""
    job = build_health_job(config, resources, job_prefix, run_tags)
    schedule = dg.ScheduleDefinition(
        name=schedule_name(job.name),
        job=job,
        cron_schedule=HEALTH_CRON,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Checks sentinel's health every 5 minutes",
    )
    sensors = [
        build_run_failure_sensor(config, resources, name=f"{job_prefix}{RUN_FAILURE_SENSOR}"),
        build_liveness_sensor(config, resources, job_prefix=job_prefix,
                              name=f"{job_prefix}{LIVENESS_SENSOR}"),
    ]
    return dg.Definitions(jobs=[job], schedules=[schedule], sensors=sensors)
