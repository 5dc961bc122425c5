"""What a run worker loads: the one job its run asks for, not the whole code location.

A run's own process (``dagster api execute_run`` under the default launcher, a Celery worker's
task) loads the code location again only to find the job it runs. Built in full, a location of
10,000 alerts costs seconds there: an asset check per alert, the schedules, the asset graph.
Dagster tells a definitions function why it is loaded; when a process reconstructs the location
for a run without having served it, ``sentinel_assets.definitions`` returns this repository
instead, whose jobs are built by name when asked for (Dagster's lazy repository: a mapping of
job names to functions). ``sentinel run`` builds its jobs the same way. The specs come from the
parsed-spec cache the code server filled (``spec.cache``). A Celery worker loads the location
once per run: the repository is kept for as long as the spec files, the environment values they
read and sentinel's settings are unchanged.

The jobs are the same functions' output as in ``build_sentinel_defs``, with the same resources,
tags and executor; only the jobs that select asset checks (Dagster's own asset job, behind the
UI's "Execute" on a check, and the job of an ``asset:`` alert) need the asset graph, so asking
for one of them builds the full definitions.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Callable

import dagster as dg

from sentinel_assets.names import GROUP_JOB, HEALTH_JOB, RETENTION_JOB, origin_tags
from sentinel_assets.orchestration.checks import checked_alerts
from sentinel_assets.orchestration.grouped import build_group_job
from sentinel_assets.orchestration.jobs import alerts_with_own_jobs, build_alert_definitions
from sentinel_assets.orchestration.resources import build_resources
from sentinel_assets.spec.loader import load_specs, specs_dir_from_env, specs_fingerprint
from sentinel_assets.spec.models import SentinelConfig

# the name Dagster gives the job it makes of a location's assets and checks; and the name of a
# repository built from dg.Definitions (the run's origin names it)
ASSET_JOB = "__ASSET_JOB"
REPOSITORY = "__repository__"


_BUILT: dict[tuple, dg.RepositoryDefinition] = {}


def run_worker_repository(specs_dir: str | os.PathLike | None = None, **kwargs
                          ) -> dg.RepositoryDefinition:
    """``build_run_worker_repository`` for a specs directory, built again only when its files,
    the environment values they read or sentinel's settings changed (``specs_fingerprint``)."""
    key = (specs_fingerprint(specs_dir),
           tuple(sorted((k, v if isinstance(v, (str, int, type(None))) else id(v))
                        for k, v in kwargs.items())))
    if key not in _BUILT or key[0] is None:
        _BUILT.clear()  # one location per process
        _BUILT[key] = build_run_worker_repository(specs_dir, **kwargs)
    return _BUILT[key]


def build_run_worker_repository(
    specs: str | os.PathLike | SentinelConfig | None = None,
    *,
    full: Callable[[], dg.Definitions],
    job_prefix: str = "",
    executor: dg.ExecutorDefinition | None = dg.in_process_executor,
    state_url: str | None = None,
    alert_jobs_limit: int | None = None,
    location_name: str | None = None,
) -> dg.RepositoryDefinition:
    """A repository with the jobs of ``build_sentinel_defs(specs, ...)``, each built on demand.

    ``full`` builds the whole location (``sentinel_assets.definitions``' own definitions); it is
    called, once, only for the jobs that select asset checks.
    """
    full = functools.lru_cache(maxsize=1)(full)
    config = specs if isinstance(specs, SentinelConfig) else \
        load_specs(Path(specs or specs_dir_from_env()))
    resources = build_resources(config, state_url)
    run_tags = origin_tags(location_name)
    available = set(config.channels)

    def bound(build: Callable[[], dg.JobDefinition | dg.Definitions], name: str):
        def job() -> dg.JobDefinition:
            built = build()
            defs = built if isinstance(built, dg.Definitions) else dg.Definitions(jobs=[built])
            return dg.Definitions.merge(defs, dg.Definitions(resources=resources, executor=executor)
                                        ).resolve_job_def(name)
        return job

    def from_full(name: str) -> Callable[[], dg.JobDefinition]:
        return lambda: full().get_repository_def().get_job(name)

    jobs: dict[str, Callable[[], dg.JobDefinition]] = {}
    for alert in alerts_with_own_jobs(config, alert_jobs_limit):
        name = f"{job_prefix}{alert.name}"
        # an `asset:` alert's job selects its check in the asset graph
        jobs[name] = from_full(name) if alert.asset else bound(
            lambda alert=alert, name=name: build_alert_definitions(
                alert, name, available, executor, job_prefix, run_tags).job, name)
    jobs[f"{job_prefix}{GROUP_JOB}"] = bound(
        lambda: build_group_job(config.alerts, available, job_prefix, executor, run_tags),
        f"{job_prefix}{GROUP_JOB}")

    def health() -> dg.Definitions:
        from sentinel_assets.orchestration.health_defs import build_health_defs

        return build_health_defs(config, resources, job_prefix, run_tags)

    def retention() -> dg.Definitions:
        from sentinel_assets.orchestration.retention import build_retention_defs

        return build_retention_defs(job_prefix, run_tags)

    jobs[f"{job_prefix}{HEALTH_JOB}"] = bound(health, f"{job_prefix}{HEALTH_JOB}")
    jobs[f"{job_prefix}{RETENTION_JOB}"] = bound(retention, f"{job_prefix}{RETENTION_JOB}")
    if checked_alerts(config.alerts):  # Dagster makes its asset job only where there are checks
        jobs[ASSET_JOB] = from_full(ASSET_JOB)

    @dg.repository(name=REPOSITORY)
    def _repository():
        return {"jobs": jobs}

    return _repository
