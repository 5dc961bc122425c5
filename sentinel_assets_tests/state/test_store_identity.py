"""The state store's identifier: created once with the store (by whichever process comes first),
stable across processes, and part of every idempotency key, so that two stores never send two
different notices under one key."""

from __future__ import annotations

import subprocess
import sys
import uuid
from datetime import datetime, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from sentinel_assets.core.judging import Outcome
from sentinel_assets.core.lifecycle import AlertState, Policy, step
from sentinel_assets.engine.evaluation import evaluate_alert
from sentinel_assets.spec.models import AlertSpec
from sentinel_assets.state.store import StateStore, metadata

T0 = datetime(2024, 5, 1, 9, 0, tzinfo=timezone.utc)


class Recorder:
    """A channel that remembers the idempotency key of every notice it is given."""

    def __init__(self):
        self.keys: list[str] = []

    def deliver(self, context, log=None):
        from sentinel_assets.channels import DeliveryResult

        self.keys.append(context.idempotency_key)
        return DeliveryResult(ok=True)


def _alert(name: str) -> AlertSpec:
    return AlertSpec(name=name, schedule="*/5 * * * *", database="alerts",
                     query="SELECT 'ALERT' AS status", notify=["outbox"], timeout="10s")


def _store_id_in_a_new_process(url: str) -> str:
    code = ("from sentinel_assets.state.store import StateStore; "
            f"print(StateStore({url!r}).store_id)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=True)
    return done.stdout.strip()


@pytest.fixture(params=["sqlite", "postgresql"])
def url_factory(request, tmp_path, pg_url_factory):
    """Fresh, empty state databases of one kind."""
    if request.param == "sqlite":
        return lambda: f"sqlite:///{tmp_path / f'state_{uuid.uuid4().hex[:8]}.db'}"
    return pg_url_factory


def test_two_stores_give_the_same_notice_different_keys(url_factory):
    first, second = StateStore(url_factory()), StateStore(url_factory())
    alert, seen = _alert(f"ident_{uuid.uuid4().hex[:8]}"), {}
    try:
        for store in (first, second):
            channel = Recorder()
            evaluate_alert(alert, database=None, state_store=store, channels={"outbox": channel},
                           now=T0, outcome=Outcome("ALERT", "1 of 1 rows returned ALERT"))
            (delivery,) = store.deliveries(alert.name)
            assert channel.keys == [delivery.idempotency_key]
            seen[store.store_id] = delivery.idempotency_key
    finally:
        first.engine.dispose()
        second.engine.dispose()

    assert len(seen) == 2, "each store has an identifier of its own"
    assert len(set(seen.values())) == 2, "the same firing notice has a key per store"


def test_the_identifier_is_stable_across_processes_and_so_are_the_keys(url_factory):
    url = url_factory()
    store = StateStore(url)
    try:
        again = [_store_id_in_a_new_process(url) for _ in range(2)]
        assert again == [store.store_id, store.store_id]
        uuid.UUID(store.store_id)  # a random UUID
        notice_key = _firing_key(store.store_id)
        assert _firing_key(again[0]) == notice_key
    finally:
        store.engine.dispose()


def _firing_key(scope: str) -> str:
    stepped = step(AlertState(alert="orders"), Outcome("ALERT", "low"), Policy(), T0, scope=scope)
    (notice,) = stepped.notices
    return notice.idempotency_key


def test_processes_opening_a_new_store_at_once_agree_on_one_identifier(pg_url_factory):
    url = pg_url_factory()
    engine = sa.create_engine(url)
    metadata.create_all(engine)  # the tables exist; the identifier does not yet
    engine.dispose()
    code = ("import sys; from sentinel_assets.state.store import StateStore; "
            "print('ready', flush=True); sys.stdin.read(); print(StateStore(sys.argv[1]).store_id)")
    processes = [subprocess.Popen([sys.executable, "-c", code, url], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(6)]
    for process in processes:
        assert process.stdout.readline().strip() == "ready"
    for process in processes:  # every process has imported everything: now they race
        process.stdin.close()
    outputs = [(p.stdout.read(), p.stderr.read()) for p in processes]
    codes = [p.wait(timeout=120) for p in processes]

    assert codes == [0] * 6, [err for _, err in outputs]
    assert len({out.strip() for out, _ in outputs}) == 1


def test_a_store_reset_gets_a_new_identifier(tmp_path):
    path = tmp_path / "state.db"
    first = StateStore(f"sqlite:///{path}")
    before = first.store_id
    first.engine.dispose()
    Path(path).unlink()

    second = StateStore(f"sqlite:///{path}")
    try:
        assert second.store_id != before
    finally:
        second.engine.dispose()
