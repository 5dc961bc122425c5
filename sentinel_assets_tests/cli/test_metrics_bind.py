"""`sentinel metrics serve` listens on loopback unless told otherwise (`--host`,
`$SENTINEL_METRICS_HOST`): `/health` describes the databases and channels to whoever reaches it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sentinel_assets_tests.demo_project import make_demo
from sentinel_assets_tests.helpers import free_port

LOOPBACK, ANY = "0100007F", "00000000"  # 127.0.0.1 and 0.0.0.0 as /proc/net/tcp writes them


@pytest.fixture
def demo(tmp_path, monkeypatch, outbox, state_url):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.chdir(tmp_path)  # and not inside a project with a .dagster_home
    return make_demo(tmp_path, monkeypatch)[0]


def _listening_address(port: int, process: subprocess.Popen, timeout: float = 60.0) -> str:
    """The local IPv4 address (hex, as in /proc/net/tcp) a socket listens on at ``port``."""
    deadline = time.monotonic() + timeout
    while True:
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, _, hex_port = local.partition(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                return address
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            _, err = process.communicate(timeout=10)
            raise AssertionError(f"the exporter did not listen on {port}: {err.decode()}")
        time.sleep(0.2)


def _serve(port: int, *extra: str, **env: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "sentinel_assets.cli.main", "metrics", "serve", "--port",
         str(port), *extra],
        env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.mark.parametrize(("extra", "env", "expected"), [
    ((), {}, LOOPBACK),
    (("--host", "0.0.0.0"), {}, ANY),
    ((), {"SENTINEL_METRICS_HOST": "0.0.0.0"}, ANY),
], ids=["default", "option", "environment"])
def test_the_exporter_binds_loopback_unless_told_otherwise(demo, monkeypatch, extra, env, expected):
    monkeypatch.delenv("SENTINEL_METRICS_HOST", raising=False)
    port = free_port()
    process = _serve(port, *extra, **env)
    try:
        assert _listening_address(port, process) == expected
    finally:
        process.terminate()
        process.wait(timeout=30)
