"""The compiled Dagster definitions: names, schedules, resources, broken specs."""

from __future__ import annotations

import textwrap

import dagster as dg
import pytest

from sentinel_assets.orchestration.factory import build_sentinel_defs
from sentinel_assets.orchestration.sensors import SpecErrorsFound
from sentinel_assets_tests.demo_project import make_demo


@pytest.fixture
def demo_specs(tmp_path, monkeypatch):
    specs, _ = make_demo(tmp_path, monkeypatch)
    return specs


def _scheduled(repo) -> dict[str, list[str]]:
    """Schedule name -> the alerts it evaluates (its metadata)."""
    return {s.name: s.metadata["alerts"].value for s in repo.schedule_defs if "alerts" in s.metadata}


def test_demo_definitions_are_loadable_with_a_job_per_alert_and_a_schedule_per_cron(demo_specs):
    from sentinel_assets.names import alert_schedule_name
    from sentinel_assets.spec.loader import load_specs

    defs = build_sentinel_defs(demo_specs)
    dg.Definitions.validate_loadable(defs)
    repo = defs.get_repository_def()
    jobs = {j.name for j in repo.get_all_jobs()}
    assert jobs >= set([
        "orders_revenue_low", "unshipped_orders", "orders_without_customer",
        "pipeline_freshness", "customers_present", "sentinel_evaluate",
    ])
    alert = load_specs(demo_specs).alert("orders_revenue_low")
    schedule = repo.get_schedule_def(alert_schedule_name(alert))
    assert schedule.cron_schedule == "0 9 * * *"
    assert schedule.execution_timezone == "UTC"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    assert schedule.job_name == "sentinel_evaluate"
    scheduled = _scheduled(repo)
    assert "orders_revenue_low" in scheduled[schedule.name]
    # a disabled alert is a check and a job, but no schedule evaluates it
    assert not any("customers_present" in names for names in scheduled.values())


def test_every_alert_is_an_asset_check_on_its_database_or_its_asset(demo_specs):
    repo = build_sentinel_defs(demo_specs).get_repository_def()
    keys = repo.asset_graph.asset_check_keys
    assert dg.AssetCheckKey(dg.AssetKey(["sentinel", "demo"]), "orders_revenue_low") in keys
    assert dg.AssetCheckKey(dg.AssetKey(["shop", "orders"]), "order_amounts_positive") in keys
    # every alert but the windowed one (its history is per partition, on its job)
    assert len(keys) == 6 and not any(k.name == "daily_order_count" for k in keys)


def test_beyond_the_jobs_limit_alerts_have_no_job_of_their_own(demo_specs):
    repo = build_sentinel_defs(demo_specs, alert_jobs_limit=2).get_repository_def()
    jobs = {j.name for j in repo.get_all_jobs()}
    assert "orders_revenue_low" not in jobs and "sentinel_evaluate" in jobs
    assert len(repo.asset_graph.asset_check_keys) == 6


def test_jobs_carry_alert_and_database_tags(demo_specs):
    job = build_sentinel_defs(demo_specs).get_job_def("unshipped_orders")
    assert job.tags["sentinel/alert"] == "unshipped_orders"
    assert job.tags["sentinel/database"] == "demo"


def test_resource_keys_are_namespaced(demo_specs):
    defs = build_sentinel_defs(demo_specs)
    keys = set(defs.resources)
    assert {"sentinel_state", "sentinel_db_demo", "sentinel_channel_outbox"} <= keys
    assert all(k.startswith("sentinel_") for k in keys)


def test_job_prefix_renames_jobs_schedules_and_sensor(demo_specs):
    defs = build_sentinel_defs(demo_specs, job_prefix="alerts_")
    repo = defs.get_repository_def()
    assert repo.has_job("alerts_orders_revenue_low")
    assert repo.has_job("alerts_sentinel_evaluate")
    assert all(s.name.startswith("alerts_") for s in repo.schedule_defs)
    assert repo.has_sensor_def("alerts_sentinel_spec_errors")
    with pytest.raises(ValueError, match="job_prefix"):
        build_sentinel_defs(demo_specs, job_prefix="bad-prefix")


def test_secret_urls_reach_dagster_as_env_vars(tmp_path, monkeypatch):
    monkeypatch.setenv("WAREHOUSE_URL", "postgresql+psycopg2://u:s3cret-pw@127.0.0.1:1/db")
    (tmp_path / "a.yaml").write_text(textwrap.dedent("""
        databases:
          warehouse: {url: "${WAREHOUSE_URL}"}
          inline: {url: "postgresql+psycopg2://u:${PG_PASSWORD:-x}@127.0.0.1:1/db"}
        channels:
          outbox: {type: log}
        alerts:
          - {name: a, schedule: "0 * * * *", database: warehouse, query: "select 1", notify: [outbox]}
          - {name: b, schedule: "0 * * * *", database: inline, query: "select 1", notify: [outbox]}
    """))
    defs = build_sentinel_defs(tmp_path)
    warehouse = defs.resources["sentinel_db_warehouse"]
    assert isinstance(warehouse.url, dg.EnvVar) or "EnvVar" in repr(warehouse.url)
    inline = defs.resources["sentinel_db_inline"]
    assert inline.url == "postgresql+psycopg2://u:${PG_PASSWORD:-x}@127.0.0.1:1/db"
    snapshot = repr(defs.get_repository_def().get_top_level_resources())
    assert "s3cret-pw" not in snapshot


def test_broken_alert_does_not_stop_the_others_and_the_sensor_reports_it(tmp_path):
    (tmp_path / "good.yaml").write_text(textwrap.dedent("""
        databases: {db: {url: "sqlite:///x.db"}}
        alerts:
          - {name: good_one, schedule: "0 * * * *", database: db, query: "select 'OK' as status"}
          - {name: bad_cron, schedule: "0 9 * *", database: db, query: "select 1"}
    """))
    (tmp_path / "broken.yaml").write_text("alerts: [\n")
    defs = build_sentinel_defs(tmp_path)
    dg.Definitions.validate_loadable(defs)
    repo = defs.get_repository_def()
    assert repo.has_job("good_one")
    assert not repo.has_job("bad_cron")
    sensor = repo.get_sensor_def("sentinel_spec_errors")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    with pytest.raises(SpecErrorsFound) as failed:
        sensor.evaluate_tick(dg.build_sensor_context())
    text = str(failed.value)
    assert "bad_cron" in text and "schedule" in text and "good.yaml" in text
    assert "broken.yaml" in text and "invalid YAML" in text


def test_spec_errors_sensor_skips_when_specs_are_clean(demo_specs):
    sensor = build_sentinel_defs(demo_specs).get_repository_def().get_sensor_def(
        "sentinel_spec_errors"
    )
    result = sensor.evaluate_tick(dg.build_sensor_context())
    assert result.skip_message == "the alert specs loaded without errors"


def test_alert_jobs_run_in_process_unless_the_host_chooses_the_executor(demo_specs):
    job = build_sentinel_defs(demo_specs).get_job_def("unshipped_orders")
    assert job.executor_def is dg.in_process_executor
    merged = dg.Definitions.merge(
        build_sentinel_defs(demo_specs, executor=None),
        dg.Definitions(executor=dg.multiprocess_executor),
    )
    assert merged.get_job_def("unshipped_orders").executor_def is dg.multiprocess_executor
