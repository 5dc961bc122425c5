"""Routing: which channels receive each kind of notice."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from sentinel_assets.core.lifecycle import (
    ERROR_KIND,
    ERROR_RESOLVED,
    ESCALATION,
    FIRING,
    REPEAT,
    RESOLVED,
    Notice,
)
from sentinel_assets.core.routing import Route, Routing

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)


def notice(kind: str, escalated: bool = False) -> Notice:
    return Notice("orders_revenue_low", kind, "FIRING", "OK", "msg", T0, 1, 0,
                  escalated=escalated or kind == ESCALATION)


TEAM_ONLY = Routing(notify=(Route("team"),))
TEAM_AND_OWNER = Routing(notify=(Route("team"),), owner="data_owner")
ESCALATING = Routing(notify=(Route("team"),), owner="data_owner", escalate=("oncall",))
WITH_ON = Routing(
    notify=(
        Route("team"),
        Route("hook", frozenset({FIRING, RESOLVED})),
        Route("audit", frozenset({ERROR_KIND, ESCALATION})),
    ),
    owner="data_owner",
    escalate=("oncall",),
)


@pytest.mark.parametrize(
    ("routing", "kind", "escalated", "channels"),
    [
        # notify entries without `on` get firing, repeat and resolved
        pytest.param(TEAM_ONLY, FIRING, False, ["team"], id="plain-firing"),
        pytest.param(TEAM_ONLY, REPEAT, False, ["team"], id="plain-repeat"),
        pytest.param(TEAM_ONLY, RESOLVED, False, ["team"], id="plain-resolved"),
        pytest.param(TEAM_ONLY, ESCALATION, True, [], id="plain-escalation-goes-nowhere"),
        # without an owner, errors fall back to the notify channels
        pytest.param(TEAM_ONLY, ERROR_KIND, False, ["team"], id="no-owner-error-to-notify"),
        pytest.param(TEAM_ONLY, ERROR_RESOLVED, False, ["team"], id="no-owner-error-resolved"),
        # with an owner, errors go to the owner and not to the notify channels
        pytest.param(TEAM_AND_OWNER, ERROR_KIND, False, ["data_owner"], id="owner-gets-error"),
        pytest.param(
            TEAM_AND_OWNER, ERROR_RESOLVED, False, ["data_owner"], id="owner-gets-error-resolved"
        ),
        pytest.param(TEAM_AND_OWNER, FIRING, False, ["team"], id="owner-does-not-get-firing"),
        # escalation channels: the escalation, then repeat/resolved once escalated
        pytest.param(ESCALATING, ESCALATION, True, ["oncall"], id="escalation-to-escalate"),
        pytest.param(ESCALATING, FIRING, False, ["team"], id="firing-not-to-escalate"),
        pytest.param(ESCALATING, REPEAT, False, ["team"], id="repeat-before-escalation"),
        pytest.param(ESCALATING, REPEAT, True, ["team", "oncall"], id="repeat-once-escalated"),
        pytest.param(ESCALATING, RESOLVED, False, ["team"], id="resolved-not-escalated"),
        pytest.param(
            ESCALATING, RESOLVED, True, ["team", "oncall"], id="resolved-once-escalated"
        ),
        pytest.param(ESCALATING, ERROR_KIND, False, ["data_owner"], id="error-not-to-escalate"),
        # `on:` picks the kinds an entry gets
        pytest.param(WITH_ON, FIRING, False, ["team", "hook"], id="on-firing"),
        pytest.param(WITH_ON, REPEAT, False, ["team"], id="on-without-repeat"),
        pytest.param(WITH_ON, RESOLVED, False, ["team", "hook"], id="on-resolved"),
        pytest.param(
            WITH_ON, ESCALATION, True, ["audit", "oncall"], id="on-escalation-plus-escalate"
        ),
        pytest.param(
            WITH_ON, ERROR_KIND, False, ["data_owner", "audit"], id="owner-first-then-on-error"
        ),
        pytest.param(
            WITH_ON, ERROR_RESOLVED, False, ["data_owner"], id="on-without-error-resolved"
        ),
    ],
)
def test_channels_for_each_kind(routing, kind, escalated, channels):
    assert routing.channels_for(notice(kind, escalated)) == channels


@pytest.mark.parametrize(
    ("routing", "kind", "escalated", "channels"),
    [
        pytest.param(
            Routing(notify=(Route("team"),), owner="team"), ERROR_KIND, False, ["team"],
            id="owner-also-in-notify",
        ),
        pytest.param(
            Routing(notify=(Route("team"),), escalate=("team", "oncall")), REPEAT, True,
            ["team", "oncall"], id="escalate-channel-also-in-notify",
        ),
        pytest.param(
            Routing(notify=(Route("team"), Route("team", frozenset({FIRING})))), FIRING, False,
            ["team"], id="same-channel-twice-in-notify",
        ),
        pytest.param(
            Routing(notify=(Route("team", frozenset({ERROR_KIND})),), owner="team"), ERROR_KIND,
            False, ["team"], id="owner-with-on-error",
        ),
    ],
)
def test_a_channel_gets_a_notice_at_most_once(routing, kind, escalated, channels):
    assert routing.channels_for(notice(kind, escalated)) == channels


def test_errors_without_owner_reach_notify_entries_even_when_their_on_excludes_errors():
    # a broken alert must never be silent
    routing = Routing(notify=(Route("hook", frozenset({FIRING})), Route("team")))

    assert routing.channels_for(notice(ERROR_KIND)) == ["hook", "team"]


def test_errors_without_owner_go_only_to_entries_that_ask_for_them_when_some_do():
    routing = Routing(notify=(Route("team"), Route("audit", frozenset({ERROR_KIND}))))

    assert routing.channels_for(notice(ERROR_KIND)) == ["audit"]


def test_an_alert_without_any_channel_routes_nowhere():
    assert Routing().channels_for(notice(ERROR_KIND)) == []
    assert Routing().channels_for(notice(FIRING)) == []


def test_route_wants_the_default_kinds_without_on():
    route = Route("team")

    assert [k for k in (FIRING, REPEAT, RESOLVED, ESCALATION, ERROR_KIND, ERROR_RESOLVED)
            if route.wants(k)] == [FIRING, REPEAT, RESOLVED]
