"""Pushgateway: with ``SENTINEL_PUSHGATEWAY_URL`` set, every evaluation pushes its alert's gauges,
best effort (a push never fails an evaluation). Counters are left to the exporter's ``/metrics``.
"""

from __future__ import annotations

import logging
import os
from datetime import datetime, timezone
from typing import Any

from sentinel_assets.core.redaction import redact

PUSH_ENV = "SENTINEL_PUSHGATEWAY_URL"
PUSH_JOB = "sentinel"
_log = logging.getLogger("sentinel_assets.observe.push")


def push_evaluation(ev: Any, run_id: str | None, url: str | None = None,
                    timeout: float = 5.0) -> bool:
    """Push one run's figures for its alert to the Pushgateway at ``url``.

    Pushed under ``job="sentinel", alert=<name>`` (each push replaces that alert's previous
    one): ``sentinel_alert_status``, ``sentinel_last_evaluation_timestamp_seconds`` and
    ``sentinel_alert_duration_seconds``. Counters are left to ``/metrics``, which reads them
    from the instance. Returns True when pushed; any failure is logged, never raised.

    Args:
        ev: the ``Evaluation`` the run made.
        run_id: the Dagster run, logged with a failed push.
        url: the Pushgateway; default ``$SENTINEL_PUSHGATEWAY_URL`` (unset: nothing is pushed).
        timeout: seconds to wait for the Pushgateway.
    """
    url = url or os.environ.get(PUSH_ENV)
    if not url:
        return False
    try:
        from prometheus_client import CollectorRegistry, Gauge, push_to_gateway

        from sentinel_assets.observe.metrics import STATUS_VALUES

        alert = ev.alert.name
        registry = CollectorRegistry()
        Gauge("sentinel_alert_status", "Alert state: 0 OK, 1 PENDING, 2 FIRING, 3 ERROR.",
              ["alert"], registry=registry).labels(alert).set(STATUS_VALUES.get(ev.state.status, 3))
        Gauge("sentinel_last_evaluation_timestamp_seconds", "Unix time of the last evaluation.",
              ["alert"], registry=registry).labels(alert).set(ev.evaluated_at.timestamp())
        seconds = (datetime.now(timezone.utc) - ev.evaluated_at).total_seconds()
        Gauge("sentinel_alert_duration_seconds", "Duration of the alert's latest evaluation.",
              ["alert"], registry=registry).labels(alert).set(seconds)
        push_to_gateway(url, job=PUSH_JOB, registry=registry, grouping_key={"alert": alert},
                        timeout=timeout)
        return True
    except Exception as exc:  # noqa: BLE001 - metrics must never fail an evaluation
        _log.warning("push to the Pushgateway failed (run %s): %s", run_id, redact(str(exc)),
                     extra={"run_id": run_id})
        return False
