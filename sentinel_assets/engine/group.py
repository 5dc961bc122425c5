"""Many evaluations in one process: concurrent across databases, a limit per database.

A scheduled tick evaluates every alert that is due in one run per database shard
(``orchestration.grouped``). Here, Dagster-free, the alerts' queries run on a thread pool: each
database gets at most ``per_database`` queries at a time (the ``sentinel/database`` run limit of
the instance keeps its meaning), a database that hangs until its timeouts holds only its own
slots, and one alert that crashes becomes a ``NOT_EVALUATED`` result without stopping the others.
Results come back to the caller's thread as they finish, so that the caller records each one
(Dagster's event log is written from one thread).
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Iterator, Mapping, Sequence

from sentinel_assets.engine.evaluation import Evaluation, evaluate_alert
from sentinel_assets.names import NOT_EVALUATED
from sentinel_assets.spec.models import AlertSpec
from sentinel_assets.state.store import StateStore

_logger = logging.getLogger("sentinel_assets")
DEFAULT_PER_DATABASE = 4
MAX_THREADS = 32


@dataclass(frozen=True)
class GroupResult:
    """One alert of a group: its evaluation, or why there is none."""

    alert: AlertSpec
    evaluation: Evaluation | None
    error: str | None = None

    @property
    def status(self) -> str:
        return self.evaluation.status if self.evaluation else NOT_EVALUATED


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
    evaluate: Callable[..., Evaluation] = evaluate_alert,
) -> Iterator[GroupResult]:
    """Evaluate ``alerts`` concurrently; yields each result in the caller's thread as it ends.

    Every alert is evaluated by ``engine.evaluation.evaluate_alert`` with the same state store,
    claims and idempotency keys as a single run, so the lifecycle, deduplication and
    at-least-once delivery are the same whichever path evaluated it.
    """
    if not alerts:
        return
    slots: dict[str, threading.BoundedSemaphore] = {
        name: threading.BoundedSemaphore(max(1, per_database))
        for name in {a.database for a in alerts}
    }

    def one(alert: AlertSpec) -> GroupResult:
        with slots[alert.database]:
            try:
                ev = evaluate(alert, database=databases.get(alert.database),
                              state_store=state_store, channels=channels, now=now,
                              run_id=run_id, run_url=run_url, log=_logger)
                return GroupResult(alert, ev)
            except Exception as exc:  # noqa: BLE001 - one broken alert never stops the others
                return GroupResult(alert, None, f"{type(exc).__name__}: {exc}")

    threads = min(MAX_THREADS, sum(min(per_database, len([a for a in alerts if a.database == d]))
                                   for d in slots))
    with ThreadPoolExecutor(max_workers=max(1, threads), thread_name_prefix="sentinel") as pool:
        pending: set[Future] = {pool.submit(one, alert) for alert in alerts}
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                yield future.result()
