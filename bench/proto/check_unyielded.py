"""What happens to selected checks that a can_subset multi_asset_check op does not yield,
and does a run with asset_check_selection of a subset work?  Small, on $DAGSTER_HOME.

  python test_unyielded.py
"""
import collections

import dagster as dg
from dagster._core.definitions.job_base import InMemoryJob
from dagster._core.execution.api import create_execution_plan, execute_run
from dagster._core.snap import snapshot_from_execution_plan

specs = [dg.AssetCheckSpec(name=f"c{i}", asset=["sentinel", "dbx"]) for i in range(6)]


@dg.multi_asset_check(specs=specs, can_subset=True, name="partial_checks")
def partial_checks(context: dg.AssetCheckExecutionContext):
    sel = sorted(context.selected_asset_check_keys)
    context.log.info(f"selected {[k.name for k in sel]}")
    for key in sel:
        if key.name in ("c1", "c3"):  # deliberately not yielded
            continue
        yield dg.AssetCheckResult(asset_key=key.asset_key, check_name=key.name, passed=key.name != "c2",
                                  metadata={"status": "ALERT" if key.name == "c2" else "OK"})


job_def = dg.define_asset_job("partial", selection=dg.AssetSelection.all_asset_checks(),
                              executor_def=dg.in_process_executor)
defs = dg.Definitions(assets=[dg.AssetSpec(["sentinel", "dbx"])], asset_checks=[partial_checks], jobs=[job_def])


def main():
    instance = dg.DagsterInstance.get()
    job = defs.get_job_def("partial")
    sel = frozenset(s.key for s in specs[:4])  # c0..c3 selected, c4,c5 not
    sub = job.get_subset(asset_check_selection=set(sel))
    plan = create_execution_plan(sub, instance_ref=instance.get_ref())
    run = instance.create_run(
        job_name=job.name, run_id=None, run_config=None, status=None, tags={}, root_run_id=None,
        parent_run_id=None, step_keys_to_execute=plan.step_keys_to_execute,
        execution_plan_snapshot=snapshot_from_execution_plan(plan, sub.get_job_snapshot_id()),
        job_snapshot=sub.get_job_snapshot(), parent_job_snapshot=sub.get_parent_job_snapshot(),
        asset_selection=None, asset_check_selection=sel, resolved_op_selection=None, op_selection=None,
        remote_job_origin=None, job_code_origin=None, asset_graph=sub.asset_layer.asset_graph)
    res = execute_run(InMemoryJob(job), run, instance)
    logs = instance.all_logs(run.run_id)
    print("success:", res.success)
    print("events:", dict(collections.Counter(e.dagster_event.event_type_value for e in logs if e.dagster_event)))
    for e in logs:
        if e.dagster_event and e.dagster_event.event_type_value in ("STEP_FAILURE", "ASSET_CHECK_EVALUATION_PLANNED"):
            print(" ", e.dagster_event.event_type_value, str(e.dagster_event.event_specific_data)[:300])
        if not e.dagster_event and ("did not" in e.user_message or "expected" in e.user_message.lower()):
            print("  log:", e.user_message[:300])
    latest = instance.event_log_storage.get_latest_asset_check_execution_by_key([s.key for s in specs])
    for s in specs:
        r = latest.get(s.key)
        print(f"  {s.key.name}: {r.status.value if r else None}")
    # RunRequest with asset_check_keys from a schedule: evaluate it
    sched = dg.ScheduleDefinition(name="s", cron_schedule="*/5 * * * *", job=job_def,
                                  execution_fn=lambda ctx: dg.RunRequest(asset_check_keys=list(sel)))
    d2 = dg.Definitions(assets=[dg.AssetSpec(["sentinel", "dbx"])], asset_checks=[partial_checks], jobs=[job_def], schedules=[sched])
    s = d2.get_repository_def().get_schedule_def("s")
    with dg.build_schedule_context(instance=instance) as ctx:
        data = s.evaluate_tick(ctx)
    print("schedule run_requests:", [(r.job_name, len(r.asset_check_keys or [])) for r in data.run_requests])


if __name__ == "__main__":
    main()
