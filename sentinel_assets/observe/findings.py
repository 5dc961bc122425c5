"""Sentinel's own findings (its health, missed evaluations, crashed runs) told like alerts.

They go through ``evaluate_alert`` with a ready ``Outcome`` instead of a query, so they get the
same lifecycle, deduplication (one notice per episode, idempotency keys claimed in the state
store) and retries as any alert, and survive restarts of whatever process found them:

- sentinel's health is the pseudo-alert ``sentinel:<health job>``: healthy is OK, degraded is
  ALERT (``firing`` / ``resolved``), unhealthy is ERROR (``error`` / ``error_resolved``), so every
  change of level sends a notice and nothing repeats while it stays the same;
- missed evaluations of alert X are the pseudo-alert ``liveness:X`` (``firing`` when X is late,
  ``resolved`` when it evaluates again), sent to X's owner;
- a crashed run of alert X is an ERROR of X itself (it did not evaluate), so it shares X's error
  episode with query errors: one ``error`` notice to the owner per episode, however it failed.

Pseudo-alert names contain ``:``, which alert names cannot, so they never collide with an alert.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime
from typing import Any, Mapping

from sentinel_assets.core.judging import Outcome
from sentinel_assets.core.redaction import redact
from sentinel_assets.engine.evaluation import Evaluation, evaluate_alert
from sentinel_assets.names import NOTICE_KINDS, channel_key
from sentinel_assets.observe.health import initialize
from sentinel_assets.spec.models import AlertSpec, SentinelConfig

HEALTH_CHANNEL = "health"
_NAME_LIMIT = 64  # the state store's alert column
_log = logging.getLogger("sentinel_assets.observe.findings")


def fit_name(name: str) -> str:
    """``name`` shortened with a hash suffix when it is longer than the state store allows."""
    if len(name) <= _NAME_LIMIT:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[:_NAME_LIMIT - 9]}~{digest}"


def pseudo_alert(name: str, description: str, recipients: list[str], *, schedule: str,
                 timezone: str = "UTC", tags: Mapping[str, str] | None = None) -> AlertSpec:
    """An ``AlertSpec`` for one of sentinel's own findings, sending every kind to ``recipients``."""
    spec = AlertSpec.model_validate({
        "name": "sentinel_self_check",  # replaced below: pseudo names hold a ':' on purpose
        "description": description,
        "schedule": schedule,
        "timezone": timezone,
        "database": "sentinel",
        "query": "-- sentinel's own check; no query runs",
        "tags": dict(tags or {}),
        "notify": [{"channel": c, "on": list(NOTICE_KINDS)} for c in recipients],
        "send_resolved": True,
    })
    return spec.model_copy(update={"name": fit_name(name)})


def health_recipients(config: SentinelConfig) -> list[str]:
    """A channel named ``health`` if configured, else every alert owner."""
    if HEALTH_CHANNEL in config.channels:
        return [HEALTH_CHANNEL]
    return list(dict.fromkeys(a.owner for a in config.alerts if a.owner))


def owner_recipients(alert: AlertSpec) -> list[str]:
    """The alert's owner, else its notify channels (a problem is never silent)."""
    if alert.owner:
        return [alert.owner]
    return [e if isinstance(e, str) else e.channel for e in alert.notify]


def channel_values(resources: Mapping[str, Any], names: list[str]) -> dict[str, Any]:
    """Initialised channel resources for ``names``; one that cannot start is left out (its
    deliveries are recorded as failed and retried later)."""
    channels = {}
    for name in names:
        resource = resources.get(channel_key(name))
        if resource is None:
            continue
        try:
            channels[name] = initialize(resource)
        except Exception as exc:  # noqa: BLE001 - recorded as a failed delivery instead
            _log.warning("channel %s cannot start: %s", name, redact(str(exc).splitlines()[0]))
    return channels


def record_finding(
    alert: AlertSpec,
    outcome: Outcome,
    *,
    resources: Mapping[str, Any],
    store: Any,
    now: datetime | None = None,
    run_id: str | None = None,
    log: Any = None,
) -> Evaluation:
    """Record ``outcome`` as an evaluation of ``alert`` and deliver what its lifecycle decides."""
    names = alert.channel_names
    return evaluate_alert(
        alert,
        database=None,
        state_store=store,
        channels=channel_values(resources, names),
        now=now,
        run_id=run_id,
        log=log or _log,
        outcome=outcome,
    )
