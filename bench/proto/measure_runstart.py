"""Run start: from process spawn to the first query of a grouped run, in a fresh process.

  python measure_runstart.py VARIANT N JOBS_MODE K     (spawns itself as the child)

Child stages: import dagster, build defs, repository, get job, get_subset(asset_check_selection=K keys),
subset job snapshot serialized (what the code server returns to the daemon for a subset RunRequest),
create_run (daemon side, excluded from the run-worker figure), execute_run until the first query
(common.run_query writes time.time() to PROTO_FIRST_QUERY_FILE).
run_worker_to_first_query_s = (first query - spawn) - (daemon-side subset snapshot + create_run).
"""
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def child(variant, n, jobs_mode, k):
    st = {}
    last = time.perf_counter()

    def stage(name):
        nonlocal last
        now = time.perf_counter()
        st[name] = round(now - last, 3)
        last = now

    import dagster as dg
    from dagster._core.definitions.job_base import InMemoryJob
    from dagster._core.execution.api import create_execution_plan, execute_run
    from dagster._core.remote_representation.external_data import JobDataSnap
    from dagster._core.snap import snapshot_from_execution_plan
    from dagster._serdes import serialize_value

    stage("import")
    mod = __import__(f"variant_{variant}")
    defs = mod.build_defs(n, None if jobs_mode == "-" else jobs_mode)
    stage("build")
    repo = defs.get_repository_def()
    stage("repository")
    jobname = {"a": None, "b": None, "c": "sentinel_db0_c0", "d": "alert_00000"}[variant] or (
        "sentinel_checks" if jobs_mode == "onejob" else "sentinel_db0_c0")
    job = repo.get_job(jobname)
    stage("get_job")
    sel, run_config = None, None
    if variant in ("a", "b"):
        keys = sorted(k for k in job.asset_layer.asset_graph.asset_check_keys if k.asset_key.path[1] == "db0")
        sel = frozenset(keys[:k])
        sub = job.get_subset(asset_check_selection=set(sel))
    else:
        sub = job
        if variant == "c":
            run_config = {"ops": {"eval_db0_c0": {"config": {"limit": k}}}}
    stage("subset")
    t_daemon = time.perf_counter()
    snap_len = len(serialize_value(JobDataSnap.from_job_def(sub, include_parent_snapshot=True)))
    instance = dg.DagsterInstance.get()
    plan = create_execution_plan(sub, run_config=run_config, instance_ref=instance.get_ref())
    run = instance.create_run(
        job_name=job.name, run_id=None, run_config=run_config, status=None, tags={},
        root_run_id=None, parent_run_id=None, step_keys_to_execute=plan.step_keys_to_execute,
        execution_plan_snapshot=snapshot_from_execution_plan(plan, sub.get_job_snapshot_id()),
        job_snapshot=sub.get_job_snapshot(), parent_job_snapshot=sub.get_parent_job_snapshot(),
        asset_selection=None, asset_check_selection=sel, resolved_op_selection=None, op_selection=None,
        remote_job_origin=None, job_code_origin=None, asset_graph=sub.asset_layer.asset_graph)
    daemon_s = time.perf_counter() - t_daemon
    st["daemon_side_subset_snapshot_and_create_run"] = round(daemon_s, 3)
    last = time.perf_counter()
    res = execute_run(InMemoryJob(job), run, instance)
    stage("execute_run")
    return {"stages": st, "daemon_s": daemon_s, "subset_snap_mib": round(snap_len / 2**20, 2), "success": res.success}


def main():
    if os.environ.get("PROTO_CHILD"):
        out = child(sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]))
        print(json.dumps(out))
        return
    fq = tempfile.mktemp()
    env = dict(os.environ, PROTO_CHILD="1", PROTO_FIRST_QUERY_FILE=fq)
    t_spawn = time.time()
    p = subprocess.run([sys.executable, __file__] + sys.argv[1:], env=env, capture_output=True, text=True)
    if p.returncode:
        print(p.stderr[-3000:], file=sys.stderr)
        sys.exit(1)
    out = json.loads(p.stdout.strip().splitlines()[-1])
    with open(fq) as f:
        t_first = float(f.read())
    out.update(variant=sys.argv[1], n=int(sys.argv[2]), jobs_mode=sys.argv[3], k=int(sys.argv[4]))
    out["spawn_to_first_query_s"] = round(t_first - t_spawn, 3)
    out["run_worker_to_first_query_s"] = round(t_first - t_spawn - out.pop("daemon_s"), 3)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
