"""A run's own process loads only the job it runs (``orchestration.run_worker``), and that job is
the one the code server serves: same config, resources, tags and executor; runs through Dagster's
run-worker entry point record their alerts as a full build does."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.definitions.definitions_load_context import (
    DefinitionsLoadContext,
    DefinitionsLoadType,
)
from dagster._core.definitions.reconstruct import ReconstructableRepository

import sentinel_assets.definitions as location
from sentinel_assets.definitions import defs, location_defs
from sentinel_assets.names import GROUP_JOB, HEALTH_JOB, RETENTION_JOB
from sentinel_assets.orchestration import run_worker
from sentinel_assets.orchestration.grouped import run_config_for
from sentinel_assets.spec.loader import load_specs
from sentinel_assets_tests.demo_project import make_demo

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def demo(tmp_path, monkeypatch):
    specs, db = make_demo(tmp_path, monkeypatch)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    monkeypatch.setenv("SENTINEL_SPEC_CACHE_DIR", str(tmp_path / "cache"))
    run_worker._BUILT.clear()
    location._BUILT.clear()
    monkeypatch.setitem(location._SERVING, "location", False)
    return specs


def _reconstructed():
    context = DefinitionsLoadContext(load_type=DefinitionsLoadType.RECONSTRUCTION)
    with DefinitionsLoadContext.scoped(context):
        return defs()


def _job_shape(job: dg.JobDefinition) -> dict:
    snap = job.get_job_snapshot()
    return {
        "ops": sorted(job.graph.node_dict),
        "resources": sorted(job.resource_defs),
        "tags": dict(job.tags),
        "executor": job.executor_def.name,
        "config": snap.config_schema_snapshot.all_config_snaps_by_key.keys(),
    }


def test_a_run_worker_builds_a_lazy_repository(demo):
    repo = _reconstructed()
    assert isinstance(repo, dg.RepositoryDefinition) and not location._BUILT
    # nothing built yet: Dagster's lazy repository builds a job when asked for by name
    assert repo.has_job(GROUP_JOB) and repo.has_job("orders_revenue_low")
    assert repo.has_job(HEALTH_JOB) and repo.has_job(RETENTION_JOB)


def test_a_code_server_serves_the_full_definitions_also_when_it_reconstructs_them(demo):
    # Dagster's code server loads the location to serve it, then reconstructs it from its code
    # pointer in the same process: both must be the full definitions, built once
    served = defs()
    assert isinstance(served, dg.Definitions)
    assert _reconstructed() is served
    assert served.get_repository_def().schedule_defs


@pytest.mark.parametrize("name", [GROUP_JOB, "orders_revenue_low", "daily_order_count",
                                  "order_amounts_positive", HEALTH_JOB, RETENTION_JOB])
def test_a_lazily_built_job_is_the_job_the_code_server_serves(demo, name):
    served = location_defs().get_repository_def().get_job(name)
    built = _reconstructed().get_job(name)
    assert _job_shape(built) == _job_shape(served)
    assert built.partitions_def == served.partitions_def


def test_the_asset_job_of_a_checks_execute_in_the_ui_is_built_in_full(demo):
    repo = _reconstructed()
    job = repo.get_maybe_subset_job_def(
        run_worker.ASSET_JOB,
        asset_check_selection={dg.AssetCheckKey(dg.AssetKey(["sentinel", "demo"]),
                                                "orders_revenue_low")})
    assert job.executor_def is dg.in_process_executor
    assert len(job.asset_layer.asset_graph.asset_check_keys) >= 1


def test_the_repository_is_kept_until_a_spec_file_changes(demo):
    first = _reconstructed()
    assert _reconstructed() is first
    spec = next(demo.glob("*.yaml"))
    spec.write_text(spec.read_text() + "\n# changed\n")
    assert _reconstructed() is not first


def test_runs_through_dagsters_run_worker_entry_point_record_their_alerts(demo, tmp_path):
    # what the default launcher's code server and a Celery worker run: `dagster api execute_run`
    # in a fresh process, which loads the location in RECONSTRUCTION mode
    from dagster._grpc.types import ExecuteRunArgs
    from dagster_shared.serdes import serialize_value

    # a broken alert: the full build reports it (a warning line per spec error)
    (demo / "broken.yaml").write_text("alerts:\n  - name: broken_one\n    schedule: '* * * * *'\n")
    full = location_defs()
    alerts = [a for a in load_specs(demo).alerts if not a.window and a.enabled]
    origin = ReconstructableRepository.for_module(
        "sentinel_assets.definitions", "defs", working_directory=str(ROOT)
    ).get_reconstructable_job(GROUP_JOB).get_python_origin()
    job = full.resolve_job_def(GROUP_JOB)
    with dg.DagsterInstance.get() as instance:
        run = instance.create_run_for_job(job_def=job, run_config=run_config_for(job, alerts),
                                          job_code_origin=origin)
        args = serialize_value(ExecuteRunArgs(job_origin=origin, run_id=run.run_id,
                                              instance_ref=instance.get_ref()))
        env = dict(os.environ)
        proc = subprocess.run([sys.executable, "-m", "dagster", "api", "execute_run", args],
                              cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.SUCCESS
        checks = instance.get_records_for_run(
            run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION).records
        evaluated = sorted(r.event_log_entry.dagster_event.event_specific_data.check_name
                           for r in checks)
        assert evaluated == sorted(a.name for a in alerts)
        # the worker did not build the location: no line of the full build's spec report
        assert "broken_one" not in proc.stderr
