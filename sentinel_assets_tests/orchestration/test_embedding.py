"""Sentinel alerts merged into a host Dagster project, and alerts as asset checks."""

from __future__ import annotations

import json
import sqlite3
import textwrap

import dagster as dg
import pytest

from sentinel_assets.orchestration.factory import build_sentinel_defs
from sentinel_assets_tests.demo_project import make_demo


class Warehouse(dg.ConfigurableResource):
    url: str = "sqlite:///host.db"


@dg.asset(key=["analytics", "orders"])
def orders(warehouse: Warehouse) -> int:
    return 1


def host_defs() -> dg.Definitions:
    job = dg.define_asset_job("orders_revenue_low", selection=[orders])  # same name as an alert
    return dg.Definitions(
        assets=[orders],
        jobs=[job],
        schedules=[dg.ScheduleDefinition(name="nightly", job=job, cron_schedule="0 3 * * *")],
        resources={"warehouse": Warehouse(), "state": Warehouse(url="sqlite:///other.db")},
    )


def test_merging_into_a_host_project_keeps_both_sides_with_a_job_prefix(tmp_path, monkeypatch):
    specs, _ = make_demo(tmp_path, monkeypatch)
    merged = dg.Definitions.merge(host_defs(), build_sentinel_defs(specs, job_prefix="sentinel_"))
    dg.Definitions.validate_loadable(merged)
    repo = merged.get_repository_def()
    assert repo.has_job("orders_revenue_low") and repo.has_job("sentinel_orders_revenue_low")
    assert repo.has_schedule_def("nightly")
    assert repo.has_job("sentinel_sentinel_evaluate")
    assert any(s.name.startswith("sentinel_sentinel_due_") for s in repo.schedule_defs)
    assert {"warehouse", "state", "sentinel_state", "sentinel_db_demo"} <= set(merged.resources)


def test_without_a_prefix_a_colliding_job_name_is_refused_by_dagster(tmp_path, monkeypatch):
    specs, _ = make_demo(tmp_path, monkeypatch)
    with pytest.raises(Exception, match="orders_revenue_low"):
        merged = dg.Definitions.merge(host_defs(), build_sentinel_defs(specs))
        dg.Definitions.validate_loadable(merged)


@pytest.fixture
def checked(tmp_path, outbox, state_url):
    db = tmp_path / "shop.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE orders (id INTEGER, amount REAL)")
        conn.execute("INSERT INTO orders VALUES (1, 10.0)")
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "checks.yaml").write_text(textwrap.dedent(f"""
        databases: {{shop: {{url: "sqlite:///{db}"}}}}
        channels: {{outbox: {{type: log}}}}
        alerts:
          - name: orders_have_no_negative_amounts
            description: No order has a negative amount
            schedule: "0 * * * *"
            database: shop
            query: SELECT COUNT(*) AS negative FROM orders WHERE amount < 0
            condition: {{column: negative, op: ">", threshold: 0}}
            notify: [outbox]
            asset: analytics/orders
            severity: warn
    """))
    return db, tmp_path / "specs"


def test_alert_with_asset_is_a_check_whose_history_shows_pass_then_fail(checked, pg_instance, outbox):
    db, specs = checked
    merged = dg.Definitions.merge(host_defs(), build_sentinel_defs(specs, job_prefix="s_"))
    dg.Definitions.validate_loadable(merged)
    job = merged.resolve_job_def("s_orders_have_no_negative_amounts")
    assert job.execute_in_process(instance=pg_instance).success
    with sqlite3.connect(db) as conn:
        conn.execute("INSERT INTO orders VALUES (2, -5.0)")
    failing = job.execute_in_process(instance=pg_instance)
    assert failing.success, "a failed check must not fail the run"
    key = dg.AssetCheckKey(dg.AssetKey(["analytics", "orders"]), "s_orders_have_no_negative_amounts")
    history = pg_instance.event_log_storage.get_asset_check_execution_history(key, limit=10)
    assert [r.status.value for r in history] == ["FAILED", "SUCCEEDED"]
    evaluation = history[0].event.dagster_event.event_specific_data
    assert evaluation.severity == dg.AssetCheckSeverity.WARN
    assert evaluation.metadata["status"].value == "ALERT"
    assert evaluation.metadata["value"].value == 1
    assert evaluation.metadata["sql"].value.startswith("```sql")
    assert pg_instance.get_run_by_id(failing.run_id).tags["sentinel/status"] == "ALERT"
    notices = [json.loads(line) for line in outbox.read_text().splitlines()]
    assert [(n["alert"], n["kind"]) for n in notices] == [("orders_have_no_negative_amounts", "firing")]
    # scheduled evaluation is grouped: the schedule of its cron runs it with the others
    (schedule,) = [s for s in merged.get_repository_def().schedule_defs
                   if "orders_have_no_negative_amounts" in s.metadata.get("alerts", dg.MetadataValue.json([])).value]
    assert schedule.job_name == "s_sentinel_evaluate"
