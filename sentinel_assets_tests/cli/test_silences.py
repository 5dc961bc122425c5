"""`sentinel silences`, and silences that would cover nothing."""

from __future__ import annotations

import json

from click.testing import CliRunner

from sentinel_assets.cli.main import main
from sentinel_assets_tests.demo_project import make_demo


def sentinel(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_silences_lists_id_target_expiry_reason_and_coverage(tmp_path, monkeypatch, dagster_home,
                                                           outbox, state_url):
    make_demo(tmp_path, monkeypatch)
    sentinel("silence", "--match", "team=finance", "--for", "2h", "--reason", "quarter close")
    sentinel("silence", "pipeline_freshness", "--for", "1h", "--reason", "migration")
    text = sentinel("silences").output
    assert "team=finance" in text and "quarter close" in text
    assert "2: orders_revenue_low, daily_order_count" in text
    data = json.loads(sentinel("silences", "--output", "json").output)
    assert [(d["id"], d["target"], d["covers"]) for d in data] == [
        (1, "team=finance", ["orders_revenue_low", "daily_order_count"]),
        (2, "pipeline_freshness", ["pipeline_freshness"])]
    sentinel("unsilence", "--id", "2")
    assert [d["id"] for d in json.loads(sentinel("silences", "--output", "json").output)] == [1]


def test_a_silence_that_covers_nothing_is_refused_unless_allowed(tmp_path, monkeypatch,
                                                                dagster_home, outbox, state_url):
    make_demo(tmp_path, monkeypatch)
    result = CliRunner().invoke(main, ["silence", "--match", "team=nobody", "--for", "1h",
                                       "--reason", "typo"])
    assert result.exit_code == 1
    assert "covers no alert" in result.output and "team=finance" in result.output
    assert json.loads(sentinel("silences", "--output", "json").output) == []
    allowed = sentinel("silence", "--match", "team=nobody", "--for", "1h", "--reason", "later",
                       "--allow-empty")
    assert allowed.exit_code == 0
    assert len(json.loads(sentinel("silences", "--output", "json").output)) == 1
