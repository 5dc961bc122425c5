"""One op and one job per alert: the thin Dagster glue around ``evaluate_alert``."""



import os

import dagster as dg

from sentinel_assets.evaluation import Evaluation, evaluate_alert
from sentinel_assets.judging import ERROR
from sentinel_assets.metadata import (
    ALERT_TAG,
    DATABASE_TAG,
    evaluation_metadata,
    evaluation_tags,
)
from sentinel_assets.resources import STATE_KEY, channel_key, db_key
from sentinel_assets.spec_models import AlertSpec


class AlertQueryError(Exception):
    """An alert evaluated to ERROR (query failed, timed out, broke the contract)."""


def run_url(run_id: str) -> str | None:
    """Link to the run in the Dagster UI when ``SENTINEL_WEBSERVER_URL`` is set."""
    base = os.environ.get("SENTINEL_WEBSERVER_URL")
    return f"{base.rstrip('/')}/runs/{run_id}" if base else None


def evaluate_in_op(context: dg.OpExecutionContext, alert: AlertSpec, channel_names: list[str],
                   params: dict | None = None, record_state: bool = True) -> Evaluation:
    """Evaluate ``alert`` with the op's resources, logging and tagging the run."""
    resources = context.resources
    channels = {
        name: getattr(resources, channel_key(name))
        for name in channel_names
        if hasattr(resources, channel_key(name))
    }
    ev = evaluate_alert(
        alert,
        database=getattr(resources, db_key(alert.database)),
        state_store=getattr(resources, STATE_KEY).store(),
        channels=channels,
        params=params,
        run_id=context.run_id,
        run_url=run_url(context.run_id),
        log=context.log,
        record_state=record_state,
    )
    context.instance.add_run_tags(context.run_id, evaluation_tags(ev))
    context.log.info(
        f"alert {alert.name}: {ev.status} ({ev.outcome.message}); state "
        f"{ev.previous.status} -> {ev.state.status}; {len(ev.notices)} notice(s)"
    )
    return ev


def build_alert_job(alert: AlertSpec, job_name: str, available_channels: set[str]) -> dg.JobDefinition:
    """The job ``job_name`` that evaluates ``alert`` once per run."""
    channel_names = [c for c in alert.channel_names if c in available_channels]
    required = {STATE_KEY, db_key(alert.database)} | {channel_key(c) for c in channel_names}

    @dg.op(
        name=f"evaluate_{job_name}",
        description=alert.description or f"Evaluate the alert {alert.name}",
        required_resource_keys=required,
        tags={"sentinel/alert": alert.name},
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
    )
    def _job():
        evaluate()

    return _job


def _job_description(alert: AlertSpec) -> str:
    text = alert.description or f"Alert {alert.name}"
    where = f" ({alert.source_file}:{alert.source_line})" if alert.source_file else ""
    return f"{text}{where}"
