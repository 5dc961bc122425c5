"""StateStore against real SQLite, PostgreSQL and MariaDB: state CAS, delivery claims, retries,
silences and timezone-aware datetimes."""

from __future__ import annotations

import dataclasses
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from sentinel_assets.core.lifecycle import AlertState, Notice
from sentinel_assets.core.silences import Silence, parse_matchers
from sentinel_assets.state.store import (
    FAILED,
    PENDING,
    RETRY_WINDOW,
    SENT,
    STALE_CLAIM,
    StateConflict,
    StateStore,
    utcnow,
)

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture(scope="module", params=["sqlite", "postgresql", "mariadb"])
def store_url(request, tmp_path_factory) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('state') / 'sentinel_state.db'}"
    return request.getfixturevalue("pg_url" if request.param == "postgresql" else "mariadb_url")


@pytest.fixture(scope="module")
def store(store_url) -> StateStore:
    store = StateStore(store_url)
    yield store
    store.engine.dispose()


@pytest.fixture
def alert() -> str:
    """A fresh alert name: the PostgreSQL and MariaDB databases are shared by the session."""
    return f"store_{uuid.uuid4().hex[:12]}"


def _notice(alert: str, kind: str = "firing", episode: int = 1, sequence: int = 0) -> Notice:
    return Notice(
        alert=alert,
        kind=kind,
        status="FIRING",
        previous_status="OK",
        message="revenue is 10 (threshold 100)",
        evaluated_at=datetime(2024, 5, 1, 9, 0, tzinfo=timezone.utc),
        episode=episode,
        sequence=sequence,
        value=10,
        threshold=100,
        rows=({"status": "ALERT", "actual_value": 10},),
    )


def _firing(state: AlertState, at: datetime) -> AlertState:
    return dataclasses.replace(
        state, status="FIRING", status_since=at, firing=True,
        firing_episode=state.firing_episode + 1, firing_since=at, firing_notified=True,
        last_evaluated_at=at, last_outcome="ALERT",
    )


def _claim_one(store: StateStore, alert: str, channel: str = "outbox"):
    """Save a firing state for a new alert and claim its firing notice on ``channel``."""
    old = store.load(alert)
    (delivery,) = store.commit(old, _firing(old, utcnow()), [(_notice(alert), channel)])
    return delivery


# -- alert state ----------------------------------------------------------------------------------
def test_unknown_alert_loads_as_ok_with_version_zero(store, alert):
    state = store.load(alert)

    assert state == AlertState(alert=alert)
    assert state.version == 0


def test_commit_saves_the_state_and_bumps_its_version(store, alert):
    at = datetime(2024, 5, 1, 9, 0, tzinfo=timezone.utc)
    first = store.load(alert)

    store.commit(first, _firing(first, at), [])
    saved = store.load(alert)
    store.commit(saved, dataclasses.replace(saved, status="OK", firing=False), [])

    assert saved.version == 1
    assert saved.status == "FIRING" and saved.firing_since == at and saved.firing_episode == 1
    assert store.load(alert).version == 2
    assert store.all_states()[alert].status == "OK"


def test_commit_from_a_stale_version_raises_conflict_and_claims_nothing(store, alert):
    old = store.load(alert)
    store.commit(old, _firing(old, utcnow()), [])
    loaded = store.load(alert)
    store.commit(loaded, dataclasses.replace(loaded, last_message="the other run"), [])

    with pytest.raises(StateConflict):
        store.commit(loaded, dataclasses.replace(loaded, last_message="stale"), [
            (_notice(alert, "repeat", sequence=1), "outbox")
        ])

    assert store.load(alert).last_message == "the other run"
    assert store.load(alert).version == 2
    assert store.deliveries(alert) == []


def test_two_first_commits_of_a_new_alert_conflict(store, alert):
    old = store.load(alert)
    store.commit(old, _firing(old, utcnow()), [(_notice(alert), "outbox")])

    with pytest.raises(StateConflict):
        store.commit(old, _firing(old, utcnow()), [(_notice(alert), "outbox")])

    assert [d.kind for d in store.deliveries(alert)] == ["firing"]


def test_concurrent_commits_from_the_same_version_let_exactly_one_claim(store_url, alert):
    stores = [StateStore(store_url) for _ in range(4)]
    old = stores[0].load(alert)
    ready = threading.Barrier(len(stores))

    def commit(store: StateStore):
        ready.wait(timeout=30)
        try:
            return store.commit(old, _firing(old, utcnow()), [(_notice(alert), "outbox")])
        except StateConflict:
            return "conflict"

    try:
        with ThreadPoolExecutor(len(stores)) as pool:
            outcomes = list(pool.map(commit, stores))
    finally:
        for s in stores:
            s.engine.dispose()

    assert outcomes.count("conflict") == len(stores) - 1
    (claimed,) = [o for o in outcomes if o != "conflict"]
    assert len(claimed) == 1 and claimed[0].status == PENDING


# -- delivery claims ------------------------------------------------------------------------------
def test_a_notice_is_claimed_once_per_channel(store, alert):
    notice = _notice(alert)
    old = store.load(alert)

    first = store.commit(old, _firing(old, utcnow()), [(notice, "outbox"), (notice, "slack")])
    again = store.load(alert)
    second = store.commit(again, again, [(notice, "outbox"), (notice, "slack")])
    third = store.commit(store.load(alert), again, [(notice, "outbox"), (notice, "email")])

    assert sorted(d.channel for d in first) == ["outbox", "slack"]
    assert second == []
    assert [d.channel for d in third] == ["email"]
    assert {d.idempotency_key for d in first + third} == {notice.idempotency_key}
    claimed = first[0]
    assert claimed.alert == alert and claimed.kind == "firing" and claimed.attempts == 0
    assert claimed.notice["idempotency_key"] == notice.idempotency_key
    assert claimed.notice["rows"] == [{"status": "ALERT", "actual_value": 10}]


def test_record_delivery_keeps_attempts_error_and_external_id(store, alert):
    delivery = _claim_one(store, alert, "slack")

    store.record_delivery(delivery.id, ok=False, attempts=3, error="HTTP 503 from Slack")
    failed = store.find_delivery(delivery.idempotency_key, "slack")
    store.record_delivery(delivery.id, ok=True, attempts=1, external_id="1714554000.000100")
    sent = store.find_delivery(delivery.idempotency_key, "slack")

    assert (failed.status, failed.attempts, failed.error) == (FAILED, 3, "HTTP 503 from Slack")
    assert failed.sent_at is None
    assert (sent.status, sent.attempts, sent.error) == (SENT, 4, None)
    assert sent.external_id == "1714554000.000100"
    assert sent.sent_at.tzinfo is not None and abs(sent.sent_at - utcnow()) < timedelta(minutes=5)
    assert store.find_delivery(delivery.idempotency_key, "email") is None


def test_failed_delivery_is_retried_by_exactly_one_of_two_callers(store_url, alert):
    stores = [StateStore(store_url), StateStore(store_url)]
    delivery = _claim_one(stores[0], alert)
    stores[0].record_delivery(delivery.id, ok=False, attempts=3, error="timed out")
    ready = threading.Barrier(2)

    def retry(store: StateStore):
        ready.wait(timeout=30)
        return store.claim_retries(alert)

    try:
        with ThreadPoolExecutor(2) as pool:
            taken = list(pool.map(retry, stores))
        again = stores[1].claim_retries(alert)
    finally:
        for s in stores:
            s.engine.dispose()

    assert sorted(len(t) for t in taken) == [0, 1]
    (retried,) = taken[0] + taken[1]
    assert retried.id == delivery.id and retried.idempotency_key == delivery.idempotency_key
    assert again == []


def test_pending_claim_is_taken_over_only_once_it_is_stale(store, alert):
    delivery = _claim_one(store, alert)
    later = utcnow() + STALE_CLAIM + timedelta(minutes=1)

    assert store.claim_retries(alert) == []
    assert [d.id for d in store.claim_retries(alert, later)] == [delivery.id]
    assert store.claim_retries(alert, later) == []  # the takeover is a fresh claim


def test_sent_delivery_is_never_retried(store, alert):
    delivery = _claim_one(store, alert)
    store.record_delivery(delivery.id, ok=True, attempts=1)

    assert store.claim_retries(alert, utcnow() + STALE_CLAIM * 3) == []


def test_failed_delivery_is_given_up_after_the_retry_window(store, alert):
    delivery = _claim_one(store, alert)
    store.record_delivery(delivery.id, ok=False, attempts=1, error="refused")

    assert store.claim_retries(alert, utcnow() + RETRY_WINDOW + timedelta(hours=1)) == []
    assert [d.id for d in store.claim_retries(alert)] == [delivery.id]


def test_deliveries_are_listed_newest_first_per_alert(store, alert):
    other = f"{alert}_other"
    _claim_one(store, alert, "outbox")
    _claim_one(store, other, "outbox")
    old = store.load(alert)
    store.commit(old, old, [(_notice(alert, "repeat", sequence=1), "outbox")])

    assert [d.kind for d in store.deliveries(alert)] == ["repeat", "firing"]
    assert [d.alert for d in store.deliveries(other)] == [other]


# -- silences -------------------------------------------------------------------------------------
def _silence(alert=None, matchers=(), hours=2.0, reason="maintenance") -> Silence:
    return Silence(id=None, until=utcnow() + timedelta(hours=hours), reason=reason, alert=alert,
                   matchers=matchers, created_by="tester")


def _ids(silences) -> set[int]:
    return {s.id for s in silences}


def test_silences_are_listed_until_they_expire(store, alert):
    by_alert = store.add_silence(_silence(alert=alert))
    team = f"team_{alert}"
    by_tag = store.add_silence(_silence(matchers=parse_matchers([f"team={team}", "sev=high"])))
    expired = store.add_silence(_silence(alert=alert, hours=-1))

    active = {s.id: s for s in store.silences()}
    in_three_hours = _ids(store.silences(utcnow() + timedelta(hours=3)))

    assert by_alert.id in active and by_tag.id in active and expired.id not in active
    assert active[by_alert.id].alert == alert and active[by_alert.id].reason == "maintenance"
    assert active[by_tag.id].matchers == (("sev", "high"), ("team", team))
    assert active[by_tag.id].created_by == "tester"
    assert not in_three_hours & {by_alert.id, by_tag.id}


def test_silences_are_removed_by_alert_by_matcher_and_by_id(store, alert):
    team = f"team_{alert}"
    by_alert = [store.add_silence(_silence(alert=alert)) for _ in range(2)]
    by_tag = store.add_silence(_silence(matchers=(("team", team), ("sev", "high"))))
    by_id = store.add_silence(_silence(alert=f"{alert}_x"))

    assert store.remove_silences(alert=alert) == 2
    assert store.remove_silences(matchers=parse_matchers(["sev=high", f"team={team}"])) == 1
    assert store.remove_silences(silence_id=by_id.id) == 1
    assert store.remove_silences(silence_id=by_id.id) == 0
    assert not _ids(store.silences()) & _ids(by_alert + [by_tag, by_id])


# -- datetimes ------------------------------------------------------------------------------------
def test_datetimes_round_trip_timezone_aware(store, alert):
    berlin_morning = datetime(2024, 3, 31, 9, 30, 15, 123456, tzinfo=BERLIN)  # after DST starts
    old = store.load(alert)
    store.commit(old, _firing(old, berlin_morning), [(_notice(alert), "outbox")])
    silence = store.add_silence(Silence(id=None, until=utcnow().astimezone(BERLIN) +
                                        timedelta(hours=1), reason="deploy", alert=alert))

    state = store.load(alert)
    (listed,) = [s for s in store.silences() if s.id == silence.id]
    (delivery,) = store.deliveries(alert)

    assert state.firing_since == berlin_morning and state.firing_since.tzinfo is not None
    assert state.last_evaluated_at == berlin_morning
    assert listed.until == silence.until and listed.until.utcoffset() == timedelta(0)
    assert listed.created_at.tzinfo is not None
    assert delivery.created_at.utcoffset() == timedelta(0)
    assert abs(delivery.created_at - utcnow()) < timedelta(minutes=5)


def test_silence_in_another_timezone_expires_at_the_same_instant(store, alert):
    until = (utcnow() + timedelta(minutes=30)).astimezone(BERLIN)
    silence = store.add_silence(Silence(id=None, until=until, reason="deploy", alert=alert))

    assert silence.id in _ids(store.silences(until - timedelta(seconds=1)))
    assert silence.id not in _ids(store.silences(until + timedelta(seconds=1)))
