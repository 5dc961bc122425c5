"""``SentinelAlerts``: a Dagster Component wrapping ``build_sentinel_defs``.

In a ``dg`` project, ``defs/alerts/defs.yaml``::

    type: sentinel_assets.components.SentinelAlerts
    attributes:
      specs_dir: alert_specs        # relative to this defs.yaml; or inline:
      # databases: {warehouse: {url: "${WAREHOUSE_URL}"}}
      # channels: {outbox: {type: log}}
      # alerts: [{name: orders_low, schedule: "0 9 * * *", database: warehouse, query: ...}]
      job_prefix: alerts_
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import dagster as dg
from pydantic import Field

from sentinel_assets.orchestration.factory import build_sentinel_defs
from sentinel_assets.spec.loader import load_specs, load_specs_from_dict


class SentinelAlerts(dg.Component, dg.Model, dg.Resolvable):
    """SQL alerts from a specs directory or inline YAML, compiled into jobs, schedules, checks.

    Example ``defs.yaml``:

    .. code-block:: yaml

        type: sentinel_assets.components.SentinelAlerts
        attributes:
          specs_dir: alert_specs
          job_prefix: alerts_
    """

    specs_dir: Optional[str] = Field(
        default=None, description="Specs directory, relative to this component's folder."
    )
    databases: Optional[dict[str, Any]] = Field(default=None, description="Inline databases.")
    channels: Optional[dict[str, Any]] = Field(default=None, description="Inline channels.")
    defaults: Optional[dict[str, Any]] = Field(default=None, description="Inline defaults.")
    alerts: Optional[list[dict[str, Any]]] = Field(default=None, description="Inline alerts.")
    job_prefix: str = Field(default="", description="Prefix for job, schedule and sensor names.")

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        inline = {
            key: value
            for key, value in (
                ("databases", self.databases),
                ("channels", self.channels),
                ("defaults", self.defaults),
                ("alerts", self.alerts),
            )
            if value is not None
        }
        if self.specs_dir and inline:
            raise ValueError(f"{context.path}/defs.yaml: give either specs_dir or inline "
                             "databases/channels/defaults/alerts, not both")
        if self.specs_dir:
            config = load_specs(Path(context.path) / self.specs_dir)
        else:
            config = load_specs_from_dict(inline, source=str(Path(context.path) / "defs.yaml"))
        return build_sentinel_defs(config, job_prefix=self.job_prefix)
