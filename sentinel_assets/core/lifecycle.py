"""The alert lifecycle: which notices one evaluation sends. Pure: no Dagster, no I/O, no clock.

States: OK, PENDING (ALERT seen fewer than ``for`` times), FIRING, ERROR. A firing *episode*
opens when an alert fires and closes when it is OK again; an ERROR in the middle of an episode
does not close it (the query failed, the problem did not go away), so FIRING -> ERROR -> ALERT
sends ``error`` and ``error_resolved`` to the owner but no second ``firing``.

Notices go out on a change, never on every evaluation:

- ``firing`` when an episode opens (after ``for`` consecutive ALERTs);
- ``repeat`` while firing, once ``repeat_interval`` has passed since the last firing/repeat;
- ``escalation`` once per episode, at the first evaluation that finds the alert still firing
  after ``escalate_after`` firing/repeat notices;
- ``resolved`` when a notified episode closes and ``send_resolved`` is set;
- ``error`` once per error episode, ``error_resolved`` when it ends (both to the owner).

A silence suppresses notices but not evaluation: the state moves on, and what was never
announced is announced when the silence ends if it is still true (a firing alert whose silence
expires sends its ``firing`` then; an episode that began and ended inside a silence sends nothing).
The end of an episode that *was* announced is owed to its recipients: when it falls inside a
silence, ``resolved`` is sent at the first evaluation after the silence that is OK (and
``error_resolved`` at the first that is not ERROR); if the alert fires (or fails) again first, the
announced episode simply continues, since nobody was told it had ended. So every announced
``firing`` or ``error`` is followed by its end.

In a step that sends the ``escalation``, a ``repeat`` due at the same time goes to the ``notify``
channels only (``escalated`` is False on it): the escalation channels just got the escalation.

Each notice carries an idempotency key derived from alert, episode, kind and sequence, so two runs
that decide the same notice produce the same key and the delivery is made once; and from the
``scope`` of the decision (the state store's identifier), so that another deployment, or the same
one after its state store was reset, does not reuse the keys a receiver has already seen.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sentinel_assets.core.judging import ALERT, ERROR, Outcome
from sentinel_assets.names import NOTICE_KINDS, NoticeKind, State

# short local names for the words of sentinel_assets.names
# (plain strings: values that reach Dagster's serialized events must not be enum members)
S_OK, S_PENDING, S_FIRING, S_ERROR = (s.value for s in State)
FIRING, REPEAT, RESOLVED, ESCALATION, ERROR_KIND, ERROR_RESOLVED = NOTICE_KINDS
assert ERROR_KIND == NoticeKind.ERROR and S_PENDING == State.PENDING


@dataclass(frozen=True)
class Policy:
    """The lifecycle settings of one alert."""

    for_count: int = 1
    repeat_interval: timedelta | None = None
    send_resolved: bool = True
    escalate_after: int | None = None


@dataclass(frozen=True)
class AlertState:
    """What the state store keeps about one alert between evaluations."""

    alert: str
    status: str = S_OK
    status_since: datetime | None = None
    consecutive_alerts: int = 0
    # the current (or last) firing episode; it stays open through ERROR evaluations
    firing: bool = False
    firing_episode: int = 0
    firing_since: datetime | None = None
    # True from the episode's ``firing`` notice until its ``resolved`` went out (or is not wanted)
    firing_notified: bool = False
    notices_in_episode: int = 0
    escalated: bool = False
    last_notice_at: datetime | None = None
    # the current (or last) error episode
    error_episode: int = 0
    # True from the ``error`` notice until its ``error_resolved`` went out
    error_notified: bool = False
    error_message: str | None = None
    # the last evaluation
    last_evaluated_at: datetime | None = None
    last_outcome: str | None = None
    last_value: Any = None
    last_threshold: Any = None
    last_message: str | None = None
    version: int = 0


@dataclass(frozen=True)
class Notice:
    """A decision to tell someone something about an alert."""

    alert: str
    kind: str
    status: str
    previous_status: str
    message: str
    evaluated_at: datetime
    episode: int
    sequence: int
    value: Any = None
    threshold: Any = None
    escalated: bool = False
    rows: tuple[dict[str, Any], ...] = field(default_factory=tuple)
    # the identifier of the state store that decided it ("" for notices stored before it existed)
    scope: str = ""

    @property
    def idempotency_key(self) -> str:
        """Same scope, alert, episode, kind and sequence give the same key, in any process."""
        family = "error" if self.kind in (ERROR_KIND, ERROR_RESOLVED) else "firing"
        raw = f"{self.alert}/{family}/{self.episode}/{self.kind}/{self.sequence}"
        if self.scope:
            raw = f"{self.scope}/{raw}"
        return hashlib.sha256(raw.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Step:
    """The result of one lifecycle step: the new state, the notices to send, the suppressed ones."""

    state: AlertState
    notices: tuple[Notice, ...]
    suppressed: tuple[Notice, ...] = ()


def step(
    state: AlertState,
    outcome: Outcome,
    policy: Policy,
    now: datetime,
    *,
    silenced: bool = False,
    scope: str = "",
) -> Step:
    """Advance ``state`` by one evaluation with ``outcome`` at ``now``; the notices carry
    ``scope`` (the state store's identifier) into their idempotency keys."""
    run = _Run(state, outcome, policy, now, silenced, scope)
    if outcome.status == ERROR:
        run.on_error()
    else:
        run.end_error_episode()
        if outcome.status == ALERT:
            run.on_alert()
        else:
            run.on_ok()
    return run.result()


class _Run:
    """Mutable scratch space for one step; ``step`` is the only caller."""

    def __init__(self, state, outcome, policy, now, silenced, scope=""):
        self.before = state
        self.scope = scope
        self.s = state
        self.outcome = outcome
        self.policy = policy
        self.now = now
        self.silenced = silenced
        self.notices: list[Notice] = []
        self.suppressed: list[Notice] = []
        self.escalated_now = False

    # -- outcomes ---------------------------------------------------------------------------
    def on_error(self) -> None:
        s = self.s
        # an error episode whose end was never announced (held back by a silence) continues
        if s.status != S_ERROR and not s.error_notified:
            s = replace(s, error_episode=s.error_episode + 1)
        self.s = replace(s, error_message=self.outcome.message)
        self._set_status(S_ERROR)
        if not self.s.error_notified:
            if self._emit(ERROR_KIND, self.s.error_episode, 0):
                self.s = replace(self.s, error_notified=True)

    def end_error_episode(self) -> None:
        # error_notified outside ERROR: the episode ended inside a silence and its end is owed
        if self.s.error_notified and self._emit(ERROR_RESOLVED, self.s.error_episode, 0):
            self.s = replace(self.s, error_notified=False)
        if self.s.status == S_ERROR:
            self.s = replace(self.s, error_message=None)

    def on_alert(self) -> None:
        s = replace(self.s, consecutive_alerts=self.s.consecutive_alerts + 1)
        self.s = s
        if not s.firing and s.consecutive_alerts >= self.policy.for_count and s.firing_notified:
            # the announced episode ended inside a silence and nobody was told: it continues
            self.s = replace(s, firing=True)
        elif not s.firing and s.consecutive_alerts >= self.policy.for_count:
            self.s = replace(
                s,
                firing=True,
                firing_episode=s.firing_episode + 1,
                firing_since=self.now,
                firing_notified=False,
                notices_in_episode=0,
                escalated=False,
            )
        if not self.s.firing:
            self._set_status(S_PENDING)
            return
        self._set_status(S_FIRING)
        if not self.s.firing_notified:
            if self._emit(FIRING, self.s.firing_episode, 0):
                self._count_notice()
                self.s = replace(self.s, firing_notified=True)
            return
        self._maybe_escalate()
        self._maybe_repeat()

    def on_ok(self) -> None:
        s = self.s
        notified = s.firing_notified
        if notified and self.policy.send_resolved:
            # held back by a silence: still owed, sent at the first OK evaluation after it
            notified = not self._emit(RESOLVED, s.firing_episode, 0)
        else:
            notified = False
        self.s = replace(s, consecutive_alerts=0, firing=False, firing_notified=notified)
        self._set_status(S_OK)

    # -- helpers ----------------------------------------------------------------------------
    def _maybe_escalate(self) -> None:
        after = self.policy.escalate_after
        if after is None or self.s.escalated or self.s.notices_in_episode < after:
            return
        if self._emit(ESCALATION, self.s.firing_episode, 0):
            self.s = replace(self.s, escalated=True)
            self.escalated_now = True

    def _maybe_repeat(self) -> None:
        interval = self.policy.repeat_interval
        last = self.s.last_notice_at
        if interval is None or last is None or self.now - last < interval:
            return
        if self._emit(REPEAT, self.s.firing_episode, self.s.notices_in_episode):
            self._count_notice()

    def _count_notice(self) -> None:
        self.s = replace(
            self.s, notices_in_episode=self.s.notices_in_episode + 1, last_notice_at=self.now
        )

    def _set_status(self, status: str) -> None:
        if status != self.s.status or self.s.status_since is None:
            self.s = replace(self.s, status=status, status_since=self.now)

    def _emit(self, kind: str, episode: int, sequence: int) -> bool:
        """Decide a notice; returns False when a silence holds it back."""
        notice = Notice(
            alert=self.s.alert,
            kind=kind,
            status=self.s.status,
            previous_status=self.before.status,
            message=self.outcome.message,
            evaluated_at=self.now,
            episode=episode,
            sequence=sequence,
            value=self.outcome.value,
            threshold=self.outcome.threshold,
            escalated=kind == ESCALATION
            or (self.s.escalated and not (kind == REPEAT and self.escalated_now)),
            rows=self.outcome.rows,
            scope=self.scope,
        )
        (self.suppressed if self.silenced else self.notices).append(notice)
        return not self.silenced

    def result(self) -> Step:
        o = self.outcome
        state = replace(
            self.s,
            last_evaluated_at=self.now,
            last_outcome=o.status,
            last_value=o.value,
            last_threshold=o.threshold,
            last_message=o.message,
        )
        # a resolved notice is decided before the status flips; report the new status on it
        notices = tuple(replace(n, status=state.status) for n in self.notices)
        suppressed = tuple(replace(n, status=state.status) for n in self.suppressed)
        return Step(state, notices, suppressed)
