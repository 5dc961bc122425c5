"""`sentinel history`: every evaluation of an alert, whichever run made it, with what it said."""

from __future__ import annotations

import json

import dagster as dg
from click.testing import CliRunner

from sentinel_assets.cli.main import main
from sentinel_assets.orchestration.factory import build_sentinel_defs
from sentinel_assets_tests.demo_project import make_demo, set_yesterday_revenue


def sentinel(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_history_shows_state_message_threshold_and_notices_typed_like_status(
        tmp_path, monkeypatch, dagster_home, outbox, state_url):
    _, db = make_demo(tmp_path, monkeypatch)
    sentinel("run", "orders_revenue_low")
    set_yesterday_revenue(db, 20_000)
    sentinel("run", "orders_revenue_low")

    text = sentinel("history", "orders_revenue_low").output
    header, newest, oldest = text.splitlines()[:3]
    assert header.split()[:6] == ["EVALUATED", "AT", "STATUS", "STATE", "VALUE", "THRESHOLD"]
    assert " OK " in newest and "resolved" in newest and "10000" in newest
    assert " FIRING " in oldest and "firing → outbox: sent" in oldest

    data = json.loads(sentinel("history", "orders_revenue_low", "--output", "json").output)
    status = json.loads(sentinel("status", "--output", "json").output)
    now = next(r for r in status if r["alert"] == "orders_revenue_low")
    assert [d["state"] for d in data] == ["OK", "FIRING"]
    assert data[0]["value"] == now["last_value"] == 20000.0
    assert type(data[0]["value"]) is type(now["last_value"])
    assert data[1]["threshold"] == 10000 and "rows returned ALERT" in data[1]["message"]
    assert data[1]["notices"][0].startswith("firing → outbox: sent")


def test_a_check_executed_from_the_asset_page_is_in_the_history(
        tmp_path, monkeypatch, dagster_home, outbox, state_url):
    make_demo(tmp_path, monkeypatch)
    defs = build_sentinel_defs()
    key = dg.AssetCheckKey(dg.AssetKey(["shop", "orders"]), "order_amounts_positive")
    # what "Execute" on the asset's Checks tab launches: the implicit asset job, no sentinel tags
    job = defs.resolve_implicit_global_asset_job_def()
    with dg.DagsterInstance.get() as instance:
        result = job.get_subset(asset_check_selection={key}, asset_selection=set()) \
            .execute_in_process(instance=instance)
        assert result.success
        assert "sentinel/alert" not in instance.get_run_by_id(result.run_id).tags
    data = json.loads(sentinel("history", "order_amounts_positive", "--output", "json").output)
    assert [(d["run_id"], d["status"], d["state"]) for d in data] == [(result.run_id, "OK", "OK")]
    assert data[0]["value"] == 420.0 and data[0]["threshold"] == 0


def test_history_of_an_unknown_alert_exits_1(tmp_path, monkeypatch, dagster_home, outbox,
                                             state_url):
    make_demo(tmp_path, monkeypatch)
    result = CliRunner().invoke(main, ["history", "no_such_alert"])
    assert result.exit_code == 1
    assert "no alert named 'no_such_alert'" in result.output

