"""sentinel_assets: SQL alerting compiled into Dagster definitions.

The public API is importable from here; each name is loaded on first use (PEP 562), so that
``import sentinel_assets.core.judging`` or the CLI's ``validate`` do not pay for Dagster.

Example:
    .. code-block:: python

        import dagster as dg
        from sentinel_assets import build_sentinel_defs

        defs = dg.Definitions.merge(host_defs, build_sentinel_defs("alert_specs", job_prefix="alerts_"))
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# public name -> module that defines it
_EXPORTS = {
    "build_sentinel_defs": "sentinel_assets.orchestration.factory",
    "SentinelAlerts": "sentinel_assets.components",
    "load_specs": "sentinel_assets.spec.loader",
    "AlertSpec": "sentinel_assets.spec.models",
    "SentinelConfig": "sentinel_assets.spec.models",
    "SpecError": "sentinel_assets.spec.errors",
    "Outcome": "sentinel_assets.core.judging",
    "judge": "sentinel_assets.core.judging",
    "AlertState": "sentinel_assets.core.lifecycle",
    "Notice": "sentinel_assets.core.lifecycle",
    "Policy": "sentinel_assets.core.lifecycle",
    "step": "sentinel_assets.core.lifecycle",
    "Evaluation": "sentinel_assets.engine.evaluation",
    "evaluate_alert": "sentinel_assets.engine.evaluation",
    "Database": "sentinel_assets.databases.base",
    "SqlDatabase": "sentinel_assets.databases.sql",
    "BigQueryDatabase": "sentinel_assets.databases.bigquery",
    "LogChannel": "sentinel_assets.channels.log",
    "EmailChannel": "sentinel_assets.channels.email",
    "SlackChannel": "sentinel_assets.channels.slack",
    "WebhookChannel": "sentinel_assets.channels.webhook",
    "SentinelStateStore": "sentinel_assets.orchestration.resources",
}
__all__ = [
    "AlertSpec",
    "AlertState",
    "BigQueryDatabase",
    "Database",
    "EmailChannel",
    "Evaluation",
    "LogChannel",
    "Notice",
    "Outcome",
    "Policy",
    "SentinelAlerts",
    "SentinelConfig",
    "SentinelStateStore",
    "SlackChannel",
    "SpecError",
    "SqlDatabase",
    "WebhookChannel",
    "build_sentinel_defs",
    "evaluate_alert",
    "judge",
    "load_specs",
    "step",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'sentinel_assets' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs
    from sentinel_assets.channels.email import EmailChannel
    from sentinel_assets.channels.log import LogChannel
    from sentinel_assets.channels.slack import SlackChannel
    from sentinel_assets.channels.webhook import WebhookChannel
    from sentinel_assets.components import SentinelAlerts
    from sentinel_assets.core.judging import Outcome, judge
    from sentinel_assets.core.lifecycle import AlertState, Notice, Policy, step
    from sentinel_assets.databases.base import Database
    from sentinel_assets.databases.bigquery import BigQueryDatabase
    from sentinel_assets.databases.sql import SqlDatabase
    from sentinel_assets.engine.evaluation import Evaluation, evaluate_alert
    from sentinel_assets.orchestration.factory import build_sentinel_defs
    from sentinel_assets.orchestration.resources import SentinelStateStore
    from sentinel_assets.spec.errors import SpecError
    from sentinel_assets.spec.loader import load_specs
    from sentinel_assets.spec.models import AlertSpec, SentinelConfig
