"""evaluate_many: concurrency across databases, isolation, the same lifecycle as one evaluation,
and overlapping groups that send each notice once."""

from __future__ import annotations

import json
import multiprocessing
import os
import sqlite3
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from sentinel_assets.channels.log import LogChannel
from sentinel_assets.core.query_result import QueryResult
from sentinel_assets.databases.errors import QueryError
from sentinel_assets.databases.sql import SqlDatabase
from sentinel_assets.engine.evaluation import evaluate_alert
from sentinel_assets.engine.group import evaluate_many
from sentinel_assets.spec.models import AlertSpec
from sentinel_assets.state import store as store_module
from sentinel_assets.state.store import STALE_CLAIM, StateStore, utcnow

T0 = datetime(2026, 5, 1, 9, 0, tzinfo=timezone.utc)


def _alert(name: str, database: str = "alerts", **overrides) -> AlertSpec:
    fields = {"name": name, "schedule": "* * * * *", "database": database, "timeout": "10s",
              "query": "SELECT status, actual_value, 100 AS threshold FROM signal",
              "notify": ["outbox"], "send_resolved": True}
    return AlertSpec(**{**fields, **overrides})


def _set_signal(db_path: Path, status: str, value: int = 42) -> None:
    with sqlite3.connect(db_path) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS signal (status TEXT, actual_value INTEGER)")
        conn.execute("DELETE FROM signal")
        conn.execute("INSERT INTO signal VALUES (?, ?)", (status, value))


@pytest.fixture
def db_path(tmp_path) -> Path:
    path = tmp_path / "alerts.db"
    _set_signal(path, "OK")
    return path


@pytest.fixture
def store(tmp_path):
    store = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    yield store
    store.engine.dispose()


def _kinds(store: StateStore, alert: str) -> list[str]:
    return sorted(d.kind for d in store.deliveries(alert))


# the lifecycle table: signal per step -> (state, notice kinds so far)
STEPS = [("OK", "OK"), ("ALERT", "PENDING"), ("ALERT", "FIRING"), ("ALERT", "FIRING"),
         ("OK", "OK"), ("ALERT", "PENDING")]


def test_grouped_and_single_evaluations_give_the_same_states_and_notices(db_path, store, tmp_path):
    database = SqlDatabase(url=f"sqlite:///{db_path}")
    channels = {"outbox": LogChannel(path=str(tmp_path / "outbox.jsonl"))}
    single, grouped = _alert("single_path", **{"for": 2}), _alert("grouped_path", **{"for": 2})
    for minute, (signal, expected) in enumerate(STEPS):
        _set_signal(db_path, signal)
        now = T0 + timedelta(minutes=minute)
        evaluate_alert(single, database=database, state_store=store, channels=channels, now=now)
        results = list(evaluate_many([grouped], databases={"alerts": database},
                                     state_store=store, channels=channels, now=now))
        assert [r.status for r in results] == [signal]
        assert store.load("single_path").status == store.load("grouped_path").status == expected
        assert _kinds(store, "single_path") == _kinds(store, "grouped_path")
    assert _kinds(store, "grouped_path") == ["firing", "resolved"]


class _Gate:
    """A database whose queries wait until the test opens the gate (a hanging server)."""

    def __init__(self) -> None:
        self.opened = threading.Event()
        self.entered = threading.Event()

    def query(self, sql, params=None, **kwargs) -> QueryResult:
        self.entered.set()
        if not self.opened.wait(timeout=30):
            raise QueryError("gate never opened")
        return QueryResult(columns=("status",), rows=(("OK",),), duration_ms=1.0)

    def ping(self) -> float:
        return 0.0


class _Fast:
    def query(self, sql, params=None, **kwargs) -> QueryResult:
        return QueryResult(columns=("status",), rows=(("ALERT",),), duration_ms=1.0)

    def ping(self) -> float:
        return 0.0


def test_a_hanging_database_delays_no_alert_of_another_database(store, tmp_path):
    slow, fast = _Gate(), _Fast()
    alerts = [_alert(f"slow_{i}", "slow") for i in range(3)] + \
             [_alert(f"fast_{i}", "fast") for i in range(20)]
    results = evaluate_many(alerts, databases={"slow": slow, "fast": fast}, state_store=store,
                            channels={}, now=T0, per_database=2)
    seen = []
    for result in results:
        seen.append(result.alert.database)
        if seen.count("fast") == 20 and not slow.opened.is_set():
            # every fast alert is in while the slow database still hangs
            assert slow.entered.is_set() and "slow" not in seen
            slow.opened.set()
    assert seen.count("slow") == 3


def test_an_alert_that_crashes_is_not_evaluated_and_the_others_are(db_path, store):
    database = SqlDatabase(url=f"sqlite:///{db_path}")
    alerts = [_alert("good_one"), _alert("broken_one"), _alert("good_two")]

    def evaluate(alert, **kwargs):
        if alert.name == "broken_one":
            raise RuntimeError("adapter bug")
        return evaluate_alert(alert, **kwargs)

    results = {r.alert.name: r for r in evaluate_many(
        alerts, databases={"alerts": database}, state_store=store, channels={}, now=T0,
        evaluate=evaluate)}
    assert results["broken_one"].status == "NOT_EVALUATED"
    assert "adapter bug" in results["broken_one"].error
    assert results["good_one"].status == results["good_two"].status == "OK"


def test_a_database_no_resource_was_built_for_is_an_error_of_its_alerts(store):
    results = list(evaluate_many([_alert("orphan", "nowhere")], databases={}, state_store=store,
                                 channels={}, now=T0))
    assert results[0].status == "ERROR"


def test_overlapping_groups_send_each_notice_once(db_path, store, tmp_path):
    database = SqlDatabase(url=f"sqlite:///{db_path}")
    outbox = tmp_path / "outbox.jsonl"
    channels = {"outbox": LogChannel(path=str(outbox))}
    alerts = [_alert(f"overlap_{i}") for i in range(8)]
    _set_signal(db_path, "ALERT")

    def group():
        list(evaluate_many(alerts, databases={"alerts": database}, state_store=store,
                           channels=channels, now=T0))

    threads = [threading.Thread(target=group) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for alert in alerts:
        assert _kinds(store, alert.name) == ["firing"]
    assert len(outbox.read_text().splitlines()) == len(alerts)


class _DyingChannel:
    """Kills its process at the first delivery: a run worker killed mid-group."""

    def deliver(self, context, log=None):
        os._exit(9)


def _group_then_die(db_path: str, state_url: str) -> None:
    store = StateStore(state_url)
    alerts = [_alert(f"killed_{i}") for i in range(3)]
    list(evaluate_many(alerts, databases={"alerts": SqlDatabase(url=f"sqlite:///{db_path}")},
                       state_store=store, channels={"outbox": _DyingChannel()}, now=T0))


def test_a_process_killed_mid_group_loses_no_notice(db_path, tmp_path, monkeypatch):
    state_url = f"sqlite:///{tmp_path / 'killed_state.db'}"
    _set_signal(db_path, "ALERT")
    process = multiprocessing.get_context("spawn").Process(
        target=_group_then_die, args=(str(db_path), state_url))
    process.start()
    process.join(60)
    assert process.exitcode == 9
    store = StateStore(state_url)
    pending = {d.alert: d for d in store.deliveries() if d.kind == "firing"}
    assert set(pending) == {"killed_0", "killed_1", "killed_2"}  # claimed, never sent
    assert {d.status for d in pending.values()} == {"pending"}

    # ten minutes on, the claims are stale: the next group takes them over, same keys
    later = utcnow() + STALE_CLAIM + timedelta(minutes=1)
    monkeypatch.setattr(store_module, "utcnow", lambda: later)
    outbox = tmp_path / "outbox.jsonl"
    alerts = [_alert(f"killed_{i}") for i in range(3)]
    list(evaluate_many(alerts, databases={"alerts": SqlDatabase(url=f"sqlite:///{db_path}")},
                       state_store=store, channels={"outbox": LogChannel(path=str(outbox))},
                       now=T0 + timedelta(minutes=11)))
    sent = [json.loads(line) for line in outbox.read_text().splitlines()]
    assert sorted((n["alert"], n["kind"]) for n in sent) == [
        ("killed_0", "firing"), ("killed_1", "firing"), ("killed_2", "firing")]
    assert {n["idempotency_key"] for n in sent} == {d.idempotency_key for d in pending.values()}
    assert all(d.status == "sent" for d in store.deliveries() if d.kind == "firing")
    store.engine.dispose()
