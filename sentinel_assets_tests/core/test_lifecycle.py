"""The alert lifecycle, table-driven over sequences of outcomes at explicit times.

A sequence is written as tokens ``<outcome>@<minute>``: ``A`` ALERT, ``O`` OK, ``N`` NO_DATA,
``E`` ERROR; a leading ``~`` means a silence covers that evaluation. The expected notices are
one string per evaluation: ``-`` for none, else the notice kinds sent, joined by ``+``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pytest

from sentinel_assets.core.judging import ALERT, ERROR, NO_DATA, OK, Outcome
from sentinel_assets.core.lifecycle import (
    ERROR_KIND,
    ERROR_RESOLVED,
    ESCALATION,
    FIRING,
    REPEAT,
    RESOLVED,
    S_ERROR,
    S_FIRING,
    S_OK,
    S_PENDING,
    AlertState,
    Notice,
    Policy,
    Step,
    step,
)
from sentinel_assets.names import NOTICE_KINDS

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)
OUTCOMES = {
    "A": Outcome(ALERT, "1 of 1 rows returned ALERT (value 5, threshold 10)", 5, 10),
    "O": Outcome(OK, "all 1 rows returned OK (value 50, threshold 10)", 50, 10),
    "N": Outcome(NO_DATA, "query returned no rows (status); no_data: ok"),
    "E": Outcome(ERROR, "query failed: connection refused"),
}


@dataclass
class Evaluation:
    token: str
    now: datetime
    silenced: bool
    step: Step


def run(policy: Policy, sequence: str, state: AlertState | None = None) -> list[Evaluation]:
    state = state or AlertState(alert="orders_revenue_low")
    evaluations = []
    for token in sequence.split():
        silenced = token.startswith("~")
        kind, _, minute = token.lstrip("~").partition("@")
        now = T0 + timedelta(minutes=int(minute))
        decided = step(state, OUTCOMES[kind], policy, now, silenced=silenced)
        evaluations.append(Evaluation(token, now, silenced, decided))
        state = decided.state
    return evaluations


def kinds(notices: tuple[Notice, ...]) -> str:
    return "+".join(n.kind for n in notices) or "-"


def sent(evaluations: list[Evaluation]) -> list[str]:
    return [kinds(e.step.notices) for e in evaluations]


def all_notices(evaluations: list[Evaluation]) -> list[Notice]:
    return [n for e in evaluations for n in e.step.notices]


HOUR = timedelta(hours=1)

LIFECYCLE_CASES = [
    # -- OK, PENDING, FIRING ------------------------------------------------------------------
    pytest.param(Policy(), "O@0 O@10 N@20 O@30", "- - - -", id="ok-stays-ok-silently"),
    pytest.param(Policy(), "A@0", "firing", id="alert-fires-at-once-with-for-1"),
    pytest.param(
        Policy(for_count=3), "A@0 A@10 A@20 A@30", "- - firing -", id="for-3-pending-then-firing"
    ),
    pytest.param(
        Policy(for_count=2), "A@0 O@10 A@20 A@30", "- - - firing", id="ok-resets-the-for-count"
    ),
    pytest.param(Policy(for_count=2), "A@0 O@10", "- -", id="pending-then-ok-sends-nothing"),
    pytest.param(
        Policy(for_count=2),
        "A@0 E@10 A@20",
        "- error error_resolved+firing",
        id="error-between-alerts-does-not-reset-the-for-count",
    ),
    pytest.param(Policy(), "A@0 A@10 A@20 A@600", "firing - - -", id="firing-is-sent-once"),
    # -- repeat --------------------------------------------------------------------------------
    pytest.param(
        Policy(repeat_interval=HOUR),
        "A@0 A@30 A@59 A@60 A@90 A@119 A@120",
        "firing - - repeat - - repeat",
        id="repeat-only-after-repeat-interval",
    ),
    pytest.param(
        Policy(repeat_interval=HOUR),
        "A@0 A@200",
        "firing repeat",
        id="one-repeat-however-long-the-gap",
    ),
    # -- escalation ----------------------------------------------------------------------------
    pytest.param(
        Policy(escalate_after=1),
        "A@0 A@10 A@20 A@30",
        "firing escalation - -",
        id="escalation-once-after-1-notice",
    ),
    pytest.param(
        Policy(repeat_interval=HOUR, escalate_after=2),
        "A@0 A@60 A@90 A@120 A@180 O@200",
        "firing repeat escalation repeat repeat resolved",
        id="escalation-after-2-notices-then-repeats-go-on",
    ),
    pytest.param(
        Policy(repeat_interval=HOUR, escalate_after=1),
        "A@0 A@60",
        "firing escalation+repeat",
        id="escalation-and-a-due-repeat-in-one-step",
    ),
    pytest.param(
        Policy(escalate_after=2),
        "A@0 A@10 A@20",
        "firing - -",
        id="no-escalation-before-enough-notices",
    ),
    pytest.param(
        Policy(escalate_after=1),
        "A@0 A@10 O@20 A@30 A@40",
        "firing escalation resolved firing escalation",
        id="escalation-once-per-episode",
    ),
    # -- resolved ------------------------------------------------------------------------------
    pytest.param(Policy(), "A@0 O@10 O@20", "firing resolved -", id="resolved-once"),
    pytest.param(Policy(), "A@0 N@10", "firing resolved", id="no-data-resolves"),
    pytest.param(
        Policy(send_resolved=False), "A@0 O@10 A@20", "firing - firing", id="send-resolved-false"
    ),
    # -- errors --------------------------------------------------------------------------------
    pytest.param(Policy(), "E@0 E@10 E@20", "error - -", id="error-once-per-episode"),
    pytest.param(Policy(), "E@0 E@10 O@20 O@30", "error - error_resolved -", id="error-resolved"),
    pytest.param(Policy(), "E@0 N@10", "error error_resolved", id="error-resolved-by-no-data"),
    pytest.param(
        Policy(), "E@0 O@10 E@20", "error error_resolved error", id="a-new-error-episode-notifies"
    ),
    pytest.param(
        Policy(),
        "A@0 E@10 A@20",
        "firing error error_resolved",
        id="firing-error-alert-sends-no-second-firing",
    ),
    pytest.param(
        Policy(),
        "A@0 E@10 O@20",
        "firing error error_resolved+resolved",
        id="firing-error-ok-resolves-both",
    ),
    pytest.param(
        Policy(repeat_interval=HOUR),
        "A@0 E@60 E@120 A@130",
        "firing error - error_resolved+repeat",
        id="no-repeat-while-error",
    ),
    pytest.param(
        Policy(for_count=2), "A@0 E@10 O@20", "- error error_resolved", id="pending-error-ok"
    ),
    pytest.param(
        Policy(send_resolved=False),
        "E@0 O@10",
        "error error_resolved",
        id="error-resolved-ignores-send-resolved",
    ),
    # -- silences ------------------------------------------------------------------------------
    pytest.param(
        Policy(),
        "~A@0 ~A@10 A@20 A@30",
        "- - firing -",
        id="firing-announced-when-the-silence-ends",
    ),
    pytest.param(
        Policy(), "~A@0 ~O@10 O@20", "- - -", id="episode-inside-a-silence-sends-nothing"
    ),
    pytest.param(
        Policy(), "~A@0 O@10", "- -", id="no-resolved-for-an-unannounced-episode"
    ),
    pytest.param(
        Policy(), "~E@0 ~O@10 O@20", "- - -", id="error-inside-a-silence-sends-nothing"
    ),
    pytest.param(Policy(), "~E@0 E@10 E@20", "- error -", id="error-announced-after-silence"),
    pytest.param(
        Policy(repeat_interval=HOUR),
        "A@0 ~A@60 ~A@120 A@130 A@150",
        "firing - - repeat -",
        id="repeat-held-back-by-a-silence",
    ),
    pytest.param(
        Policy(escalate_after=1),
        "A@0 ~A@10 A@20 A@30",
        "firing - escalation -",
        id="escalation-held-back-by-a-silence",
    ),
    pytest.param(
        Policy(),
        "A@0 ~O@10 ~O@20 O@30 O@40",
        "firing - - resolved -",
        id="resolved-owed-after-a-silence",
    ),
    pytest.param(
        Policy(),
        "A@0 ~O@10 ~A@20 A@30 O@40",
        "firing - - - resolved",
        id="announced-episode-continues-if-it-fires-again",
    ),
    pytest.param(
        Policy(),
        "A@0 ~O@10 A@20 O@30",
        "firing - - resolved",
        id="announced-episode-continues-after-silence",
    ),
    pytest.param(
        Policy(send_resolved=False),
        "A@0 ~O@10 O@20 A@30",
        "firing - - firing",
        id="nothing-owed-without-send-resolved",
    ),
    pytest.param(
        Policy(),
        "E@0 ~O@10 O@20",
        "error - error_resolved",
        id="error-resolved-owed-after-a-silence",
    ),
    pytest.param(
        Policy(),
        "E@0 ~O@10 E@20 O@30",
        "error - - error_resolved",
        id="announced-error-episode-continues",
    ),
    pytest.param(
        Policy(),
        "A@0 ~E@10 ~A@20 A@30",
        "firing - - -",
        id="error-inside-a-silence-while-firing",
    ),
]


@pytest.mark.parametrize(("policy", "sequence", "expected"), LIFECYCLE_CASES)
def test_lifecycle_sends_the_expected_notices(policy, sequence, expected):
    evaluations = run(policy, sequence)

    assert sent(evaluations) == expected.split()


@pytest.mark.parametrize(("policy", "sequence", "expected"), LIFECYCLE_CASES)
def test_silenced_evaluations_send_nothing_and_unsilenced_suppress_nothing(
    policy, sequence, expected
):
    for evaluation in run(policy, sequence):
        if evaluation.silenced:
            assert evaluation.step.notices == (), evaluation.token
        else:
            assert evaluation.step.suppressed == (), evaluation.token


def test_every_notice_kind_is_covered_by_the_table():
    expected = " ".join(case.values[2] for case in LIFECYCLE_CASES)
    covered = set(expected.replace("+", " ").split())

    assert covered - {"-"} == set(NOTICE_KINDS)


@pytest.mark.parametrize(
    ("policy", "sequence", "statuses"),
    [
        pytest.param(Policy(), "O@0", [S_OK], id="ok"),
        pytest.param(
            Policy(for_count=3),
            "A@0 A@10 A@20 O@30",
            [S_PENDING, S_PENDING, S_FIRING, S_OK],
            id="pending-firing-ok",
        ),
        pytest.param(
            Policy(), "A@0 E@10 A@20", [S_FIRING, S_ERROR, S_FIRING], id="firing-error-firing"
        ),
        pytest.param(Policy(), "N@0", [S_OK], id="no-data-is-ok"),
        pytest.param(
            Policy(), "~A@0 ~O@10", [S_FIRING, S_OK], id="silence-does-not-stop-the-state"
        ),
    ],
)
def test_state_follows_the_outcomes(policy, sequence, statuses):
    assert [e.step.state.status for e in run(policy, sequence)] == statuses


def test_suppressed_notices_are_recorded_for_silenced_evaluations():
    evaluations = run(Policy(), "~A@0 ~A@10 A@20")

    assert [kinds(e.step.suppressed) for e in evaluations] == ["firing", "firing", "-"]


def test_status_since_changes_only_when_the_status_changes():
    evaluations = run(Policy(for_count=2), "A@0 A@10 A@20 O@30 O@40")

    since = [e.step.state.status_since for e in evaluations]

    assert since == [T0, T0 + timedelta(minutes=10), T0 + timedelta(minutes=10),
                     T0 + timedelta(minutes=30), T0 + timedelta(minutes=30)]


def test_state_records_the_last_evaluation():
    state = run(Policy(), "A@0 O@10")[-1].step.state

    assert state.last_evaluated_at == T0 + timedelta(minutes=10)
    assert (state.last_outcome, state.last_value, state.last_threshold) == (OK, 50, 10)
    assert state.last_message == OUTCOMES["O"].message


def test_error_state_keeps_the_error_message_until_it_ends():
    evaluations = run(Policy(), "E@0 O@10")

    assert evaluations[0].step.state.error_message == "query failed: connection refused"
    assert evaluations[1].step.state.error_message is None


# -- what a notice says -------------------------------------------------------------------------
def test_firing_notice_carries_the_outcome_and_the_states():
    notice = run(Policy(), "O@0 A@10")[-1].step.notices[0]

    assert (notice.kind, notice.status, notice.previous_status) == (FIRING, S_FIRING, S_OK)
    assert (notice.value, notice.threshold) == (5, 10)
    assert notice.message == OUTCOMES["A"].message
    assert notice.evaluated_at == T0 + timedelta(minutes=10)
    assert notice.alert == "orders_revenue_low"


def test_resolved_notice_reports_the_new_status():
    notice = run(Policy(), "A@0 O@10")[-1].step.notices[0]

    assert (notice.kind, notice.status, notice.previous_status) == (RESOLVED, S_OK, S_FIRING)


def test_error_notice_is_not_firing():
    notice = run(Policy(), "O@0 E@10")[-1].step.notices[0]

    assert (notice.kind, notice.status) == (ERROR_KIND, S_ERROR)


def test_repeat_and_resolved_after_escalation_are_marked_escalated():
    evaluations = run(Policy(repeat_interval=HOUR, escalate_after=1), "A@0 A@10 A@70 O@80")

    flags = [(n.kind, n.escalated) for n in all_notices(evaluations)]

    assert flags == [(FIRING, False), (ESCALATION, True), (REPEAT, True), (RESOLVED, True)]


def test_a_repeat_sent_with_the_escalation_is_not_marked_escalated():
    # the escalation channels get the escalation notice; a second page at the same time is noise
    notices = run(Policy(repeat_interval=HOUR, escalate_after=1), "A@0 A@60")[-1].step.notices

    assert [(n.kind, n.escalated) for n in notices] == [(ESCALATION, True), (REPEAT, False)]


def test_owed_resolved_belongs_to_the_announced_episode():
    evaluations = run(Policy(escalate_after=1), "A@0 A@10 ~O@20 ~A@30 ~O@40 O@50")

    resolved = evaluations[-1].step.notices[0]
    firing = evaluations[0].step.notices[0]

    assert resolved.kind == RESOLVED
    assert resolved.episode == firing.episode
    assert resolved.escalated


# -- idempotency keys ---------------------------------------------------------------------------
LONG_SEQUENCE = "A@0 A@60 A@120 A@180 E@190 E@200 A@210 O@220 E@230 O@240 A@300 O@310"
LONG_POLICY = Policy(repeat_interval=HOUR, escalate_after=2)


def test_idempotency_keys_are_deterministic():
    first = [n.idempotency_key for n in all_notices(run(LONG_POLICY, LONG_SEQUENCE))]
    second = [n.idempotency_key for n in all_notices(run(LONG_POLICY, LONG_SEQUENCE))]

    assert first == second


def test_idempotency_keys_are_distinct_per_episode_kind_and_sequence():
    notices = all_notices(run(LONG_POLICY, LONG_SEQUENCE))

    assert "+".join(n.kind for n in notices) == (
        "firing+repeat+escalation+repeat+repeat+error+error_resolved+resolved+error+"
        "error_resolved+firing+resolved"
    )
    keys = [n.idempotency_key for n in notices]
    assert len(set(keys)) == len(keys)


def test_repeat_sequence_numbers_differ_so_their_keys_differ():
    notices = all_notices(run(Policy(repeat_interval=HOUR), "A@0 A@60 A@120 A@180"))

    assert [(n.kind, n.sequence) for n in notices] == [
        (FIRING, 0), (REPEAT, 1), (REPEAT, 2), (REPEAT, 3)
    ]
    assert len({n.idempotency_key for n in notices}) == 4


def test_two_runs_deciding_the_same_step_produce_the_same_keys():
    state = run(Policy(repeat_interval=HOUR), "A@0")[-1].step.state
    later = T0 + timedelta(hours=2)

    one = step(state, OUTCOMES["A"], Policy(repeat_interval=HOUR), later)
    two = step(state, OUTCOMES["A"], Policy(repeat_interval=HOUR), later)

    assert [n.idempotency_key for n in one.notices] == [n.idempotency_key for n in two.notices]


def test_key_does_not_depend_on_time_or_message():
    base = Notice("a", FIRING, S_FIRING, S_OK, "one", T0, episode=1, sequence=0)
    other = Notice("a", FIRING, S_FIRING, S_PENDING, "two", T0 + HOUR, episode=1, sequence=0)

    assert base.idempotency_key == other.idempotency_key


@pytest.mark.parametrize(
    "changed",
    [
        pytest.param({"alert": "b"}, id="alert"),
        pytest.param({"episode": 2}, id="episode"),
        pytest.param({"kind": RESOLVED}, id="kind"),
        pytest.param({"sequence": 1}, id="sequence"),
    ],
)
def test_key_changes_with_alert_episode_kind_and_sequence(changed):
    fields = {"alert": "a", "kind": FIRING, "episode": 1, "sequence": 0}
    base = Notice(status="", previous_status="", message="", evaluated_at=T0, **fields)
    other = Notice(status="", previous_status="", message="", evaluated_at=T0,
                   **{**fields, **changed})

    assert base.idempotency_key != other.idempotency_key


def test_error_and_firing_episodes_with_the_same_number_have_different_keys():
    firing = Notice("a", FIRING, "", "", "", T0, episode=1, sequence=0)
    error = Notice("a", ERROR_KIND, "", "", "", T0, episode=1, sequence=0)

    assert firing.idempotency_key != error.idempotency_key


def test_a_held_back_notice_keeps_its_key_when_finally_sent():
    evaluations = run(Policy(), "~A@0 A@10")

    assert (evaluations[0].step.suppressed[0].idempotency_key
            == evaluations[1].step.notices[0].idempotency_key)


def test_error_resolved_shares_the_error_episode():
    notices = all_notices(run(Policy(), "E@0 O@10 E@20 O@30"))

    assert [(n.kind, n.episode) for n in notices] == [
        (ERROR_KIND, 1), (ERROR_RESOLVED, 1), (ERROR_KIND, 2), (ERROR_RESOLVED, 2)
    ]
