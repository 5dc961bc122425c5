"""Many evaluations in one process: queries concurrent across databases with a limit per
database, states read and saved in bulk.

A scheduled tick evaluates every alert that is due in one run per database shard
(``orchestration.grouped``). Here, Dagster-free:

1. the alerts' queries run on a thread pool; each database gets at most ``per_database`` queries
   at a time (the ``sentinel/database`` run limit of the instance keeps its meaning), and a
   database that hangs until its timeouts holds only its own slots;
2. as results come in, they are decided in batches in the caller's thread: the silences and
   the states of the batch are read in one query each, judged and stepped (the same pure core as
   one evaluation), and saved in one transaction in which each alert keeps its own version
   check. An alert whose state another run saved first is decided again on its own
   (``evaluate_alert`` with the outcome already judged), so overlapping runs still send each
   notice once;
3. claimed notices (and earlier failed ones) are delivered, and each result is handed to the
   caller, who records it (Dagster's event log is written from one thread).

One alert that crashes becomes a ``NOT_EVALUATED`` result without stopping the others.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Iterator, Mapping, Sequence

from sentinel_assets.core.bounds import bound_result
from sentinel_assets.core.judging import Outcome, judge
from sentinel_assets.core.lifecycle import step
from sentinel_assets.core.query_result import QueryResult
from sentinel_assets.core.silences import active_silence
from sentinel_assets.engine.evaluation import Evaluation, deliver_all, evaluate_alert, run_query
from sentinel_assets.names import NOT_EVALUATED
from sentinel_assets.spec.models import AlertSpec
from sentinel_assets.state.store import StateStore, utcnow

_logger = logging.getLogger("sentinel_assets")
DEFAULT_PER_DATABASE = 4
MAX_THREADS = 32
BATCH = 200  # results decided and saved together
IDLE_FLUSH_SECONDS = 0.2  # decide what has come in when nothing else finishes for this long


@dataclass(frozen=True)
class GroupResult:
    """One alert of a group: its evaluation, or why there is none."""

    alert: AlertSpec
    evaluation: Evaluation | None
    error: str | None = None

    @property
    def status(self) -> str:
        return self.evaluation.status if self.evaluation else NOT_EVALUATED


@dataclass(frozen=True)
class _Judged:
    alert: AlertSpec
    outcome: Outcome
    result: QueryResult | None


def evaluate_many(
    alerts: Sequence[AlertSpec],
    *,
    databases: Mapping[str, Any],
    state_store: StateStore,
    channels: Mapping[str, Any],
    now: datetime | None = None,
    run_id: str | None = None,
    run_url: str | None = None,
    per_database: int = DEFAULT_PER_DATABASE,
    evaluate: Callable[..., Evaluation] | None = None,
) -> Iterator[GroupResult]:
    """Evaluate ``alerts``; yields each result in the caller's thread as it is decided.

    The lifecycle, deduplication, claims and at-least-once delivery are those of
    ``evaluate_alert``, whichever path an alert takes. With ``evaluate`` given, each alert is
    evaluated by it in the pool instead (one transaction per alert).
    """
    if not alerts:
        return
    slots = {name: threading.BoundedSemaphore(max(1, per_database))
             for name in {a.database for a in alerts}}
    per_db = {d: sum(1 for a in alerts if a.database == d) for d in slots}
    threads = min(MAX_THREADS, sum(min(per_database, n) for n in per_db.values()))

    def query(alert: AlertSpec) -> _Judged | GroupResult:
        with slots[alert.database]:
            try:
                if evaluate is not None:
                    ev = evaluate(alert, database=databases.get(alert.database),
                                  state_store=state_store, channels=channels, now=now,
                                  run_id=run_id, run_url=run_url, log=_logger)
                    return GroupResult(alert, ev)
                result, error = run_query(alert, databases.get(alert.database), None)
                return _Judged(alert, judge(alert.judge_rules, result, error),
                               bound_result(result))
            except Exception as exc:  # noqa: BLE001 - one broken alert never stops the others
                return GroupResult(alert, None, f"{type(exc).__name__}: {exc}")

    with ThreadPoolExecutor(max_workers=max(1, threads), thread_name_prefix="sentinel") as pool:
        pending: set[Future] = {pool.submit(query, alert) for alert in alerts}
        waiting: list[_Judged] = []
        while pending:
            done, pending = wait(pending, timeout=IDLE_FLUSH_SECONDS, return_when=FIRST_COMPLETED)
            for future in done:
                item = future.result()
                if isinstance(item, GroupResult):
                    yield item
                else:
                    waiting.append(item)
            if waiting and (len(waiting) >= BATCH or not done or not pending):
                yield from _decide(waiting, state_store, channels, now, run_id, run_url)
                waiting = []


def _decide(batch: list[_Judged], store: StateStore, channels: Mapping[str, Any],
            now: datetime | None, run_id: str | None, run_url: str | None
            ) -> Iterator[GroupResult]:
    """Step, save and deliver a batch of judged alerts (see the module docstring)."""
    now = now or utcnow()
    try:
        silences = store.silences(now)
        previous = store.load_many(j.alert.name for j in batch)
        retrying = store.alerts_with_retries(j.alert.name for j in batch)
    except Exception as exc:  # noqa: BLE001 - the state store is down: nothing is decided
        for judged in batch:
            yield GroupResult(judged.alert, None, f"state store: {type(exc).__name__}: {exc}")
        return
    decided, changes = {}, []
    for judged in batch:
        alert = judged.alert
        silence = active_silence(alert.name, alert.tags, silences, now)
        old = previous[alert.name]
        stepped = step(old, judged.outcome, alert.policy, now, silenced=silence is not None,
                       scope=store.store_id)
        claims = [(n, ch) for n in stepped.notices for ch in alert.routing.channels_for(n)]
        decided[alert.name] = (old, stepped, silence)
        changes.append((old, stepped.state, claims))
    try:
        claimed, conflicts = store.commit_many(changes, run_id)
    except Exception as exc:  # noqa: BLE001 - nothing of the batch was saved
        for judged in batch:
            yield GroupResult(judged.alert, None, f"state store: {type(exc).__name__}: {exc}")
        return
    for judged in batch:
        alert = judged.alert
        try:
            if alert.name in conflicts:  # another run saved first: decide again, alone
                ev = evaluate_alert(alert, database=None, state_store=store, channels=channels,
                                    now=now, run_id=run_id, run_url=run_url, log=_logger,
                                    outcome=judged.outcome)
                yield GroupResult(alert, ev)
                continue
            old, stepped, silence = decided[alert.name]
            fresh = claimed.get(alert.name, [])
            retries = []
            if alert.name in retrying:
                ids = {d.id for d in fresh}
                retries = [d for d in store.claim_retries(alert.name) if d.id not in ids]
            records = deliver_all(alert, stepped.notices, fresh, retries, store, channels,
                                  run_id, run_url, None, _logger)
            yield GroupResult(alert, Evaluation(
                alert, now, judged.outcome, judged.result, old, stepped.state, stepped.notices,
                stepped.suppressed, tuple(records), silence, {}))
        except Exception as exc:  # noqa: BLE001 - one broken alert never stops the others
            yield GroupResult(alert, None, f"{type(exc).__name__}: {exc}")
