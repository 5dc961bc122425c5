"""Durations as written in specs: ``90s``, ``15m``, ``4h``, ``1h30m``, or a number of seconds."""

from __future__ import annotations

from datetime import timedelta

import pytest

from sentinel_assets.core.durations import format_duration, parse_duration


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("90s", timedelta(seconds=90), id="seconds"),
        pytest.param("15m", timedelta(minutes=15), id="minutes"),
        pytest.param("4h", timedelta(hours=4), id="hours"),
        pytest.param("1d", timedelta(days=1), id="days"),
        pytest.param("2w", timedelta(weeks=2), id="weeks"),
        pytest.param("500ms", timedelta(milliseconds=500), id="milliseconds"),
        pytest.param("1h30m", timedelta(minutes=90), id="combined"),
        pytest.param("1d 2h 3m", timedelta(days=1, hours=2, minutes=3), id="combined-spaced"),
        pytest.param("1.5h", timedelta(minutes=90), id="fraction"),
        pytest.param(" 4H ", timedelta(hours=4), id="upper-case-and-blanks"),
        pytest.param("0s", timedelta(0), id="zero"),
        pytest.param(90, timedelta(seconds=90), id="int-seconds"),
        pytest.param(2.5, timedelta(seconds=2.5), id="float-seconds"),
        pytest.param(timedelta(minutes=3), timedelta(minutes=3), id="timedelta"),
        pytest.param("3650d", timedelta(days=3650), id="the-longest"),
    ],
)
def test_parse_duration(value, expected):
    assert parse_duration(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        pytest.param("", "got ''", id="empty"),
        pytest.param("4x", "got '4x'", id="unknown-unit"),
        pytest.param("4 hours", "got '4 hours'", id="unit-spelled-out"),
        pytest.param("h", "got 'h'", id="no-number"),
        pytest.param("-5m", "got '-5m'", id="negative-text"),
        pytest.param("abc4h", "got 'abc4h'", id="leading-garbage"),
        pytest.param("4h!", "got '4h!'", id="trailing-garbage"),
        pytest.param("90", "got '90'; add a unit: ms, s, m, h, d or w", id="quoted-number"),
        pytest.param(True, "got True", id="bool"),
        pytest.param(-1, "cannot be negative, got -1", id="negative-number"),
        pytest.param(None, "got None", id="none"),
        pytest.param(1e308, "at most 3650d (ten years), got 1e+308", id="1e308-seconds"),
        pytest.param(float("inf"), "at most 3650d (ten years), got inf", id="infinite"),
        pytest.param(float("nan"), "or a number of seconds, got nan", id="nan"),
        pytest.param("999999999999999d", "at most 3650d (ten years), got '999999999999999d'",
                     id="days-past-timedelta"),
        pytest.param("1" * 400 + "w", "got '111", id="a-number-past-float"),
        pytest.param(timedelta(days=3651), "at most 3650d", id="timedelta-too-long"),
        pytest.param("x" * 100_000, "… [truncated, 100,000 chars]", id="quoted-in-bounds"),
    ],
)
def test_parse_duration_rejects_with_a_sentence(value, message):
    with pytest.raises(ValueError, match="duration") as info:
        parse_duration(value)

    assert message in str(info.value)


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        pytest.param(timedelta(0), "0s", id="zero"),
        pytest.param(timedelta(seconds=45), "45s", id="seconds"),
        pytest.param(timedelta(hours=4), "4h", id="hours"),
        pytest.param(timedelta(minutes=90), "1h30m", id="hours-minutes"),
        pytest.param(timedelta(days=1, seconds=5), "1d5s", id="days-seconds"),
        pytest.param(timedelta(milliseconds=1500), "1s500ms", id="milliseconds"),
        pytest.param(timedelta(seconds=-30), "-30s", id="negative"),
    ],
)
def test_format_duration(delta, text):
    assert format_duration(delta) == text


@pytest.mark.parametrize("text", ["4h", "1h30m", "45s", "2d3h", "250ms", "1w"])
def test_format_duration_reads_back_to_the_same_duration(text):
    assert parse_duration(format_duration(parse_duration(text))) == parse_duration(text)
