"""The SentinelAlerts Dagster Component, through `dg` on a sample project that uses it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sentinel_assets_tests.helpers import SAMPLE_HOST_PROJECT

SAMPLE = SAMPLE_HOST_PROJECT
DG = str(Path(sys.executable).parent / "dg")


@pytest.fixture
def project(tmp_path) -> tuple[Path, dict]:
    root = tmp_path / "sample"
    shutil.copytree(SAMPLE, root)
    env = dict(os.environ, PYTHONPATH=str(root / "src"), SAMPLE_DB=str(tmp_path / "s.db"))
    env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"
    return root, env


def _dg(project, *args: str) -> subprocess.CompletedProcess:
    root, env = project
    return subprocess.run([DG, *args], cwd=root, env=env, capture_output=True, text=True,
                          timeout=240)


def test_dg_check_defs_accepts_the_component(project):
    done = _dg(project, "check", "defs")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "All definitions loaded successfully" in done.stdout + done.stderr


def test_dg_list_defs_shows_alert_jobs_schedules_checks_next_to_host_definitions(project):
    done = _dg(project, "list", "defs", "--json")
    assert done.returncode == 0, done.stderr
    listed = json.loads(done.stdout)
    jobs = {j["name"] for j in listed["jobs"]}
    assert {"orders_job", "alerts_orders_present", "alerts_revenue_daily"} <= jobs
    schedules = {s["name"] for s in listed["schedules"]}
    assert "orders_schedule" in schedules
    assert any(s.startswith("alerts_sentinel_due_") for s in schedules)
    assert "alerts_sentinel_evaluate" in jobs
    checks = {c["key"] for c in listed["asset_checks"]}
    assert "analytics/orders:alerts_orders_present" in checks
    resources = {r["name"] for r in listed["resources"]}
    assert {"warehouse", "sentinel_state", "sentinel_db_demo", "sentinel_channel_outbox"} <= resources


def test_component_type_is_registered_for_dg(project):
    done = _dg(project, "list", "components", "--json")
    assert done.returncode == 0, done.stderr
    assert "sentinel_assets.components.SentinelAlerts" in done.stdout
