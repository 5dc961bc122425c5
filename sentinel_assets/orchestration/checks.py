"""Every alert is an asset check: its history and state in the Dagster UI, whichever run
evaluated it.

An alert with ``asset:`` checks that asset (its Checks tab in the host project); every other
alert checks its database, an external asset ``sentinel/<database>``. The checks are declared by
one ``multi_asset_check`` per database and shard of ``CHECKS_PER_OP`` alerts, subsettable, so the
UI's "Execute" on one check evaluates that alert alone. Scheduled runs (``orchestration.grouped``)
record their evaluations on the same checks with one ``AssetCheckEvaluation`` event per alert: a
firing or failing alert is a failed check (red), with the evaluation's metadata and a link to
its run.
"""

# no `from __future__ import annotations`: Dagster reads the op's annotations at runtime

from collections import defaultdict
from typing import Any, Iterable, Mapping

import dagster as dg

from sentinel_assets.core.judging import ERROR, NO_DATA, OK
from sentinel_assets.engine.evaluation import Evaluation
from sentinel_assets.engine.group import GroupResult, evaluate_many
from sentinel_assets.names import (
    NOT_EVALUATED,
    STATE_KEY,
    STATUS_TAG,
    channel_key,
    db_key,
    member_tag,
)
from sentinel_assets.orchestration.metadata import evaluation_metadata
from sentinel_assets.orchestration.ops import run_url
from sentinel_assets.spec.models import AlertSpec

CHECKS_PER_OP = 500
DATABASE_ASSET_PREFIX = "sentinel"


def database_asset_key(database: str) -> dg.AssetKey:
    """The external asset whose checks are the alerts of ``database`` without ``asset:``."""
    return dg.AssetKey([DATABASE_ASSET_PREFIX, database])


def check_key(alert: AlertSpec, job_prefix: str = "") -> dg.AssetCheckKey:
    """The asset check of an alert."""
    asset = dg.AssetKey(alert.asset_key_path) if alert.asset else database_asset_key(alert.database)
    return dg.AssetCheckKey(asset, f"{job_prefix}{alert.name}")


def checked_alerts(alerts: Iterable[AlertSpec]) -> list[AlertSpec]:
    """The alerts that are asset checks: all but windowed ones (their partitioned job records
    each window)."""
    return [a for a in alerts if not a.window]


def passed(ev: Evaluation) -> bool:
    return ev.status in (OK, NO_DATA)


def severity(alert: AlertSpec, status: str | None = None) -> dg.AssetCheckSeverity:
    """The alert's severity; an evaluation that could not judge (ERROR, NOT_EVALUATED) is
    always ERROR."""
    if status in (ERROR, NOT_EVALUATED) or alert.severity != "warn":
        return dg.AssetCheckSeverity.ERROR
    return dg.AssetCheckSeverity.WARN


def check_metadata(result: GroupResult, run_id: str | None) -> dict[str, Any]:
    """What the check's history shows: the evaluation's metadata and a link to its run."""
    if result.evaluation is None:
        metadata: dict[str, Any] = {
            "status": dg.MetadataValue.text(result.status),
            "message": dg.MetadataValue.text(result.error or "not evaluated")}
    else:
        # the rows of a passing evaluation say nothing new and cost the most to store: kept
        # for ALERT, ERROR and NO_DATA
        metadata = evaluation_metadata(result.evaluation,
                                       rows=result.evaluation.status != OK)
    metadata["alert"] = dg.MetadataValue.text(result.alert.name)
    url = run_url(run_id) if run_id else None
    if url:
        metadata["run"] = dg.MetadataValue.url(url)
    return metadata


def check_evaluation(result: GroupResult, key: dg.AssetCheckKey,
                     run_id: str | None) -> dg.AssetCheckEvaluation:
    """The one Dagster event that records an alert's evaluation on its check."""
    ev = result.evaluation
    return dg.AssetCheckEvaluation(
        asset_key=key.asset_key, check_name=key.name,
        passed=passed(ev) if ev else False, severity=severity(result.alert, result.status),
        description=ev.outcome.message if ev else (result.error or "not evaluated"),
        metadata=check_metadata(result, run_id),
    )


def resources_for(alerts: Iterable[AlertSpec], available_channels: set[str]) -> set[str]:
    keys = {STATE_KEY}
    for alert in alerts:
        keys.add(db_key(alert.database))
        keys.update(channel_key(c) for c in alert.channel_names if c in available_channels)
    return keys


def evaluate_with_resources(context: Any, alerts: list[AlertSpec],
                            available_channels: set[str]) -> Iterable[GroupResult]:
    """``evaluate_many`` with the op's resources (databases, channels, state store)."""
    resources = context.resources
    names = {c for a in alerts for c in a.channel_names if c in available_channels}
    channels = {c: getattr(resources, channel_key(c)) for c in names
                if hasattr(resources, channel_key(c))}
    databases = {a.database: getattr(resources, db_key(a.database), None) for a in alerts}
    return evaluate_many(alerts, databases=databases,
                         state_store=getattr(resources, STATE_KEY).store(),
                         channels=channels, run_id=context.run_id,
                         run_url=run_url(context.run_id))


def status_tags(statuses: Mapping[str, str]) -> dict[str, str]:
    """Run tags of the alerts a run evaluated (``sentinel history`` and the metrics read them)."""
    tags = {member_tag(name): status for name, status in statuses.items()}
    if len(statuses) == 1:
        tags[STATUS_TAG] = next(iter(statuses.values()))
    return tags


def build_alert_checks(alerts: list[AlertSpec], available_channels: set[str],
                       job_prefix: str = "") -> tuple[list[dg.AssetSpec], list[Any]]:
    """The external database assets and the ``multi_asset_check`` ops that declare the checks."""
    checked = checked_alerts(alerts)
    by_database: dict[str, list[AlertSpec]] = defaultdict(list)
    for alert in checked:
        by_database[alert.database].append(alert)
    assets = [
        dg.AssetSpec(database_asset_key(db), group_name="sentinel", kinds={"sql"},
                     description=f"Database {db!r}: its alerts are this asset's checks.")
        for db in sorted({a.database for a in checked if not a.asset})
    ]
    ops = []
    for database, members in sorted(by_database.items()):
        for start in range(0, len(members), CHECKS_PER_OP):
            shard = members[start:start + CHECKS_PER_OP]
            name = f"{job_prefix}sentinel_checks_{database.lower()}_{start // CHECKS_PER_OP}"
            ops.append(_checks_op(name, shard, available_channels, job_prefix))
    return assets, ops


def _checks_op(name: str, alerts: list[AlertSpec], available_channels: set[str],
               job_prefix: str):
    by_key = {check_key(a, job_prefix): a for a in alerts}
    specs = [dg.AssetCheckSpec(key.name, asset=key.asset_key,
                               description=_describe(alert))
             for key, alert in by_key.items()]

    @dg.multi_asset_check(specs=specs, name=name, can_subset=True,
                          required_resource_keys=resources_for(alerts, available_channels),
                          description=f"Evaluates {len(alerts)} alerts on {alerts[0].database}")
    def _checks(context: dg.AssetCheckExecutionContext):
        op_context = context.op_execution_context
        chosen = [by_key[k] for k in context.selected_asset_check_keys if k in by_key]
        keys = {a.name: k for k, a in by_key.items()}
        statuses: dict[str, str] = {}
        for result in evaluate_with_resources(op_context, chosen, available_channels):
            key = keys[result.alert.name]
            statuses[result.alert.name] = result.status
            ev = result.evaluation
            yield dg.AssetCheckResult(
                asset_key=key.asset_key, check_name=key.name,
                passed=passed(ev) if ev else False,
                severity=severity(result.alert, result.status),
                description=ev.outcome.message if ev else result.error,
                metadata=check_metadata(result, op_context.run_id))
        op_context.instance.add_run_tags(op_context.run_id, status_tags(statuses))

    return _checks


def alert_description(alert: AlertSpec) -> str:
    """The alert's description (or its name) and where it is written."""
    text = alert.description or f"Alert {alert.name}"
    if alert.title:
        text = f"{alert.title}: {alert.description}" if alert.description else alert.title
    where = f" ({alert.source_file}:{alert.source_line})" if alert.source_file else ""
    return f"{text}{where}"


def _describe(alert: AlertSpec) -> str:
    return f"{alert_description(alert)}. Runs on '{alert.schedule}' ({alert.timezone})."
