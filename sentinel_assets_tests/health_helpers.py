"""Helpers for the health, sensor and metrics tests: test databases, past evaluations, daemons.

Spec files and free ports come from ``sentinel_assets_tests.helpers``.
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path

import dagster as dg
from dagster._core.remote_origin import RegisteredCodeLocationOrigin, RemoteRepositoryOrigin
from dagster._core.scheduler.instigation import (
    InstigatorState,
    InstigatorStatus,
    InstigatorType,
    ScheduleInstigatorData,
)
from dagster._daemon.types import DaemonHeartbeat

from sentinel_assets.engine.evaluation import evaluate_alert
from sentinel_assets.names import STATE_KEY, db_key
from sentinel_assets.observe.health import initialize
from sentinel_assets.orchestration.resources import build_resources
from sentinel_assets.spec.models import SentinelConfig


def make_db(path: Path) -> str:
    """An SQLite database with a one-row ``metric`` table; returns its URL."""
    import sqlite3

    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS metric (value INTEGER)")
        conn.execute("DELETE FROM metric")
        conn.execute("INSERT INTO metric VALUES (1)")
    return f"sqlite:///{path}"


def evaluate_at(config: SentinelConfig, alert_name: str, when: datetime):
    """Evaluate ``alert_name`` for real, as if at ``when`` (its state remembers that time)."""
    resources = build_resources(config)
    alert = config.alert(alert_name)
    return evaluate_alert(
        alert,
        database=initialize(resources[db_key(alert.database)]),
        state_store=initialize(resources[STATE_KEY]).store(),
        channels={},
        now=when,
    )


def beat_all_daemons(instance: dg.DagsterInstance, at: float | None = None) -> None:
    """Record a heartbeat for every daemon the instance needs, as a running daemon would."""
    for daemon_type in instance.get_required_daemon_types():
        instance.add_daemon_heartbeat(DaemonHeartbeat(at or time.time(), daemon_type, None, None))


def set_schedule_state(instance: dg.DagsterInstance, name: str, cron: str, running: bool) -> None:
    """Store a schedule's state as the UI toggle (or the daemon) does."""
    origin = RemoteRepositoryOrigin(RegisteredCodeLocationOrigin("sentinel"), "__repository__")
    status = InstigatorStatus.RUNNING if running else InstigatorStatus.STOPPED
    instance.add_instigator_state(InstigatorState(
        origin.get_instigator_origin(name), InstigatorType.SCHEDULE, status,
        ScheduleInstigatorData(cron, start_timestamp=time.time() - 86400),
    ))


def outbox_lines(outbox: Path) -> list[dict]:
    return [json.loads(line) for line in outbox.read_text().splitlines()] if outbox.exists() else []
