"""`sentinel healthcheck` (exit codes 0/1/2, text and JSON) and `sentinel metrics serve`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from click.testing import CliRunner

from sentinel_assets.cli.main import main
from sentinel_assets_tests.demo_project import make_demo
from sentinel_assets_tests.helpers import free_port


@pytest.fixture
def demo(tmp_path, monkeypatch, outbox, state_url):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)  # no instance: daemon check skipped
    monkeypatch.chdir(tmp_path)  # and not inside a project with a .dagster_home
    specs, _ = make_demo(tmp_path, monkeypatch)
    return specs


def sentinel(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_healthcheck_exits_0_and_prints_every_check_when_healthy(demo):
    result = sentinel("healthcheck")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("sentinel is healthy")
    for name in ("state_store", "database:demo", "channel:outbox", "daemon", "alerts", "specs"):
        assert name in result.output


def test_healthcheck_exits_1_when_degraded(demo):
    (demo / "broken.yaml").write_text(
        "alerts:\n  - {name: no_query, schedule: '0 * * * *', database: demo}\n")
    result = sentinel("healthcheck", "--output", "json")
    assert result.exit_code == 1, result.output
    report = json.loads(result.output)
    assert report["status"] == "degraded"
    specs = next(c for c in report["checks"] if c["name"] == "specs")
    assert specs["status"] == "warn" and "no_query" in specs["detail"]


def test_healthcheck_exits_2_when_a_database_is_down(demo, monkeypatch):
    monkeypatch.setenv("DEMO_DATABASE_URL",
                       f"postgresql+psycopg2://postgres@127.0.0.1:{free_port()}/demo")
    result = sentinel("healthcheck", "--output", "json")
    assert result.exit_code == 2, result.output
    report = json.loads(result.output)
    assert report["status"] == "unhealthy"
    database = next(c for c in report["checks"] if c["name"] == "database:demo")
    assert database["status"] == "fail" and database["latency_ms"] >= 0


def test_healthcheck_checks_the_daemon_of_the_dagster_home_instance(demo, dagster_home):
    result = sentinel("healthcheck", "--output", "json")
    daemon = next(c for c in json.loads(result.output)["checks"] if c["name"] == "daemon")
    assert result.exit_code == 2
    assert daemon["status"] == "fail" and "no heartbeat from" in daemon["detail"]


def _wait_for(url: str, process: subprocess.Popen, timeout: float = 60.0) -> bytes:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                return response.read()
        except (urllib.error.URLError, ConnectionError):
            if process.poll() is not None or time.monotonic() > deadline:
                _, err = process.communicate(timeout=5)
                raise AssertionError(f"exporter did not answer on {url}: {err.decode()}") from None
            time.sleep(0.2)


def test_metrics_serve_answers_metrics_and_health(demo):
    port = free_port()
    env = dict(os.environ, LOG_FORMAT="json")
    process = subprocess.Popen(
        [sys.executable, "-m", "sentinel_assets.cli.main", "metrics", "serve", "--port", str(port),
         "--host", "127.0.0.1"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        metrics = _wait_for(f"http://127.0.0.1:{port}/metrics", process).decode()
        health = json.loads(_wait_for(f"http://127.0.0.1:{port}/health", process))
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert "# TYPE sentinel_scheduled_alerts gauge" in metrics
    assert "sentinel_scheduled_alerts 6.0" in metrics  # the demo has 6 enabled alerts
    assert health["status"] == "healthy"
