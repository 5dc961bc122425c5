"""Grouped-run cost on the instance in $DAGSTER_HOME (dagster-postgres):

  python measure_run.py VARIANT N JOBS_MODE K1,K2,...   (JOBS_MODE: perdbcron|onejob|-)

For each K: a run evaluating K alerts of database db0 (A/B: the first K check keys of db0,
selected with asset_check_selection; C: op config limit=K; D: K must be 1).
The run is created the way the daemon does (instance.create_run with asset_check_selection,
job snapshot of the subset, execution plan snapshot), then executed the way a run worker
does (execute_run(job, run, instance) with the in-process executor).
Reports per K: create_s (plan + create_run), exec_s (execute_run wall), exec_cpu_s,
events written and their types, and check-execution records.
First K is run twice; the first one is a warm-up and is dropped.
"""
import collections
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def main():
    variant, n, jobs_mode, ks = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    ks = [int(k) for k in ks.split(",")]
    import dagster as dg
    from dagster._core.definitions.job_base import InMemoryJob
    from dagster._core.execution.api import create_execution_plan, execute_run
    from dagster._core.snap import snapshot_from_execution_plan

    mod = __import__(f"variant_{variant}")
    defs = mod.build_defs(n, None if jobs_mode == "-" else jobs_mode)
    repo = defs.get_repository_def()
    instance = dg.DagsterInstance.get()
    if os.environ.get("PROTO_POOL"):
        # what dagster-webserver does: keep one pooled connection instead of NullPool
        instance.optimize_for_webserver(statement_timeout=0, pool_recycle=3600, max_overflow=5)
    storage_url = instance._run_storage.postgres_url if hasattr(instance._run_storage, "postgres_url") else type(instance._run_storage).__name__
    results = {"variant": variant, "n": n, "jobs_mode": jobs_mode, "storage": storage_url.split("@")[-1], "runs": [], "pooled": bool(os.environ.get("PROTO_POOL"))}

    if variant in ("a", "b"):
        jobname = "sentinel_checks" if jobs_mode == "onejob" else "sentinel_db0_c0"
    elif variant == "c":
        jobname = "sentinel_db0_c0"
    else:
        jobname = "alert_00000"
    job = repo.get_job(jobname)
    db0_keys = []
    if variant in ("a", "b"):
        db0_keys = sorted(
            k for k in job.asset_layer.asset_graph.asset_check_keys
            if (k.asset_key.path[1] == "db0") and k in job.asset_layer.asset_graph.asset_check_keys
        )
        # restrict to checks the job can run
        sel_all = set(job.asset_check_keys_in_job if hasattr(job, "asset_check_keys_in_job") else db0_keys)

    for i, k in enumerate([ks[0]] + ks):
        run_config = None
        sel = None
        if variant in ("a", "b"):
            sel = frozenset(db0_keys[:k])
            assert len(sel) == k, (len(sel), k, len(db0_keys))
        elif variant == "c":
            run_config = {"ops": {"eval_db0_c0": {"config": {"limit": k}}}}
        t0 = time.perf_counter()
        sub = job.get_subset(asset_check_selection=set(sel)) if sel is not None else job
        plan = create_execution_plan(sub, run_config=run_config, instance_ref=instance.get_ref())
        run = instance.create_run(
            job_name=job.name, run_id=None, run_config=run_config, status=None,
            tags={"sentinel/database": "db0"}, root_run_id=None, parent_run_id=None,
            step_keys_to_execute=plan.step_keys_to_execute,
            execution_plan_snapshot=snapshot_from_execution_plan(plan, sub.get_job_snapshot_id()),
            job_snapshot=sub.get_job_snapshot(), parent_job_snapshot=sub.get_parent_job_snapshot(),
            asset_selection=None, asset_check_selection=sel, resolved_op_selection=None,
            op_selection=None, remote_job_origin=None, job_code_origin=None,
            asset_graph=sub.asset_layer.asset_graph,
        )
        t1 = time.perf_counter()
        c1 = time.process_time()
        res = execute_run(InMemoryJob(job), run, instance)
        t2 = time.perf_counter()
        c2 = time.process_time()
        logs = instance.all_logs(run.run_id)
        types = collections.Counter(
            (e.dagster_event.event_type_value if e.dagster_event else "user_log") for e in logs
        )
        row = {
            "k": k, "success": res.success, "create_s": round(t1 - t0, 3),
            "exec_s": round(t2 - t1, 3), "exec_cpu_s": round(c2 - c1, 3),
            "events": len(logs), "event_types": dict(types), "run_id": run.run_id,
        }
        if not res.success:
            row["failure"] = [str(e.dagster_event.event_specific_data)[:500] for e in logs if e.dagster_event and e.dagster_event.event_type_value in ("STEP_FAILURE", "RUN_FAILURE")][:2]
        if i == 0:
            row["warmup"] = True
        results["runs"].append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
    runs = [r for r in results["runs"] if not r.get("warmup")]
    if len(runs) >= 2 and runs[-1]["k"] != runs[0]["k"]:
        lo, hi = runs[0], runs[-1]
        dk = hi["k"] - lo["k"]
        results["per_alert_ms_wall"] = round((hi["exec_s"] - lo["exec_s"]) / dk * 1000, 3)
        results["per_alert_ms_cpu"] = round((hi["exec_cpu_s"] - lo["exec_cpu_s"]) / dk * 1000, 3)
        results["per_alert_create_ms"] = round((hi["create_s"] - lo["create_s"]) / dk * 1000, 3)
        results["events_per_alert"] = round((hi["events"] - lo["events"]) / dk, 3)
        results["fixed_run_s"] = lo["exec_s"]
    print(json.dumps(results))


if __name__ == "__main__":
    main()
