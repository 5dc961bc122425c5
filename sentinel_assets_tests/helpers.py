"""Helpers every test package shares: where things are, free ports, spec files, notice contexts.

One definition each; the support modules (notify_servers, health_helpers, demo_project, ...) and
the tests import them from here.
"""

from __future__ import annotations

import json
import socket
import textwrap
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

TESTS_DIR = Path(__file__).resolve().parent
REPO_ROOT = TESTS_DIR.parent
DEMO_SPECS = REPO_ROOT / "alert_specs"
SAMPLE_HOST_PROJECT = TESTS_DIR / "sample_host_project"

NOTICE_TIME = datetime(2026, 11, 5, 9, 0, tzinfo=timezone.utc)


def free_port() -> int:
    """A loopback port nothing listens on (connections to it are refused until someone binds it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_spec_file(folder: Path, name: str, text: str) -> Path:
    """Write ``text`` (dedented) as the spec file ``folder/name``; returns its path."""
    path = Path(folder) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def write_specs(folder: Path, text: str, name: str = "specs.yaml"):
    """Write ``text`` as a spec file in ``folder`` and load the folder (a ``SentinelConfig``)."""
    from sentinel_assets.spec.loader import load_specs

    write_spec_file(folder, name, text)
    return load_specs(folder)


def notice_context(kind: str = "firing", thread_id: str | None = None, **extra):
    """The ``NoticeContext`` of the channel tests: orders_revenue_low firing at 8512 < 10000."""
    from sentinel_assets.core.lifecycle import Notice
    from sentinel_assets.core.messages import NoticeContext

    notice = Notice(
        alert="orders_revenue_low", kind=kind, status="FIRING", previous_status="OK",
        message="1 of 1 rows returned ALERT (value 8512, threshold 10000)",
        evaluated_at=NOTICE_TIME,
        episode=1, sequence=0, value=8512, threshold=10000,
        rows=({"status": "ALERT", "actual_value": 8512, "threshold": 10000, "orders": 41},),
    )
    return NoticeContext(notice=notice, channel="oncall",
                         description="Yesterday's revenue is below 10k", owner="data_team",
                         tags={"team": "finance", "severity": "high"},
                         run_id="abcd1234", run_url="http://dagster.local/runs/abcd1234",
                         thread_id=thread_id, **extra)


def graphql(base_url: str, query: str, variables: dict | None = None, timeout: float = 60) -> dict:
    """POST ``query`` to a dagster-webserver's GraphQL endpoint and return the decoded answer."""
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    request = urllib.request.Request(f"{base_url}/graphql", data=body,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())
