"""Judging: the query contract (status column or condition) and every way a result becomes ERROR."""

from __future__ import annotations

from decimal import Decimal

import pytest

from sentinel_assets.core.judging import (
    ALERT,
    ERROR,
    NO_DATA,
    OK,
    Condition,
    JudgeRules,
    judge,
)
from sentinel_assets.core.query_result import QueryResult


def result(columns, *rows) -> QueryResult:
    return QueryResult(columns=tuple(columns), rows=tuple(tuple(r) for r in rows))


STATUS_RULES = JudgeRules()


# -- status column ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        pytest.param([("ALERT",)], ALERT, id="upper-alert"),
        pytest.param([("OK",)], OK, id="upper-ok"),
        pytest.param([("alert",)], ALERT, id="lower-alert"),
        pytest.param([("ok",)], OK, id="lower-ok"),
        pytest.param([("Alert",)], ALERT, id="mixed-case-alert"),
        pytest.param([("  ALERT \n",)], ALERT, id="alert-with-whitespace"),
        pytest.param([(" ok\t",)], OK, id="ok-with-whitespace"),
        pytest.param([(b"ALERT",)], ALERT, id="alert-as-bytes"),
        pytest.param([("OK",), ("OK",), ("OK",)], OK, id="all-rows-ok"),
        pytest.param([("OK",), ("ALERT",), ("OK",)], ALERT, id="one-alert-row-wins"),
        pytest.param([("ALERT",), ("OK",)], ALERT, id="first-row-alert"),
        pytest.param([("OK",), ("OK",), ("alert",)], ALERT, id="last-row-alert"),
    ],
)
def test_status_column_decides_the_outcome(rows, expected):
    outcome = judge(STATUS_RULES, result(["status"], *rows))

    assert outcome.status == expected
    assert outcome.row_count == len(rows)


def test_status_column_name_is_matched_without_regard_to_case():
    outcome = judge(STATUS_RULES, result(["STATUS", "Actual_Value"], ("ALERT", 3)))

    assert outcome.status == ALERT
    assert outcome.value == 3


def test_value_and_threshold_come_from_the_first_alert_row():
    res = result(
        ["name", "status", "actual_value", "threshold"],
        ("a", "OK", 1, 10),
        ("b", "ALERT", 20, 10),
        ("c", "ALERT", 30, 15),
    )

    outcome = judge(STATUS_RULES, res)

    assert (outcome.status, outcome.value, outcome.threshold) == (ALERT, 20, 10)
    assert outcome.alert_rows == 2
    assert outcome.message == "2 of 3 rows returned ALERT (value 20, threshold 10)"


def test_value_and_threshold_come_from_the_first_row_when_all_rows_are_ok():
    res = result(["status", "actual_value", "threshold"], ("OK", 5, 10), ("OK", 7, 10))

    outcome = judge(STATUS_RULES, res)

    assert (outcome.status, outcome.value, outcome.threshold) == (OK, 5, 10)
    assert outcome.alert_rows == 0
    assert outcome.message == "all 2 rows returned OK (value 5, threshold 10)"


def test_decimal_values_are_reported_as_plain_numbers():
    res = result(["status", "actual_value", "threshold"], ("ALERT", Decimal("9.50"), Decimal("10")))

    outcome = judge(STATUS_RULES, res)

    assert (outcome.value, outcome.threshold) == (9.5, 10)


def test_other_columns_travel_with_the_outcome_as_context_rows():
    res = result(["status", "order_id", "amount"], ("ALERT", 7, Decimal("12.5")))

    outcome = judge(STATUS_RULES, res)

    assert outcome.rows == ({"status": "ALERT", "order_id": 7, "amount": 12.5},)


def test_context_rows_are_capped_but_every_row_is_judged():
    rows = [("OK",)] * 50 + [("ALERT",)]

    outcome = judge(STATUS_RULES, result(["status"], *rows))

    assert outcome.status == ALERT
    assert outcome.row_count == 51
    assert len(outcome.rows) == 10


# -- condition ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("op", "value", "threshold", "expected"),
    [
        pytest.param("<", 5, 10, ALERT, id="lt-holds"),
        pytest.param("<", 10, 10, OK, id="lt-equal-does-not-hold"),
        pytest.param("<=", 10, 10, ALERT, id="le-equal-holds"),
        pytest.param("<=", 11, 10, OK, id="le-does-not-hold"),
        pytest.param(">", 11, 10, ALERT, id="gt-holds"),
        pytest.param(">", 10, 10, OK, id="gt-equal-does-not-hold"),
        pytest.param(">=", 10, 10, ALERT, id="ge-equal-holds"),
        pytest.param(">=", 9, 10, OK, id="ge-does-not-hold"),
        pytest.param("==", 0, 0, ALERT, id="eq-holds"),
        pytest.param("==", 1, 0, OK, id="eq-does-not-hold"),
        pytest.param("!=", 1, 0, ALERT, id="ne-holds"),
        pytest.param("!=", 0, 0, OK, id="ne-does-not-hold"),
        pytest.param("<", Decimal("9999.99"), 10000, ALERT, id="decimal-value"),
        pytest.param("==", Decimal("10.0"), 10, ALERT, id="decimal-equals-int"),
        pytest.param("<", 5, "10", ALERT, id="numeric-string-threshold"),
        pytest.param(">", "11", 10, ALERT, id="numeric-string-value"),
        pytest.param("<", "9", "10", ALERT, id="both-numeric-strings-compare-as-numbers"),
        pytest.param("==", 0.1, 0.1, ALERT, id="float-equal"),
        pytest.param("==", "failed", "failed", ALERT, id="text-equal"),
        pytest.param("!=", "ok", "failed", ALERT, id="text-not-equal"),
    ],
)
def test_condition_compares_the_first_row_with_the_threshold(op, value, threshold, expected):
    rules = JudgeRules(condition=Condition("total", op, threshold))

    outcome = judge(rules, result(["total"], (value,), (999999,)))

    assert outcome.status == expected
    assert outcome.alert_rows == (1 if expected == ALERT else 0)


def test_condition_outcome_carries_value_threshold_and_a_readable_message():
    rules = JudgeRules(condition=Condition("unshipped", ">", 0))

    outcome = judge(rules, result(["unshipped"], (Decimal("3"),)))

    assert (outcome.status, outcome.value, outcome.threshold) == (ALERT, 3, 0)
    assert outcome.message == "unshipped 3 > 0 holds"


def test_condition_replaces_the_status_column():
    rules = JudgeRules(condition=Condition("total", "<", 10))

    outcome = judge(rules, result(["status", "total"], ("ALERT", 50)))

    assert outcome.status == OK


@pytest.mark.parametrize(
    ("value", "threshold", "expected_in_message"),
    [
        pytest.param(None, 10, "'total' is NULL in the first row", id="null"),
        pytest.param("n/a", 10, "cannot compare total='n/a' with threshold 10",
                     id="text-vs-number"),
        pytest.param(7, "many", "cannot compare total=7 with threshold 'many'",
                     id="number-vs-text"),
        pytest.param([1], 10, "cannot compare", id="list-value"),
    ],
)
def test_condition_on_null_or_non_numeric_value_is_error(value, threshold, expected_in_message):
    rules = JudgeRules(condition=Condition("total", "<", threshold))

    outcome = judge(rules, result(["total"], (value,)))

    assert outcome.status == ERROR
    assert expected_in_message in outcome.message


def test_condition_on_a_missing_column_is_error_listing_the_columns():
    rules = JudgeRules(condition=Condition("total", "<", 10))

    outcome = judge(rules, result(["count", "day"], (1, "2024-01-01")))

    assert outcome.status == ERROR
    assert outcome.message == "condition column 'total' is not in the result (columns: count, day)"


# -- no data --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("policy", "condition", "expected"),
    [
        pytest.param("ok", None, NO_DATA, id="ok"),
        pytest.param("alert", None, ALERT, id="alert"),
        pytest.param("error", None, ERROR, id="error"),
        pytest.param("ok", Condition("total", "<", 1), NO_DATA, id="ok-with-condition"),
        pytest.param("alert", Condition("total", "<", 1), ALERT, id="alert-with-condition"),
        pytest.param("error", Condition("total", "<", 1), ERROR, id="error-with-condition"),
    ],
)
def test_zero_rows_follow_the_no_data_policy(policy, condition, expected):
    rules = JudgeRules(condition=condition, no_data=policy)

    outcome = judge(rules, result(["status", "total"]))

    assert outcome.status == expected
    assert outcome.message == f"query returned no rows (status, total); no_data: {policy}"


def test_no_data_counts_as_ok_for_the_lifecycle():
    outcome = judge(JudgeRules(no_data="ok"), result(["status"]))

    assert outcome.is_ok


# -- ERROR: whatever does not fit the contract ----------------------------------------------
@pytest.mark.parametrize(
    ("res", "error", "message"),
    [
        pytest.param(
            None,
            'relation "orders" does not exist',
            'query failed: relation "orders" does not exist',
            id="failed-query",
        ),
        pytest.param(
            None,
            "query timed out after 60s and was cancelled",
            "query failed: query timed out after 60s and was cancelled",
            id="timeout",
        ),
        pytest.param(
            result(["status"], ("OK",)),
            "connection lost while fetching",
            "query failed: connection lost while fetching",
            id="error-wins-over-a-result",
        ),
        pytest.param(
            result(["total", "day"], (5, "2024-01-01")),
            None,
            "query returned no 'status' column (columns: total, day); "
            "return status ALERT/OK or use a condition",
            id="missing-status-column",
        ),
        pytest.param(
            result(["status", "n"], ("OK", 1), ("WARN", 2)),
            None,
            "row 2 of 2 has status 'WARN'; expected 'ALERT' or 'OK' (case-insensitive)",
            id="unknown-status-value",
        ),
        pytest.param(
            result(["status"], ("ALERT",), (1,)),
            None,
            "row 2 of 2 has status 1; expected 'ALERT' or 'OK' (case-insensitive)",
            id="numeric-status-value",
        ),
        pytest.param(
            result(["status"], ("",)),
            None,
            "row 1 of 1 has status ''; expected 'ALERT' or 'OK' (case-insensitive)",
            id="empty-status",
        ),
        pytest.param(
            result(["status"], (None,)),
            None,
            "row 1 of 1 has status NULL; expected 'ALERT' or 'OK' (case-insensitive)",
            id="null-status",
        ),
    ],
)
def test_results_outside_the_contract_are_error_saying_what_the_query_returned(res, error, message):
    outcome = judge(STATUS_RULES, res, error)

    assert outcome.status == ERROR
    assert outcome.message == message
    assert not outcome.is_ok


def test_an_unknown_status_is_error_even_when_another_row_says_alert():
    outcome = judge(STATUS_RULES, result(["status"], ("ALERT",), ("maybe",)))

    assert outcome.status == ERROR


def test_error_outcome_keeps_the_rows_the_query_returned():
    outcome = judge(STATUS_RULES, result(["total"], (5,)))

    assert outcome.rows == ({"total": 5},)
    assert outcome.row_count == 1
