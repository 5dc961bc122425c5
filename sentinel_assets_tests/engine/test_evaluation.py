"""evaluate_alert end to end: a real SQLite alert query, a real state store (SQLite, PostgreSQL) and
the log channel's outbox; overlapping runs from threads and from spawned processes."""

from __future__ import annotations

import json
import multiprocessing
import sqlite3
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from sentinel_assets.channels import DeliveryResult, LogChannel, NoticeContext
from sentinel_assets.databases.sql import SqlDatabase
from sentinel_assets.engine.evaluation import evaluate_alert
from sentinel_assets.spec.models import AlertSpec
from sentinel_assets.state.store import FAILED, SENT, StateStore

T0 = datetime(2024, 5, 1, 9, 0, tzinfo=timezone.utc)
QUERY = "SELECT status, actual_value, 100 AS threshold FROM signal"


def _alert(name: str, **overrides) -> AlertSpec:
    fields = {
        "name": name,
        "schedule": "*/5 * * * *",
        "database": "alerts",
        "query": QUERY,
        "notify": ["outbox"],
        "timeout": "10s",
    }
    return AlertSpec(**{**fields, **overrides})


def _set_signal(db_path: Path, status: str, value: int = 42) -> None:
    with sqlite3.connect(db_path) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS signal (status TEXT, actual_value INTEGER)")
        conn.execute("DELETE FROM signal")
        conn.execute("INSERT INTO signal VALUES (?, ?)", (status, value))


def _lines(outbox: Path) -> list[dict]:
    if not outbox.exists():
        return []
    return [json.loads(line) for line in outbox.read_text().splitlines()]


def _kinds(outbox: Path) -> list[str]:
    return [line["kind"] for line in _lines(outbox)]


@pytest.fixture
def alert_db(tmp_path) -> Path:
    path = tmp_path / "alerts.db"
    _set_signal(path, "OK")
    return path


@pytest.fixture
def database(alert_db) -> SqlDatabase:
    return SqlDatabase(url=f"sqlite:///{alert_db}")


@pytest.fixture
def store(tmp_path) -> StateStore:
    store = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    yield store
    store.engine.dispose()


@pytest.fixture
def name() -> str:
    return f"eval_{uuid.uuid4().hex[:12]}"


class FlakyChannel:
    """Fails the first ``failures`` deliveries, then delivers; remembers every attempt."""

    def __init__(self, failures: int = 1):
        self.failures = failures
        self.attempts: list[tuple[str, str]] = []

    def deliver(self, context: NoticeContext, log=None) -> DeliveryResult:
        self.attempts.append((context.notice.kind, context.idempotency_key))
        if len(self.attempts) <= self.failures:
            return DeliveryResult(ok=False, attempts=2, error="HTTP 503 Service Unavailable")
        return DeliveryResult(ok=True, external_id=f"msg-{len(self.attempts)}")


class BrokenChannel:
    """A channel with a bug: it raises instead of returning a DeliveryResult."""

    def deliver(self, context: NoticeContext, log=None) -> DeliveryResult:
        raise RuntimeError("template variable 'value' is undefined")


class GatedStateStore(StateStore):
    """A real store whose first ``load`` waits until every overlapping run has loaded too, so
    that all of them decide from the same version and race to commit it."""

    def __init__(self, url: str, gate):
        super().__init__(url)
        self.gate, self.waited = gate, False

    def load(self, alert: str):
        state = super().load(alert)
        if not self.waited:
            self.waited = True
            self.gate.wait(timeout=120)
        return state


class RecordingLog:
    """A logger that keeps its messages."""

    def __init__(self):
        self.messages: list[str] = []

    def info(self, message: str) -> None:
        self.messages.append(message)

    warning = info

    def conflicts(self) -> int:
        return sum("another run saved its state first" in m for m in self.messages)


# -- the lifecycle end to end ---------------------------------------------------------------------
def test_alert_that_fires_and_recovers_sends_one_firing_and_one_resolved(
    name, alert_db, database, store, tmp_path
):
    outbox = tmp_path / "outbox.jsonl"
    channels = {"outbox": LogChannel(path=str(outbox))}
    alert = _alert(name, description="signal is ALERT")
    statuses = []

    for minutes, signal in enumerate(["OK", "ALERT", "ALERT", "OK"]):
        _set_signal(alert_db, signal)
        evaluation = evaluate_alert(
            alert, database=database, state_store=store, channels=channels,
            now=T0 + timedelta(minutes=5 * minutes), run_id=f"run-{minutes}",
        )
        statuses.append((evaluation.status, evaluation.state.status))

    assert statuses == [("OK", "OK"), ("ALERT", "FIRING"), ("ALERT", "FIRING"), ("OK", "OK")]
    firing, resolved = _lines(outbox)
    assert (firing["kind"], resolved["kind"]) == ("firing", "resolved")
    assert firing["alert"] == name and firing["value"] == 42 and firing["threshold"] == 100
    assert firing["description"] == "signal is ALERT" and firing["run_id"] == "run-1"
    assert firing["rows"] == [{"status": "ALERT", "actual_value": 42, "threshold": 100}]
    assert resolved["status"] == "OK" and resolved["run_id"] == "run-3"
    assert [d.status for d in store.deliveries(name)] == [SENT, SENT]


def test_failed_delivery_is_retried_next_evaluation_with_the_same_key_and_sent_once(
    name, alert_db, database, store, tmp_path
):
    outbox = tmp_path / "outbox.jsonl"
    flaky = FlakyChannel(failures=1)
    channels = {"outbox": LogChannel(path=str(outbox)), "pager": flaky}
    alert = _alert(name, notify=["pager", "outbox"])
    _set_signal(alert_db, "ALERT")

    first = evaluate_alert(alert, database=database, state_store=store, channels=channels, now=T0)
    (key,) = {d.idempotency_key for d in first.deliveries}
    failed = store.find_delivery(key, "pager")
    second = evaluate_alert(alert, database=database, state_store=store, channels=channels,
                            now=T0 + timedelta(minutes=5))
    later = [
        evaluate_alert(alert, database=database, state_store=store, channels=channels,
                       now=T0 + timedelta(minutes=5 * i))
        for i in range(2, 5)
    ]

    assert [(d.channel, d.ok) for d in first.deliveries] == [("pager", False), ("outbox", True)]
    assert first.failed_deliveries[0].error == "HTTP 503 Service Unavailable"
    assert (failed.status, failed.attempts) == (FAILED, 2)
    assert [(d.channel, d.ok, d.retry, d.idempotency_key) for d in second.deliveries] == [
        ("pager", True, True, key)
    ]
    assert second.notices == ()  # nothing new was decided; the old notice was retried
    assert all(e.deliveries == () for e in later)
    assert flaky.attempts == [("firing", key), ("firing", key)]
    assert _kinds(outbox) == ["firing"]
    sent = store.find_delivery(key, "pager")
    assert (sent.status, sent.attempts, sent.external_id) == (SENT, 3, "msg-2")


def test_channel_that_raises_is_recorded_failed_and_others_still_deliver(
    name, alert_db, database, store, tmp_path
):
    outbox = tmp_path / "outbox.jsonl"
    channels = {"broken": BrokenChannel(), "outbox": LogChannel(path=str(outbox))}
    alert = _alert(name, notify=["broken", "outbox"])
    _set_signal(alert_db, "ALERT")

    evaluation = evaluate_alert(alert, database=database, state_store=store, channels=channels,
                                now=T0)

    broken, delivered = evaluation.deliveries
    assert (broken.channel, broken.ok) == ("broken", False)
    assert broken.error == "RuntimeError: template variable 'value' is undefined"
    assert (delivered.channel, delivered.ok) == ("outbox", True)
    assert _kinds(outbox) == ["firing"]
    recorded = {d.channel: d for d in store.deliveries(name)}
    assert recorded["broken"].status == FAILED and "undefined" in recorded["broken"].error
    assert recorded["outbox"].status == SENT


def test_channel_missing_from_this_process_is_recorded_failed(name, alert_db, database, store):
    alert = _alert(name, notify=["nowhere"])
    _set_signal(alert_db, "ALERT")

    evaluation = evaluate_alert(alert, database=database, state_store=store, channels={}, now=T0)

    (record,) = evaluation.deliveries
    assert not record.ok and "'nowhere' is not configured" in record.error
    assert store.deliveries(name)[0].status == FAILED


def test_broken_query_sends_one_error_to_the_owner_and_error_resolved_when_fixed(
    name, alert_db, database, store, tmp_path
):
    outbox, owner_box = tmp_path / "outbox.jsonl", tmp_path / "owner.jsonl"
    channels = {"outbox": LogChannel(path=str(outbox)), "owner": LogChannel(path=str(owner_box))}
    alert = _alert(name, owner="owner", query="SELECT status FROM signal_not_yet_created")

    first = evaluate_alert(alert, database=database, state_store=store, channels=channels, now=T0)
    second = evaluate_alert(alert, database=database, state_store=store, channels=channels,
                            now=T0 + timedelta(minutes=5))
    with sqlite3.connect(alert_db) as conn:
        conn.execute("CREATE TABLE signal_not_yet_created AS SELECT 'OK' AS status")
    fixed = evaluate_alert(alert, database=database, state_store=store, channels=channels,
                           now=T0 + timedelta(minutes=10))

    assert (first.status, second.status, fixed.status) == ("ERROR", "ERROR", "OK")
    assert "no such table: signal_not_yet_created" in first.outcome.message
    error, error_resolved = _lines(owner_box)
    assert (error["kind"], error_resolved["kind"]) == ("error", "error_resolved")
    assert "signal_not_yet_created" in error["message"]
    assert _lines(outbox) == []


def test_timed_out_query_is_an_error_for_the_owner(name, database, store, tmp_path):
    owner_box = tmp_path / "owner.jsonl"
    slow = ("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 2000000000) "
            "SELECT CASE WHEN COUNT(*) > 0 THEN 'ALERT' ELSE 'OK' END AS status FROM c")
    alert = _alert(name, owner="owner", query=slow, timeout="1s")

    evaluation = evaluate_alert(alert, database=database, state_store=store,
                                channels={"owner": LogChannel(path=str(owner_box))}, now=T0)

    assert evaluation.status == "ERROR"
    assert "timed out after 1s" in evaluation.outcome.message
    assert _kinds(owner_box) == ["error"]


def test_record_state_false_changes_no_state_and_sends_nothing(
    name, alert_db, database, store, tmp_path
):
    outbox = tmp_path / "outbox.jsonl"
    _set_signal(alert_db, "ALERT")

    evaluation = evaluate_alert(_alert(name), database=database, state_store=store,
                                channels={"outbox": LogChannel(path=str(outbox))}, now=T0,
                                record_state=False)

    assert evaluation.status == "ALERT"
    assert evaluation.notices == () and evaluation.deliveries == ()
    assert store.load(name).version == 0
    assert store.all_states().get(name) is None
    assert store.deliveries(name) == []
    assert not outbox.exists()


def test_evaluation_clock_ahead_of_wall_time_does_not_resend_a_fresh_claim(
    name, alert_db, database, store, tmp_path
):
    outbox = tmp_path / "outbox.jsonl"
    _set_signal(alert_db, "ALERT")
    ahead = datetime.now(timezone.utc) + timedelta(hours=3)

    evaluation = evaluate_alert(_alert(name), database=database, state_store=store,
                                channels={"outbox": LogChannel(path=str(outbox))}, now=ahead)

    assert len(evaluation.deliveries) == 1
    assert _kinds(outbox) == ["firing"]


# -- overlapping runs -----------------------------------------------------------------------------
@pytest.fixture(params=["sqlite", "postgresql"])
def shared_state_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'shared_state.db'}"
    return request.getfixturevalue("pg_url")


def _overlapping_runs(alert, alert_db, state_url, outbox, gate, runs):
    """``runs`` threads, each with its own store (as separate processes have), evaluate ``alert``
    from the same loaded version; returns the evaluations and the number of lost races."""
    database = SqlDatabase(url=f"sqlite:///{alert_db}")
    channels = {"outbox": LogChannel(path=str(outbox))}
    stores = [GatedStateStore(state_url, gate) for _ in range(runs)]
    log = RecordingLog()
    try:
        with ThreadPoolExecutor(runs) as pool:
            evaluations = list(pool.map(
                lambda store: evaluate_alert(alert, database=database, state_store=store,
                                             channels=channels, log=log),
                stores,
            ))
    finally:
        for store in stores:
            store.engine.dispose()
    return evaluations, log.conflicts()


def test_overlapping_runs_in_threads_send_each_notice_once(
    name, alert_db, shared_state_url, tmp_path
):
    outbox, runs = tmp_path / "outbox.jsonl", 6
    gate = threading.Barrier(runs)
    alert = _alert(name)

    _set_signal(alert_db, "ALERT")
    firing, lost_firing = _overlapping_runs(alert, alert_db, shared_state_url, outbox, gate, runs)
    _set_signal(alert_db, "OK")
    resolved, lost_resolved = _overlapping_runs(alert, alert_db, shared_state_url, outbox, gate,
                                                runs)

    assert _kinds(outbox) == ["firing", "resolved"]
    assert lost_firing >= runs - 1 and lost_resolved >= runs - 1  # they did overlap
    assert sum(len(e.deliveries) for e in firing) == 1
    assert sum(len(e.deliveries) for e in resolved) == 1
    assert {e.state.status for e in firing} == {"FIRING"}
    assert {e.state.status for e in resolved} == {"OK"}


def _evaluate_in_child(jobs, alert_db, gate, threads, results):
    """Body of a spawned process: for each (alert, state URL, outbox), ``threads`` overlapping
    evaluations that wait for the other process's at ``gate``."""
    try:
        for name, state_url, outbox in jobs:
            evaluations, lost = _overlapping_runs(_alert(name), alert_db, state_url, outbox, gate,
                                                  threads)
            results.put((name, sum(len(e.deliveries) for e in evaluations), lost))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which fails the test
        results.put(("error", f"{type(exc).__name__}: {exc}", 0))


def test_overlapping_runs_in_two_processes_send_the_firing_notice_once(
    alert_db, pg_url, tmp_path
):
    # one SQLite and one PostgreSQL state store, shared by both processes (spawned once: slow)
    jobs = [
        (f"proc_{uuid.uuid4().hex[:12]}", url, str(tmp_path / f"outbox_{kind}.jsonl"))
        for kind, url in [("sqlite", f"sqlite:///{tmp_path / 'shared_state.db'}"),
                          ("postgresql", pg_url)]
    ]
    for _, url, _ in jobs:
        StateStore(url).engine.dispose()  # the tables exist before the processes race
    _set_signal(alert_db, "ALERT")
    spawn = multiprocessing.get_context("spawn")
    processes, threads = 2, 2
    gate = spawn.Barrier(processes * threads)
    results = spawn.Queue()
    children = [
        spawn.Process(target=_evaluate_in_child,
                      args=(jobs, str(alert_db), gate, threads, results))
        for _ in range(processes)
    ]

    for child in children:
        child.start()
    try:
        reports = [results.get(timeout=180) for _ in range(processes * len(jobs))]
    finally:
        for child in children:
            child.join(timeout=60)
            if child.is_alive():
                child.terminate()

    assert all(name != "error" for name, _, _ in reports), reports
    for name, _, outbox in jobs:
        mine = [(sent, lost) for reported, sent, lost in reports if reported == name]
        assert sum(sent for sent, _ in mine) == 1
        assert sum(lost for _, lost in mine) >= processes * threads - 1
        assert _kinds(Path(outbox)) == ["firing"]
