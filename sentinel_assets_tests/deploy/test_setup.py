"""Quiet set-up: `make demo` installs only when the project changed, an SPDX license, `make dev
PORT=...`, no instance file where Dagster would pick it up by accident, README commands that
Dagster does not warn about."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[2]


def _dry_run(folder: Path, *targets: str) -> str:
    done = subprocess.run(["make", "-n", *targets], cwd=folder, capture_output=True, text=True,
                          env={**os.environ, "DAGSTER_HOME": str(folder / "home")})
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_make_installs_again_only_when_the_project_metadata_changed(tmp_path):
    for name in ("Makefile", "pyproject.toml", "setup.py"):
        shutil.copy(ROOT / name, tmp_path / name)
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    (tmp_path / ".venv" / "bin" / "python").touch()
    assert "pip install -q -e ." in _dry_run(tmp_path, "install")  # never installed
    time.sleep(0.05)
    (tmp_path / ".venv" / ".installed").touch()
    assert "pip install" not in _dry_run(tmp_path, "install")
    assert "pip install" not in _dry_run(tmp_path, "demo-db")
    time.sleep(0.05)
    (tmp_path / "pyproject.toml").touch()  # an edited project installs again
    assert "pip install -q -e ." in _dry_run(tmp_path, "install")


def test_make_dev_takes_a_port_and_links_runs_to_that_webserver(tmp_path):
    for name in ("Makefile", "pyproject.toml", "setup.py"):
        shutil.copy(ROOT / name, tmp_path / name)
    out = _dry_run(tmp_path, "dev", "PORT=3999")
    assert "dg dev --port 3999" in out
    assert "SENTINEL_WEBSERVER_URL=${SENTINEL_WEBSERVER_URL:-http://localhost:3999}" in out


def test_the_license_is_an_spdx_string():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["license"] == "Apache-2.0"


def test_no_instance_file_in_the_repository_root_for_dagster_to_pick_up():
    # Dagster warns "Found a dagster instance configuration in the current folder" otherwise
    assert not (ROOT / "dagster.yaml").exists()
    assert (ROOT / "deploy" / "dagster.yaml").exists()


def test_readme_uses_no_command_dagster_calls_superseded():
    readme = (ROOT / "README.md").read_text()
    for superseded in ("dagster dev", "dagster definitions validate"):
        assert superseded not in readme, superseded
    assert "dg check defs" in readme and "dg launch --job" in readme
