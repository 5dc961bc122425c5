"""Dagster resources built from the specs, under namespaced keys (DESIGN.md §5).

Keys: ``sentinel_db_<name>``, ``sentinel_channel_<name>``, ``sentinel_state``, so that
``dg.Definitions.merge`` with a host project cannot collide. A secret that is written as a whole
``${VAR}`` reaches Dagster as ``dg.EnvVar("VAR")``; a value with a reference inside it
(``postgresql://u:${PW}@host/db``) keeps the reference and is expanded when the resource is used.
"""

from __future__ import annotations

import os
from typing import Any

import dagster as dg
from pydantic import Field

from sentinel_assets.databases.sql import SqlDatabase
from sentinel_assets.names import STATE_KEY, channel_key, db_key
from sentinel_assets.spec.env_vars import whole_env_var
from sentinel_assets.spec.models import DatabaseSpec, SentinelConfig
from sentinel_assets.state.store import StateStore, get_state_store


class SentinelStateStore(dg.ConfigurableResource):
    """The sentinel state database (alert state, silences, deliveries).

    Example:
        .. code-block:: python

            state = SentinelStateStore(url=dg.EnvVar("SENTINEL_STATE_URL"))
    """

    url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; default $SENTINEL_STATE_URL, else SQLite next to the "
        "Dagster instance ($DAGSTER_HOME/sentinel_state.db).",
    )

    def store(self) -> StateStore:
        return get_state_store(self.url)


def secret_value(template: str | None) -> Any:
    """``"${VAR}"`` -> ``dg.EnvVar("VAR")``; anything else unchanged."""
    if template is None:
        return None
    name = whole_env_var(template)
    return dg.EnvVar(name) if name else template


def database_resource(spec: DatabaseSpec) -> dg.ConfigurableResource:
    if spec.is_bigquery:
        from sentinel_assets.databases.bigquery import bigquery_resource

        return bigquery_resource(spec)
    return SqlDatabase(url=secret_value(spec.url))


def channel_resource(spec) -> dg.ConfigurableResource:
    """The resource of a validated channel spec (see ``channels/registry.py``)."""
    from sentinel_assets.channels.registry import channel_resource as build

    return build(spec)


def build_resources(config: SentinelConfig, state_url: str | None = None) -> dict[str, Any]:
    """Every resource the alerts of ``config`` need, under namespaced keys."""
    if state_url is None and os.environ.get("SENTINEL_STATE_URL"):
        state_url = dg.EnvVar("SENTINEL_STATE_URL")
    resources: dict[str, Any] = {STATE_KEY: SentinelStateStore(url=state_url)}
    for name, spec in config.databases.items():
        resources[db_key(name)] = database_resource(spec)
    for name, spec in config.channels.items():
        resources[channel_key(name)] = channel_resource(spec)
    return resources
