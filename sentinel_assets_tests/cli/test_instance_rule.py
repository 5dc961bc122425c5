"""One rule for where every command finds the instance: $DAGSTER_HOME, else the project's
.dagster_home (the current folder or a parent), else a clear refusal."""

from __future__ import annotations

import json
import os

from click.testing import CliRunner

from sentinel_assets.cli.main import main
from sentinel_assets_tests.demo_project import make_demo


def _cli(*args: str):
    return CliRunner().invoke(main, list(args))


def _project(tmp_path, monkeypatch):
    make_demo(tmp_path, monkeypatch)
    home = tmp_path / ".dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    for name in ("DAGSTER_HOME", "SENTINEL_STATE_URL"):
        monkeypatch.delenv(name, raising=False)
    return home


def test_a_command_run_inside_a_project_uses_its_dagster_home(tmp_path, monkeypatch, outbox):
    home = _project(tmp_path, monkeypatch)
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "sub")  # a parent folder holds the project's .dagster_home
    assert _cli("run", "orders_revenue_low").exit_code == 0
    assert os.environ["DAGSTER_HOME"] == str(home)
    monkeypatch.delenv("DAGSTER_HOME")
    rows = json.loads(_cli("status", "--output", "json").output)
    assert next(r for r in rows if r["alert"] == "orders_revenue_low")["state"] == "FIRING"
    assert (home / "sentinel_state.db").exists()
    assert json.loads(_cli("history", "orders_revenue_low", "--output", "json").output)


def test_dagster_home_wins_over_the_project_folder(tmp_path, monkeypatch, outbox):
    _project(tmp_path, monkeypatch)
    monkeypatch.chdir(tmp_path)
    other = tmp_path / "elsewhere"
    other.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(other))
    assert _cli("run", "orders_revenue_low").exit_code == 0
    assert (other / "sentinel_state.db").exists()
    assert not (tmp_path / ".dagster_home" / "sentinel_state.db").exists()


def test_outside_a_project_every_state_command_refuses_instead_of_showing_an_empty_store(
        tmp_path, monkeypatch):
    make_demo(tmp_path, monkeypatch)
    for name in ("DAGSTER_HOME", "SENTINEL_STATE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    for args in (["status"], ["history", "orders_revenue_low"], ["silences"], ["run"],
                 ["silence", "orders_revenue_low", "--for", "1h", "--reason", "x"]):
        result = _cli(*args)
        assert result.exit_code == 1, args
        assert "no Dagster instance: set DAGSTER_HOME" in result.output, args
    assert _cli("validate").exit_code == 0  # reading specs needs no instance
