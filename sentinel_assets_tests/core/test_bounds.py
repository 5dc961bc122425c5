"""core.bounds: one home for truncation, and judging keeps only bounded values."""

from __future__ import annotations

import decimal

from sentinel_assets.core.bounds import (
    CELL_CHARS,
    MAX_COLUMNS,
    MESSAGE_CHARS,
    ROWS_CHARS,
    bound_result,
    bound_rows,
    bound_value,
    truncate_text,
)
from sentinel_assets.core.judging import ALERT, ERROR, Condition, JudgeRules, judge
from sentinel_assets.core.query_result import QueryResult

HUGE = "x" * 20_000_000


def test_short_text_is_left_alone_and_long_text_says_how_long_it_was():
    assert truncate_text("short", 10) == "short"
    assert truncate_text("x" * 10, 10) == "x" * 10
    assert truncate_text(HUGE) == "x" * CELL_CHARS + "… [truncated, 20,000,000 chars]"
    assert truncate_text("abcdef", 0) == "… [truncated, 6 chars]"


def test_values_are_plain_and_only_text_is_cut():
    assert bound_value(decimal.Decimal("12.50")) == 12.5
    assert bound_value(42) == 42 and bound_value(None) is None
    assert bound_value(b"y" * 5000).endswith("[truncated, 5,000 chars]")
    assert len(bound_value(HUGE)) < CELL_CHARS + 40


def test_rows_have_a_cell_limit_and_a_total_budget():
    rows = [{"status": "ALERT", "blob": HUGE, "n": i} for i in range(50)]

    bounded = bound_rows(rows)

    assert 1 <= len(bounded) < 50
    assert bounded[0]["status"] == "ALERT" and bounded[0]["n"] == 0
    assert bounded[0]["blob"].endswith("… [truncated, 20,000,000 chars]")
    assert sum(len(str(k)) + len(str(v)) for r in bounded for k, v in r.items()) < ROWS_CHARS * 1.1


def test_a_judged_result_keeps_its_first_rows_and_columns_bounded():
    columns = tuple(f"c{i}" for i in range(500))
    result = QueryResult(columns=columns, rows=tuple((HUGE,) * 500 for _ in range(100)),
                         duration_ms=5.0, truncated=True)

    kept = bound_result(result)

    assert kept.columns == columns[:MAX_COLUMNS]
    assert 1 <= len(kept.rows) < 10 and all(len(r) == MAX_COLUMNS for r in kept.rows)
    assert kept.rows[0][0].endswith("[truncated, 20,000,000 chars]")
    assert sum(len(str(v)) for r in kept.rows for v in r) < ROWS_CHARS * 1.1
    assert kept.truncated and kept.duration_ms == 5.0
    assert bound_result(None) is None


def test_judging_a_huge_value_keeps_a_bounded_outcome():
    result = QueryResult(columns=("status", "actual_value", "note"),
                         rows=tuple(("ALERT", HUGE, HUGE) for _ in range(5)))

    outcome = judge(JudgeRules(), result)

    assert outcome.status == ALERT
    assert outcome.value.endswith("[truncated, 20,000,000 chars]")
    assert len(outcome.message) < MESSAGE_CHARS
    assert sum(len(str(v)) for r in outcome.rows for v in r.values()) < ROWS_CHARS * 1.1


def test_huge_values_in_errors_and_conditions_stay_bounded():
    bad_status = judge(JudgeRules(), QueryResult(columns=("status",), rows=((HUGE,),)))
    condition = judge(JudgeRules(condition=Condition("note", ">", 5)),
                      QueryResult(columns=("note",), rows=((HUGE,),)))
    failed = judge(JudgeRules(), None, error="invalid input: " + HUGE)

    for outcome in (bad_status, condition, failed):
        assert outcome.status == ERROR
        assert len(outcome.message) < MESSAGE_CHARS + 100
        assert "truncated" in outcome.message
    assert len(str(condition.value)) < CELL_CHARS + 40


def test_more_rows_than_max_rows_is_an_error_even_when_the_rows_read_are_ok():
    result = QueryResult(columns=("status",), rows=(("OK",),) * 1000, truncated=True)

    outcome = judge(JudgeRules(), result)

    assert outcome.status == ERROR
    assert outcome.message.startswith("the query returned more than max_rows (1000) rows, so "
                                      "not every row could be judged; aggregate in SQL")
    assert outcome.row_count == 1000


def test_a_value_cut_before_keeps_its_original_length_when_cut_again():
    once = truncate_text(HUGE)

    assert truncate_text(once) == once
    assert bound_value(once) == once
    assert truncate_text(once, 10) == "x" * 10 + f"… [truncated, {len(once):,} chars]"
