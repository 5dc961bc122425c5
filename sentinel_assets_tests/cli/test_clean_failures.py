"""Routine failures are one clear line, not a traceback: a state store that is down, probes of the
healthcheck, ERROR alerts in `sentinel run` (and their Dagster runs); and six first runs started
together on a fresh SQLite DAGSTER_HOME all succeed, and so do later ones."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from sentinel_assets_tests.helpers import free_port, write_spec_file


def _sentinel(*args: str, env: dict, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sentinel_assets.cli.main", *args], env=env,
                          capture_output=True, text=True, timeout=timeout)


def _env(tmp_path: Path, home: Path, **extra: str) -> dict:
    env = {**os.environ, "DAGSTER_HOME": str(home), "SENTINEL_OUTBOX": str(tmp_path / "outbox"),
           **extra}
    env.pop("SENTINEL_STATE_URL", None)
    env.update({k: v for k, v in extra.items() if k == "SENTINEL_STATE_URL"})
    return env


def _sqlite_db(path: Path) -> Path:
    import sqlite3

    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS signal (status TEXT)")
        conn.execute("DELETE FROM signal")
        conn.execute("INSERT INTO signal VALUES ('OK')")
    return path


def _alerts(names: list[str], query: str, database: str = "db") -> str:
    return "".join(f"""
  - name: {name}
    schedule: "0 * * * *"
    database: {database}
    notify: [outbox]
    owner: outbox
    query: {query}
""" for name in names)


def _specs(tmp_path: Path, alerts: str, databases: str | None = None) -> Path:
    db = _sqlite_db(tmp_path / "alerts.db")
    databases = databases or f'  db: {{url: "sqlite:///{db}"}}\n'
    write_spec_file(tmp_path / "specs", "specs.yaml",
                    f"databases:\n{databases}channels:\n  outbox: {{type: log}}\nalerts:{alerts}")
    return tmp_path / "specs"


# -- state store down ------------------------------------------------------------------------------
@pytest.mark.parametrize("command", [
    ["run"],
    ["status"],
    ["status", "--output", "json"],
    ["silence", "a_ok", "--for", "1h", "--reason", "maintenance"],
    ["unsilence", "a_ok"],
])
def test_a_state_store_that_is_down_is_one_clear_line(tmp_path, dagster_home, command):
    specs = _specs(tmp_path, _alerts(["a_ok"], "SELECT status FROM signal"))
    state_url = f"postgresql+psycopg2://sentinel:Zq7Lm@Xv9Rt@127.0.0.1:{free_port()}/state"
    env = _env(tmp_path, dagster_home, SENTINEL_STATE_URL=state_url, SENTINEL_SPECS_DIR=str(specs))

    done = _sentinel(*command, env=env)

    assert done.returncode == 1
    assert done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert line.startswith("Error: the sentinel state store at postgresql+psycopg2://sentinel:***"
                           f"@127.0.0.1:{state_url.rsplit(':', 1)[1].split('/')[0]}/state is "
                           "unavailable: OperationalError: ")
    assert "Connection refused" in line
    assert "Zq7Lm" not in line and "Xv9Rt" not in line


def test_history_needs_no_state_store(tmp_path, dagster_home):
    specs = _specs(tmp_path, _alerts(["a_ok"], "SELECT status FROM signal"))
    env = _env(tmp_path, dagster_home, SENTINEL_SPECS_DIR=str(specs))
    assert _sentinel("run", env=env).returncode == 0
    env["SENTINEL_STATE_URL"] = f"postgresql+psycopg2://sentinel@127.0.0.1:{free_port()}/state"

    done = _sentinel("history", "a_ok", "--output", "json", env=env)

    assert done.returncode == 0, done.stderr
    assert [e["status"] for e in json.loads(done.stdout)] == ["OK"]


# -- healthcheck ----------------------------------------------------------------------------------
def test_healthcheck_probes_print_no_tracebacks(tmp_path, dagster_home):
    """Each probe initialises its resource on a pool thread; a failing probe used to leave a
    thread-bound SQLite connection of Dagster's to the garbage collector of another thread."""
    down = free_port()
    databases = (f'  db: {{url: "sqlite:///{_sqlite_db(tmp_path / "alerts.db")}"}}\n'
                 f'  pg_down: {{url: "postgresql+psycopg2://u@127.0.0.1:{down}/x"}}\n'
                 f'  maria_down: {{url: "mysql+pymysql://u@127.0.0.1:{down}/x"}}\n'
                 f'  gone: {{url: "sqlite:///{tmp_path / "gone.db"}"}}\n')
    alerts = _alerts(["a_ok"], "SELECT status FROM signal")
    alerts += "".join(_alerts([f"b_{name}"], "SELECT 1", name)
                      for name in ("pg_down", "maria_down", "gone"))
    specs = _specs(tmp_path, alerts, databases)

    done = _sentinel("healthcheck", "--specs", str(specs), "--output", "json",
                     env=_env(tmp_path, dagster_home))

    report = json.loads(done.stdout)
    checks = {c["name"]: c for c in report["checks"]}
    assert done.returncode == 2
    assert checks["database:db"]["status"] == "ok"
    assert [checks[f"database:{n}"]["status"] for n in ("pg_down", "maria_down", "gone")] == [
        "fail"] * 3
    assert checks["database:gone"]["detail"] == f"database file not found: {tmp_path / 'gone.db'}"
    assert not (tmp_path / "gone.db").exists()
    assert "Traceback" not in done.stderr
    assert "SQLite objects created in a thread" not in done.stderr
    assert done.stderr.strip() == ""


# -- routine ERRORs -------------------------------------------------------------------------------
def test_error_alerts_print_one_line_each_and_no_stack_trace(tmp_path, dagster_home):
    names = [f"err_{i:02d}" for i in range(20)]
    specs = _specs(tmp_path, _alerts(names, "SELECT status FROM no_such_table")
                   + _alerts(["fine"], "SELECT status FROM signal"))

    done = _sentinel("run", "--specs", str(specs), env=_env(tmp_path, dagster_home))

    assert done.returncode == 1
    assert "Traceback" not in done.stderr and "Stack Trace" not in done.stderr
    assert len(done.stderr.splitlines()) < 5 * len(names), done.stderr
    outcome_lines = [line for line in done.stdout.splitlines() if not line.startswith(" ")]
    assert sorted(line.split(":")[0] for line in outcome_lines) == sorted(names + ["fine"])
    for line in outcome_lines:
        if line.startswith("err_"):
            assert ": ERROR -> state ERROR (query failed: OperationalError: no such table: " \
                   "no_such_table) [run " in line
    # in Dagster: the check failed with ERROR severity and the reason; the run itself succeeded
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        runs = [r for r in instance.get_runs() if r.tags.get("sentinel/alert") == "err_00"]
        (run,) = runs
        assert run.status == dg.DagsterRunStatus.SUCCESS
        assert not instance.get_records_for_run(
            run.run_id, of_type=dg.DagsterEventType.STEP_FAILURE).records
        (record,) = instance.get_records_for_run(
            run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION).records
        evaluation = record.event_log_entry.dagster_event.event_specific_data
    assert not evaluation.passed
    assert evaluation.severity == dg.AssetCheckSeverity.ERROR
    assert evaluation.description == "query failed: OperationalError: no such table: no_such_table"
    assert evaluation.metadata["status"].value == "ERROR"


def test_a_windowed_error_fails_its_run_with_a_clear_description(tmp_path, dagster_home):
    """A windowed alert has no check: its partition's run fails, saying why."""
    specs = _specs(tmp_path, """
  - name: daily_gap
    schedule: "0 6 * * *"
    database: db
    owner: outbox
    window: daily
    start: "2024-01-01"
    query: SELECT status FROM no_such_table WHERE :window_start < :window_end
""")

    done = _sentinel("run", "--specs", str(specs), env=_env(tmp_path, dagster_home))

    assert done.returncode == 1
    assert done.stdout.startswith("daily_gap: ERROR -> state ERROR (query failed: ")
    assert "Traceback" not in done.stderr and "Stack Trace" not in done.stderr
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        (run,) = instance.get_runs()
        (record,) = instance.get_records_for_run(
            run.run_id, of_type=dg.DagsterEventType.STEP_FAILURE).records
    failure = record.event_log_entry.dagster_event.event_specific_data
    assert run.status == dg.DagsterRunStatus.FAILURE
    assert failure.user_failure_data.description == (
        "alert daily_gap: query failed: OperationalError: no such table: no_such_table")
    assert failure.user_failure_data.metadata["status"].value == "ERROR"
    assert failure.error.cause is None  # nothing chained under the description


# -- concurrent first runs ------------------------------------------------------------------------
def test_six_first_runs_at_once_on_a_fresh_instance_all_succeed(tmp_path):
    home = tmp_path / "fresh_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    specs = _specs(tmp_path, _alerts(["a_ok"], "SELECT status FROM signal"))
    env = _env(tmp_path, home, SENTINEL_SPECS_DIR=str(specs))
    runs = [subprocess.Popen([sys.executable, "-m", "sentinel_assets.cli.main", "run"], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(6)]
    outputs = [run.communicate(timeout=600) for run in runs]

    assert [run.returncode for run in runs] == [0] * 6, [err for _, err in outputs]
    for _ in range(2):  # and later runs work
        later = _sentinel("run", env=env)
        assert later.returncode == 0, later.stderr
        assert later.stdout.startswith("a_ok: OK -> state OK")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert len(instance.get_runs()) == 8
