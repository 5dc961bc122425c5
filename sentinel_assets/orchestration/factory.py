"""``build_sentinel_defs``: the public factory from specs to ``dg.Definitions``."""

from __future__ import annotations

import logging
import os
import re

import dagster as dg

from sentinel_assets.orchestration.batches import build_batch_definitions, group_batches
from sentinel_assets.orchestration.health_defs import build_health_defs
from sentinel_assets.orchestration.jobs import build_alert_definitions
from sentinel_assets.orchestration.resources import build_resources
from sentinel_assets.orchestration.retention import build_retention_defs
from sentinel_assets.orchestration.sensors import build_spec_errors_sensor
from sentinel_assets.spec.errors import SpecError
from sentinel_assets.spec.loader import load_specs
from sentinel_assets.spec.models import SentinelConfig

_log = logging.getLogger("sentinel_assets")
_JOB_PREFIX = re.compile(r"^[A-Za-z0-9_]*$")


def build_sentinel_defs(
    specs: str | os.PathLike | SentinelConfig | None = None,
    *,
    job_prefix: str = "",
    executor: dg.ExecutorDefinition | None = dg.in_process_executor,
    state_url: str | None = None,
) -> dg.Definitions:
    """Compile alert specs into Dagster definitions.

    Args:
        specs: a specs directory (default ``$SENTINEL_SPECS_DIR`` or ``./alert_specs``) or an
            already loaded ``SentinelConfig``.
        job_prefix: prepended to every job and schedule name, for embedding in a host project.
        executor: the executor of the alert and batch jobs; in process by default (one op per
            job: a step subprocess would only load the code location a second time). ``None``
            leaves it to the definitions they are merged into (e.g. a Celery executor).
        state_url: the sentinel state database; default ``$SENTINEL_STATE_URL`` (as an
            ``EnvVar``) or SQLite next to the Dagster instance.

    Returns:
        One job and one schedule per valid alert, the resources they need under ``sentinel_*``
        keys, and a ``sentinel_spec_errors`` sensor that fails while some specs are broken.
        Broken alerts are left out and reported; they never stop the valid ones.
    """
    if not _JOB_PREFIX.match(job_prefix):
        raise ValueError(f"job_prefix {job_prefix!r} may only hold letters, digits and underscores")
    config = specs if isinstance(specs, SentinelConfig) else load_specs(specs)
    errors: list[SpecError] = list(config.errors)
    for error in errors:
        _log.warning("sentinel spec error: %s", error)
    resources = build_resources(config, state_url)
    available = set(config.channels)
    jobs, schedules, checks = [], [], []
    for alert in config.alerts:
        compiled = build_alert_definitions(alert, f"{job_prefix}{alert.name}", available, executor)
        jobs.append(compiled.job)
        schedules.append(compiled.schedule)
        checks.extend(compiled.asset_checks)
    for batch in group_batches(config.alerts, job_prefix):
        job, schedule = build_batch_definitions(batch, available, executor)
        jobs.append(job)
        schedules.append(schedule)
    sensor_name = f"{job_prefix}sentinel_spec_errors"
    defs = dg.Definitions(
        jobs=jobs,
        schedules=schedules,
        asset_checks=checks,
        sensors=[build_spec_errors_sensor(errors, sensor_name)],
        resources=resources,
    )
    # the healthcheck job and schedule, the run-failure and liveness sensors; the daily
    # sentinel_retention job
    return dg.Definitions.merge(
        defs, build_health_defs(config, resources, job_prefix), build_retention_defs(job_prefix)
    )
