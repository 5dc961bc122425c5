"""The code location through Dagster's own command line, in subprocesses."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from sentinel_assets_tests.demo_project import make_demo

DAGSTER = str(Path(sys.executable).parent / "dagster")


@pytest.fixture
def env(tmp_path, monkeypatch, dagster_home, outbox, state_url):
    make_demo(tmp_path, monkeypatch)
    return dict(os.environ)


def test_dagster_definitions_validate_passes(env, tmp_path):
    done = subprocess.run(
        [DAGSTER, "definitions", "validate", "-m", "sentinel_assets.definitions"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Validation successful" in done.stdout + done.stderr


def test_dagster_job_execute_records_the_run_with_sentinel_tags(env, tmp_path, dagster_home, outbox):
    done = subprocess.run(
        [DAGSTER, "job", "execute", "-m", "sentinel_assets.definitions", "-j", "unshipped_orders"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    with dg.DagsterInstance.get() as instance:
        records = instance.get_run_records(dg.RunsFilter(tags={"sentinel/alert": "unshipped_orders"}))
        assert len(records) == 1
        run = records[0].dagster_run
        assert run.status == dg.DagsterRunStatus.SUCCESS
        assert run.tags["sentinel/database"] == "demo"
        assert run.tags["sentinel/status"] == "ALERT"
    assert '"kind": "firing"' in outbox.read_text()
