"""Dagster resources built from the specs, under namespaced keys (docs/design.md, "Dagster
wiring").

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

from sentinel_assets.channels.registry import CHANNEL_RESOURCES
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
    """``"${VAR}"`` -> ``dg.EnvVar("VAR")``; anything else unchanged (the one rule for secrets).

    The Dagster UI then shows the variable's name, never its value. A value with a reference
    inside it (``https://hooks.example.com/${TOKEN}``) stays a template that the resource expands
    when it uses it.
    """
    if template is None:
        return None
    name = whole_env_var(template)
    return dg.EnvVar(name) if name else template


def _settings(spec: Any, *, env_vars: bool) -> dict[str, Any]:
    """The resource arguments of a spec: its settings, secrets as ``dg.EnvVar`` when asked."""
    values = spec.settings()
    if env_vars:
        for name in spec.secret_fields:
            value = values.get(name)
            if isinstance(value, dict):
                values[name] = {k: secret_value(v) for k, v in value.items()}
            else:
                values[name] = secret_value(value)
    return values


def database_resource(spec: DatabaseSpec, *, env_vars: bool = True) -> dg.ConfigurableResource:
    """The resource of a database spec: ``BigQueryDatabase`` or ``SqlDatabase``.

    With ``env_vars=False`` (the CLI, outside a Dagster run) ``${VAR}`` references stay templates
    that the resource expands when it connects.
    """
    values = _settings(spec, env_vars=env_vars)
    if spec.is_bigquery:
        from sentinel_assets.databases.bigquery import BigQueryDatabase

        return BigQueryDatabase(**values)
    return SqlDatabase(url=values["url"])


def channel_resource(spec: Any, *, env_vars: bool = True) -> dg.ConfigurableResource:
    """The resource of a validated channel spec, built from its settings."""
    return CHANNEL_RESOURCES[spec.type](**_settings(spec, env_vars=env_vars))


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
