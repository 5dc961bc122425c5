"""``build_sentinel_defs``: the public factory from specs to ``dg.Definitions``."""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import dagster as dg

from sentinel_assets.names import SPEC_RELOAD_SENSOR, origin_tags
from sentinel_assets.orchestration.checks import build_alert_checks
from sentinel_assets.orchestration.grouped import build_group_job, build_group_schedules
from sentinel_assets.orchestration.health_defs import build_health_defs
from sentinel_assets.orchestration.jobs import alerts_with_own_jobs, build_alert_definitions
from sentinel_assets.orchestration.reload import SpecFiles, build_spec_reload_sensor
from sentinel_assets.orchestration.resources import build_resources
from sentinel_assets.orchestration.retention import build_retention_defs
from sentinel_assets.orchestration.sensors import build_spec_errors_sensor
from sentinel_assets.spec.errors import SpecError
from sentinel_assets.spec.loader import load_specs, specs_dir_from_env
from sentinel_assets.spec.models import SentinelConfig

_log = logging.getLogger("sentinel_assets")
_JOB_PREFIX = re.compile(r"^[A-Za-z0-9_]*$")
def check_job_prefix(job_prefix: str) -> None:
    if not _JOB_PREFIX.match(job_prefix):
        raise ValueError(f"job_prefix {job_prefix!r} may only hold letters, digits and underscores")


def build_sentinel_defs(
    specs: str | os.PathLike | SentinelConfig | None = None,
    *,
    job_prefix: str = "",
    executor: dg.ExecutorDefinition | None = dg.in_process_executor,
    state_url: str | None = None,
    alert_jobs_limit: int | None = None,
    location_name: str | None = None,
) -> dg.Definitions:
    """Compile alert specs into Dagster definitions.

    Args:
        specs: a specs directory (default ``$SENTINEL_SPECS_DIR`` or ``./alert_specs``) or an
            already loaded ``SentinelConfig``.
        job_prefix: prepended to every job and schedule name, for embedding in a host project.
        executor: the executor of sentinel's jobs; in process by default (one op per job: a
            step subprocess would only load the code location a second time). ``None`` leaves
            it to the definitions they are merged into (e.g. a Celery executor).
        state_url: the sentinel state database; default ``$SENTINEL_STATE_URL`` (as an
            ``EnvVar``) or SQLite next to the Dagster instance.
        alert_jobs_limit: up to this many alerts, each alert also gets a job of its own (for
            ``dagster job execute -j <alert>``); beyond it only windowed alerts do, and
            ``sentinel run ALERT`` or the check's "Execute" in the UI runs one alert. Default
            ``$SENTINEL_ALERT_JOBS_LIMIT``, else 500.
        location_name: the name of the code location these definitions load as (the
            ``location_name`` of its workspace entry). With it, every run of sentinel's jobs is
            tagged so that the UI lists it on its job's page even when it was started outside the
            UI (``sentinel run``, ``dagster job execute``); ``sentinel_assets.definitions`` passes
            ``sentinel_assets``.

    Returns:
        Every valid alert as an asset check (on its ``asset:`` or on ``sentinel/<database>``),
        one schedule per distinct cron and timezone that starts ``sentinel_evaluate`` runs per
        database shard, per-alert jobs up to ``alert_jobs_limit``, the resources under
        ``sentinel_*`` keys, a ``sentinel_spec_errors`` sensor that fails while some specs
        are broken and, when ``specs`` is a directory, a ``sentinel_spec_reload`` sensor that
        reloads the code location when its files change (``orchestration/reload.py``). Broken
        alerts are left out and reported; they never stop the valid ones.
    """
    check_job_prefix(job_prefix)
    # a specs directory is watched: its files as they are before loading them (reload.py)
    watched = None if isinstance(specs, SentinelConfig) else Path(specs or specs_dir_from_env())
    loaded = SpecFiles.of(watched) if watched is not None else None
    config = specs if isinstance(specs, SentinelConfig) else load_specs(watched)
    errors: list[SpecError] = list(config.errors)
    for error in errors:
        _log.warning("sentinel spec error: %s", error)
    resources = build_resources(config, state_url)
    run_tags = origin_tags(location_name)
    available = set(config.channels)
    jobs, schedules = [], []
    for alert in alerts_with_own_jobs(config, alert_jobs_limit):
        compiled = build_alert_definitions(alert, f"{job_prefix}{alert.name}", available,
                                           executor, job_prefix, run_tags)
        jobs.append(compiled.job)
        if compiled.schedule is not None:
            schedules.append(compiled.schedule)
    assets, checks = build_alert_checks(config.alerts, available, job_prefix)
    group_job = build_group_job(config.alerts, available, job_prefix, executor, run_tags)
    jobs.append(group_job)
    queues = {name: db.queue for name, db in config.databases.items() if db.queue}
    schedules.extend(build_group_schedules(config.alerts, group_job, job_prefix, queues))
    sensor_name = f"{job_prefix}sentinel_spec_errors"
    sensors = [build_spec_errors_sensor(errors, sensor_name)]
    if watched is not None:
        def compiles(new: SentinelConfig) -> None:
            build_sentinel_defs(new, job_prefix=job_prefix, executor=executor, state_url=state_url,
                                alert_jobs_limit=alert_jobs_limit,
                                location_name=location_name).get_repository_def()

        sensors.append(build_spec_reload_sensor(watched, loaded, config, compiles,
                                                f"{job_prefix}{SPEC_RELOAD_SENSOR}"))
    defs = dg.Definitions(
        jobs=jobs,
        schedules=schedules,
        assets=assets,
        asset_checks=checks,
        sensors=sensors,
        resources=resources,
    )
    # the healthcheck job and schedule, the run-failure and liveness sensors; the daily
    # sentinel_retention job
    return dg.Definitions.merge(
        defs, build_health_defs(config, resources, job_prefix, run_tags),
        build_retention_defs(job_prefix, run_tags),
    )
