"""Sensors for what an alert's own op cannot report: crashed runs and missed evaluations.

- ``sentinel_run_failures``: runs of sentinel alert jobs that FAILED or were CANCELED without the
  op having judged them (the process died, a resource failed to initialise, the run was cancelled
  or timed out by run monitoring). Each is recorded as an ERROR evaluation of its alert (see
  ``self_monitoring``), so the owner gets one ``error`` notice per episode and a query ERROR the
  op already reported (run tag ``sentinel/status=ERROR``) is not told twice.
- ``sentinel_liveness``: a dead man's switch. Enabled alerts whose last evaluation is older than
  two of their cron ticks plus a grace period (schedule stopped, runs stuck in the queue, runs
  failing before the op) get a ``firing`` notice to their owner, and ``resolved`` once they
  evaluate again.

Both are RUNNING by default. The run-failure sensor's cursor is the update time of the last run
it looked at (plus the ids seen near it), so a restart continues where it stopped; and since
every notice is claimed in the shared state store under its idempotency key, a tick repeated
after a crash, or run by two daemons, sends nothing twice.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Mapping

import dagster as dg

from sentinel_assets.core.judging import ALERT, ERROR, OK, Outcome
from sentinel_assets.core.lifecycle import S_OK
from sentinel_assets.core.redaction import redact
from sentinel_assets.names import (
    ALERT_TAG,
    LIVENESS_SENSOR,
    RUN_FAILURE_SENSOR,
    STATE_KEY,
    STATUS_TAG,
)
from sentinel_assets.observe.findings import (
    fit_name,
    owner_recipients,
    pseudo_alert,
    record_finding,
)
from sentinel_assets.observe.health import (
    STALE_GRACE,
    StaleAlert,
    find_stale_alerts,
    initialize,
    schedule_states,
)
from sentinel_assets.observe.run_scan import PAGE, ScanPosition, scan_runs
from sentinel_assets.spec.models import AlertSpec, SentinelConfig

_log = logging.getLogger("sentinel_assets.orchestration.sensors")
FAILED_STATUSES = [dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED]
# on its very first tick the sensor looks this far back
FIRST_LOOKBACK = timedelta(days=1)
# runs updated this close to the cursor are read again (clock skew between run workers)
_REASON_EVENTS = {
    dg.DagsterEventType.RESOURCE_INIT_FAILURE,
    dg.DagsterEventType.STEP_FAILURE,
    dg.DagsterEventType.RUN_FAILURE,
    dg.DagsterEventType.RUN_CANCELED,
}


# -- run failures ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class CrashedRun:
    """A run of an alert job that ended without the op reporting the outcome."""

    alert: str
    run_id: str
    status: str
    ended_at: datetime
    reason: str
    notified: tuple[str, ...] = ()  # "kind->channel" of the notices this finding sent

    @property
    def message(self) -> str:
        verb = "was cancelled" if self.status == "CANCELED" else "failed"
        return f"run {self.run_id} {verb} before the evaluation finished: {self.reason}"


def is_unhandled_failure(run: dg.DagsterRun) -> bool:
    """A FAILED/CANCELED alert run that the op did not already report as a query ERROR."""
    return (ALERT_TAG in run.tags and run.status.value in ("FAILURE", "CANCELED")
            and run.tags.get(STATUS_TAG) != ERROR)


def failure_reason(instance: dg.DagsterInstance, run_id: str) -> str:
    """The first error the run's event log recorded, credential-free and on one line."""
    try:
        records = instance.get_records_for_run(run_id, of_type=_REASON_EVENTS).records
    except Exception as exc:  # noqa: BLE001 - the notice still goes out, with less detail
        return f"its event log could not be read ({type(exc).__name__})"
    for record in records:
        event = record.event_log_entry.dagster_event
        error = getattr(event.event_specific_data, "error", None)
        if error is not None:
            root = error.cause or error
            text = root.message.strip().splitlines()[0] if root.message.strip() else root.cls_name
            return redact(text)[:500]
        if event.message:
            return redact(event.message.strip().splitlines()[0])[:500]
    return "no error was recorded (the run process may have died)"


def report_failed_runs(
    instance: dg.DagsterInstance,
    config: SentinelConfig,
    resources: Mapping[str, Any],
    cursor: str | None,
    now: datetime | None = None,
    log: Any = None,
) -> tuple[str, list[CrashedRun]]:
    """Record every new crashed alert run as an ERROR of its alert; returns the new cursor.

    A crash older than the alert's last evaluation is skipped: the alert has evaluated since,
    so the episode is over and there is nothing left to tell.
    """
    now = now or datetime.now(timezone.utc)
    # no cursor yet (or one from another version): look back a day; notices already sent are
    # not repeated, since they are claimed in the state store
    position = ScanPosition.parse(cursor, now - FIRST_LOOKBACK)
    alerts = {a.name: a for a in config.alerts}
    store = None
    found: list[CrashedRun] = []
    for scanned in scan_runs(instance, FAILED_STATUSES, position, PAGE):
        run = scanned.run
        if scanned.old or not is_unhandled_failure(run):
            continue  # finished long ago (only its tags changed since), or handled
        alert = alerts.get(run.tags[ALERT_TAG])
        if alert is None:
            continue  # an alert that is no longer in the specs
        store = store or initialize(resources[STATE_KEY]).store()
        last = store.load(alert.name).last_evaluated_at
        if last is not None and last > scanned.ended_at:
            continue
        crash = CrashedRun(alert.name, run.run_id, run.status.value, scanned.ended_at,
                           failure_reason(instance, run.run_id))
        ev = record_finding(alert, Outcome(ERROR, crash.message), resources=resources,
                            store=store, now=scanned.ended_at, run_id=run.run_id, log=log)
        sent = tuple(f"{d.kind}->{d.channel}" for d in ev.deliveries if d.ok)
        found.append(dataclasses.replace(crash, notified=sent))
    return position.serialize(), found


def build_run_failure_sensor(config: SentinelConfig, resources: Mapping[str, Any],
                             name: str = RUN_FAILURE_SENSOR) -> dg.SensorDefinition:
    """The sensor that tells an alert's owner when its run crashed (see module docstring)."""

    @dg.sensor(
        name=name,
        description="Tells an alert's owner when its run failed or was cancelled before the "
        "evaluation finished (process died, resource failed, run cancelled or timed out). Query "
        "errors are told by the run itself and not repeated here.",
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=30,
    )
    def _sensor(context: dg.SensorEvaluationContext):
        cursor, crashed = report_failed_runs(context.instance, config, resources, context.cursor,
                                             log=context.log)
        context.update_cursor(cursor)
        if not crashed:
            return dg.SkipReason("no new crashed sentinel runs")
        listing = "; ".join(f"{c.alert}: {c.message} (notices: {', '.join(c.notified) or 'none'})"
                            for c in crashed)
        return dg.SkipReason(f"{len(crashed)} crashed run(s) recorded: {listing}")

    return _sensor


# -- liveness -------------------------------------------------------------------------------------
def liveness_alert(alert: AlertSpec) -> AlertSpec:
    """The pseudo-alert ``liveness:<alert>``: FIRING while ``alert`` misses its evaluations."""
    return pseudo_alert(f"liveness:{alert.name}", f"Evaluations of the alert {alert.name}",
                        owner_recipients(alert), schedule=alert.schedule,
                        timezone=alert.timezone, tags=alert.tags)


def check_liveness(
    instance: dg.DagsterInstance,
    config: SentinelConfig,
    resources: Mapping[str, Any],
    *,
    job_prefix: str = "",
    now: datetime | None = None,
    grace: timedelta = STALE_GRACE,
    log: Any = None,
) -> tuple[list[StaleAlert], list[str]]:
    """Record ALERT on ``liveness:<alert>`` for each late alert, OK for each that recovered.

    Returns the late alerts and the names of those that are evaluating again.
    """
    now = now or datetime.now(timezone.utc)
    store = initialize(resources[STATE_KEY]).store()
    states = store.all_states()
    last = {name: s.last_evaluated_at for name, s in states.items()}
    stale = find_stale_alerts(config.alerts, last, schedule_states(instance), now,
                              job_prefix=job_prefix, grace=grace)
    late = {s.alert: s for s in stale}
    recovered = []
    for alert in config.alerts:
        pseudo_name = fit_name(f"liveness:{alert.name}")
        if alert.name in late:
            outcome = Outcome(ALERT, late[alert.name].describe(), value="late")
        elif pseudo_name in states and states[pseudo_name].status != S_OK:
            outcome = Outcome(OK, f"{alert.name} is evaluating again", value="on time")
            recovered.append(alert.name)
        else:
            continue
        record_finding(liveness_alert(alert), outcome, resources=resources, store=store, now=now,
                       log=log)
    return stale, recovered


def build_liveness_sensor(config: SentinelConfig, resources: Mapping[str, Any], *,
                          job_prefix: str = "", name: str = LIVENESS_SENSOR,
                          grace: timedelta = STALE_GRACE) -> dg.SensorDefinition:
    """The dead man's switch for alerts that stopped being evaluated (see module docstring)."""

    @dg.sensor(
        name=name,
        description="Tells an alert's owner when the alert missed its scheduled evaluations "
        "(schedule stopped, runs stuck in the queue or failing before the op starts), and when "
        "it evaluates again.",
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=60,
    )
    def _sensor(context: dg.SensorEvaluationContext):
        stale, recovered = check_liveness(context.instance, config, resources,
                                          job_prefix=job_prefix, grace=grace, log=context.log)
        # the cursor shows what the last tick saw; notices are deduplicated in the state store
        context.update_cursor(json.dumps({"late": sorted(s.alert for s in stale)}))
        if not stale and not recovered:
            return dg.SkipReason("every enabled alert evaluated on schedule")
        parts = [s.describe() for s in stale] + [f"{r} is evaluating again" for r in recovered]
        return dg.SkipReason("; ".join(parts))

    return _sensor
