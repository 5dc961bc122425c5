"""A snapshot of what the bundled demo specs compile into: jobs, schedules, sensors, checks, resources.

Any change to how alerts compile shows up as a diff of the snapshot. When the change is intended,
refresh it and review the diff of ``__snapshots__/`` with the code change:

    .venv/bin/python -m pytest sentinel_assets_tests/orchestration/test_demo_snapshot.py --snapshot-update
"""

from __future__ import annotations

import dagster as dg
import pytest
from syrupy.extensions.json import JSONSnapshotExtension

from sentinel_assets.orchestration.factory import build_sentinel_defs
from sentinel_assets_tests.helpers import REPO_ROOT


@pytest.fixture
def snapshot_json(snapshot):
    return snapshot.use_extension(JSONSnapshotExtension)


def summary(defs: dg.Definitions) -> dict:
    """The names and settings that deployments and operators rely on, sorted; nothing run-specific."""
    repo = defs.get_repository_def()
    return {
        "jobs": {
            job.name: dict(sorted(job.tags.items()))
            for job in sorted(repo.get_all_jobs(), key=lambda j: j.name)
            if not job.name.startswith("__")  # Dagster's implicit asset job
        },
        "schedules": {
            schedule.name: {
                "cron": schedule.cron_schedule,
                "timezone": schedule.execution_timezone,
                "default_status": schedule.default_status.value,
                "job": schedule.job_name,
            }
            for schedule in sorted(repo.schedule_defs, key=lambda s: s.name)
        },
        "sensors": {
            sensor.name: sensor.default_status.value
            for sensor in sorted(repo.sensor_defs, key=lambda s: s.name)
        },
        "asset_checks": sorted(key.to_user_string() for key in repo.asset_graph.asset_check_keys),
        "resources": {
            key: type(resource).__name__ for key, resource in sorted((defs.resources or {}).items())
        },
    }


def test_compiled_demo_definitions_match_the_snapshot(snapshot_json, dagster_home, tmp_path,
                                                      monkeypatch):
    monkeypatch.chdir(REPO_ROOT)
    monkeypatch.setenv("DEMO_DATABASE_URL", f"sqlite:///{tmp_path / 'demo.db'}")
    monkeypatch.setenv("SENTINEL_SPEC_CACHE", "off")
    for name in ("SENTINEL_SPECS_DIR", "SENTINEL_STATE_URL", "SENTINEL_ALERT_JOBS_LIMIT"):
        monkeypatch.delenv(name, raising=False)
    defs = build_sentinel_defs("alert_specs")
    assert summary(defs) == snapshot_json
