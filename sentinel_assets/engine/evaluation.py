"""One evaluation of one alert: query, judge, lifecycle, claim, deliver (docs/design.md, "The
flow of one alert").

Dagster-free so that it can run many times inside one op (batched evaluation), from the CLI and
from tests. Notices are *claimed* in the same transaction that saves the new state and only then
sent: a run that loses the race to save the state re-decides from the winner's state, and a
(notice, channel) pair that is already claimed is not sent again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Mapping

from sentinel_assets.channels.base import DeliveryResult
from sentinel_assets.core.bounds import bound_result
from sentinel_assets.core.judging import Outcome, judge
from sentinel_assets.core.lifecycle import (
    ERROR_KIND,
    ERROR_RESOLVED,
    FIRING,
    AlertState,
    Notice,
    step,
)
from sentinel_assets.core.messages import NoticeContext
from sentinel_assets.core.query_result import QueryResult
from sentinel_assets.core.silences import Silence, active_silence
from sentinel_assets.databases.base import Database
from sentinel_assets.databases.errors import QueryError
from sentinel_assets.spec.models import AlertSpec
from sentinel_assets.state.store import (
    Delivery,
    StateConflict,
    StateStore,
    notice_from_dict,
    utcnow,
)

_logger = logging.getLogger("sentinel_assets")
MAX_COMMIT_ATTEMPTS = 20


@dataclass(frozen=True)
class DeliveryRecord:
    """What one delivery of this evaluation did (new notices and retried old ones)."""

    channel: str
    kind: str
    ok: bool
    attempts: int
    error: str | None
    idempotency_key: str
    retry: bool = False


@dataclass(frozen=True)
class Evaluation:
    """Everything one evaluation decided and did."""

    alert: AlertSpec
    evaluated_at: datetime
    outcome: Outcome
    result: QueryResult | None  # its first rows, bounded (core.bounds.bound_result)
    previous: AlertState
    state: AlertState
    notices: tuple[Notice, ...]
    suppressed: tuple[Notice, ...]
    deliveries: tuple[DeliveryRecord, ...]
    silence: Silence | None = None
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def status(self) -> str:
        return self.outcome.status

    @property
    def query_ms(self) -> float | None:
        return self.result.duration_ms if self.result else None

    @property
    def failed_deliveries(self) -> list[DeliveryRecord]:
        return [d for d in self.deliveries if not d.ok]

    @property
    def retried_notices(self) -> int:
        """Earlier notices whose failed deliveries this evaluation tried again."""
        return len({d.idempotency_key for d in self.deliveries if d.retry})

    @property
    def notice_count(self) -> int:
        """Notices this evaluation sent or tried: its new ones and retried earlier ones."""
        keys = {n.idempotency_key for n in self.notices}
        return len(keys | {d.idempotency_key for d in self.deliveries if d.retry})


def run_query(alert: AlertSpec, database: Database, params: Mapping[str, Any] | None):
    """Run the alert's query; a failure or timeout becomes an error message, never a raise."""
    try:
        result = database.query(
            alert.query,
            dict(params or {}),
            timeout=alert.timeout.total_seconds(),
            max_rows=alert.max_rows,
            labels={"sentinel_alert": alert.name},
            **_query_options(alert),
        )
        return result, None
    except QueryError as exc:
        return None, str(exc)
    except Exception as exc:  # noqa: BLE001 - a broken adapter is an ERROR outcome, not a crash
        return None, f"{type(exc).__name__}: {exc}"


def _query_options(alert: AlertSpec) -> dict[str, Any]:
    """Backend-specific options, passed only when set (BigQuery's maximum_bytes_billed)."""
    limit = getattr(alert, "maximum_bytes_billed", None)
    return {"maximum_bytes_billed": limit} if limit else {}


def evaluate_alert(
    alert: AlertSpec,
    *,
    database: Database | None,
    state_store: StateStore,
    channels: Mapping[str, Any],
    now: datetime | None = None,
    params: Mapping[str, Any] | None = None,
    run_id: str | None = None,
    run_url: str | None = None,
    log: Any = None,
    record_state: bool = True,
    notify_replay: bool = False,
    outcome: Outcome | None = None,
) -> Evaluation:
    """Evaluate ``alert`` once and deliver what the lifecycle decides.

    With ``record_state=False`` (backfills, past windows) the outcome is judged and returned,
    but the live lifecycle state is neither read into decisions nor changed, and nothing is sent
    unless ``notify_replay``: then an ALERT sends a ``firing`` and an ERROR an ``error`` notice
    for that window alone (once per window, however often it is replayed).
    With ``outcome`` given, no query runs: sentinel's own findings (a crashed run, missed
    evaluations, its health) go through the same lifecycle, deduplication and delivery.
    """
    log = log or _logger
    now = now or utcnow()
    result = None
    if outcome is None:
        result, error = run_query(alert, database, params)
        outcome = judge(alert.judge_rules, result, error)
        result = bound_result(result)  # judged: only its first rows, bounded, are kept
    silence = active_silence(alert.name, alert.tags, state_store.silences(now), now)
    if not record_state:
        return _replay(alert, outcome, result, state_store, channels, now, params, run_id,
                       run_url, log, notify=notify_replay, silence=silence)

    routing = alert.routing
    for _ in range(MAX_COMMIT_ATTEMPTS):
        previous = state_store.load(alert.name)
        decided = step(previous, outcome, alert.policy, now, silenced=silence is not None,
                       scope=state_store.store_id)
        claims = [(n, ch) for n in decided.notices for ch in routing.channels_for(n)]
        try:
            claimed = state_store.commit(previous, decided.state, claims, run_id)
            break
        except StateConflict:
            log.info(f"alert {alert.name}: another run saved its state first; deciding again")
    else:
        raise RuntimeError(f"alert {alert.name}: could not save its state after "
                           f"{MAX_COMMIT_ATTEMPTS} attempts (too many overlapping runs)")

    # staleness of a claim is wall-clock time (is its sender gone?), not the evaluation's `now`,
    # which a caller may set to a scheduled or simulated time
    fresh = {d.id for d in claimed}
    retries = [d for d in state_store.claim_retries(alert.name) if d.id not in fresh]
    records = deliver_all(alert, decided.notices, claimed, retries, state_store, channels,
                           run_id, run_url, params, log)
    return Evaluation(alert, now, outcome, result, previous, decided.state, decided.notices,
                      decided.suppressed, tuple(records), silence, dict(params or {}))


def _replay(alert, outcome, result, store, channels, now, params, run_id, run_url, log, *,
            notify: bool, silence) -> Evaluation:
    """A past window: judged and recorded in Dagster, the live state untouched."""
    empty = AlertState(alert=alert.name)
    policy = dataclasses.replace(alert.policy, for_count=1)
    quiet = not notify or silence is not None
    decided = step(empty, outcome, policy, now, silenced=quiet, scope=store.store_id)
    records: list[DeliveryRecord] = []
    notices: tuple[Notice, ...] = ()
    if not quiet:
        # one episode number per window keeps the keys distinct from live episodes and stable
        # across replays of the same window
        episode = -int(hashlib.sha256(repr(sorted((params or {}).items())).encode())
                       .hexdigest()[:12], 16)
        notices = tuple(dataclasses.replace(n, episode=episode) for n in decided.notices)
        claims = [(n, ch) for n in notices for ch in alert.routing.channels_for(n)]
        claimed = store.commit(None, None, claims, run_id)
        records = deliver_all(alert, notices, claimed, [], store, channels, run_id, run_url,
                               params, log)
    return Evaluation(alert, now, outcome, result, empty, decided.state, notices,
                      decided.suppressed, tuple(records), silence, dict(params or {}))


def deliver_all(alert, notices, claimed, retries, store, channels, run_id, run_url, params,
                 log) -> list[DeliveryRecord]:
    by_key = {n.idempotency_key: n for n in notices}
    records = []
    for delivery in retries + claimed:
        notice = by_key.get(delivery.idempotency_key) or notice_from_dict(delivery.notice)
        ctx = _context(alert, notice, delivery, store, run_id, run_url, params)
        res = _deliver(channels.get(delivery.channel), ctx, log)
        store.record_delivery(delivery.id, ok=res.ok, attempts=res.attempts,
                              error=res.error, external_id=res.external_id)
        records.append(DeliveryRecord(delivery.channel, delivery.kind, res.ok, res.attempts,
                                      res.error, delivery.idempotency_key,
                                      retry=delivery in retries))
        if not res.ok:
            log.warning(f"alert {alert.name}: {delivery.kind} notice to {delivery.channel} "
                        f"failed after {res.attempts} attempt(s): {res.error}; it will be retried "
                        "on the next evaluation")
    return records


def _deliver(channel: Any, ctx: NoticeContext, log: Any) -> DeliveryResult:
    if channel is None:
        return DeliveryResult(ok=False, attempts=0,
                              error=f"channel {ctx.channel!r} is not configured in this process")
    try:
        return channel.deliver(ctx, log)
    except Exception as exc:  # noqa: BLE001 - a channel bug must not lose the other deliveries
        return DeliveryResult(ok=False, error=f"{type(exc).__name__}: {exc}")


def firing_key(alert: str, episode: int, scope: str = "") -> str:
    """The idempotency key of an episode's ``firing`` notice (threads hang off its delivery)."""
    return Notice(alert, FIRING, "", "", "", utcnow(), episode, 0, scope=scope).idempotency_key


def _context(alert, notice, delivery: Delivery, store, run_id, run_url, params) -> NoticeContext:
    thread_id = None
    if notice.kind not in (FIRING, ERROR_KIND, ERROR_RESOLVED):
        first = store.find_delivery(firing_key(alert.name, notice.episode, notice.scope),
                                    delivery.channel)
        thread_id = first.external_id if first else None
    window = None
    if params and "window_start" in params:
        window = {"start": str(params["window_start"]), "end": str(params.get("window_end"))}
    return NoticeContext(
        notice=notice,
        channel=delivery.channel,
        description=alert.description,
        owner=alert.owner,
        tags=dict(alert.tags),
        database=alert.database,
        query=alert.query,
        run_id=run_id,
        run_url=run_url,
        window=window,
        thread_id=thread_id,
        templates=dict(alert.templates),
        title=alert.title,
    )
