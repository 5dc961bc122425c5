"""Silences: by alert or by tag matchers, always with an expiry."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from sentinel_assets.core.silences import Silence, active_silence, parse_matchers

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)
LATER = NOW + timedelta(hours=2)
TAGS = {"team": "finance", "severity": "high"}


@pytest.mark.parametrize(
    ("silence", "alert", "now", "covered"),
    [
        pytest.param(Silence(1, LATER, "deploy", alert="orders"), "orders", NOW, True,
                     id="by-alert"),
        pytest.param(Silence(1, LATER, "deploy", alert="orders"), "refunds", NOW, False,
                     id="other-alert"),
        pytest.param(Silence(1, LATER, "deploy", alert="orders"), "orders", LATER, False,
                     id="expires-at-until"),
        pytest.param(Silence(1, LATER, "deploy", alert="orders"), "orders",
                     LATER - timedelta(seconds=1), True, id="active-just-before-until"),
        pytest.param(Silence(1, LATER, "deploy", matchers=(("team", "finance"),)), "orders", NOW,
                     True, id="one-matcher"),
        pytest.param(Silence(1, LATER, "deploy",
                             matchers=(("severity", "high"), ("team", "finance"))),
                     "orders", NOW, True, id="all-matchers-match"),
        pytest.param(Silence(1, LATER, "deploy",
                             matchers=(("severity", "low"), ("team", "finance"))),
                     "orders", NOW, False, id="one-matcher-differs"),
        pytest.param(Silence(1, LATER, "deploy", matchers=(("region", "eu"),)), "orders", NOW,
                     False, id="tag-missing"),
        pytest.param(Silence(1, LATER, "deploy", matchers=(("team", "Finance"),)), "orders", NOW,
                     False, id="values-are-case-sensitive"),
        pytest.param(Silence(1, LATER, "deploy", matchers=(("team", "finance"),)), "orders",
                     LATER + timedelta(days=1), False, id="matcher-silence-expired"),
        pytest.param(Silence(1, LATER, "deploy"), "orders", NOW, False,
                     id="no-target-covers-nothing"),
    ],
)
def test_silence_covers(silence, alert, now, covered):
    assert silence.covers(alert, TAGS, now) is covered


def test_active_silence_is_the_covering_one_that_lasts_longest():
    short = Silence(1, NOW + timedelta(hours=1), "short", alert="orders")
    long = Silence(2, NOW + timedelta(hours=5), "long", matchers=(("team", "finance"),))
    other = Silence(3, NOW + timedelta(days=9), "other", alert="refunds")
    expired = Silence(4, NOW - timedelta(minutes=1), "expired", alert="orders")

    assert active_silence("orders", TAGS, [short, long, other, expired], NOW) is long


def test_no_active_silence_once_all_have_expired():
    silences = [Silence(1, NOW + timedelta(hours=1), "deploy", alert="orders")]

    assert active_silence("orders", TAGS, silences, NOW + timedelta(hours=1)) is None
    assert active_silence("orders", TAGS, [], NOW) is None


def test_describe_names_target_expiry_and_reason():
    by_tags = Silence(1, LATER, "maintenance", matchers=(("severity", "high"), ("team", "x")))

    assert by_tags.describe() == (
        "severity=high,team=x until 2026-11-02T11:00:00+00:00 (maintenance)"
    )
    assert Silence(2, LATER, "deploy", alert="orders").describe().startswith("orders until ")


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        pytest.param(["team=finance"], (("team", "finance"),), id="one"),
        pytest.param(["team=finance", "severity=high"],
                     (("severity", "high"), ("team", "finance")), id="sorted"),
        pytest.param([" team = finance "], (("team", "finance"),), id="spaces-trimmed"),
        pytest.param(["url=a=b"], (("url", "a=b"),), id="value-may-hold-equals"),
        pytest.param([], (), id="none"),
    ],
)
def test_parse_matchers(items, expected):
    assert parse_matchers(items) == expected


@pytest.mark.parametrize(
    "item",
    [
        pytest.param("team", id="no-equals"),
        pytest.param("=finance", id="no-key"),
        pytest.param("team=", id="no-value"),
        pytest.param(" = ", id="blank"),
        pytest.param("", id="empty"),
    ],
)
def test_parse_matchers_rejects_items_that_are_not_key_value(item):
    with pytest.raises(ValueError, match="expected a tag matcher like team=finance, got "):
        parse_matchers(["team=finance", item])
