"""Does an op job that calls context.log_event(dg.AssetCheckEvaluation(...)) record per-check
executions (history + FAILED state) for checks defined elsewhere in the location?
  python test_log_event.py
"""
import dagster as dg

KEY = dg.AssetKey(["sentinel", "dby"])
specs = [dg.AssetCheckSpec(name=f"le{i}", asset=KEY) for i in range(3)]


@dg.multi_asset_check(specs=specs, can_subset=True, name="le_checks")
def le_checks(context):  # defined so the UI lists the checks; not scheduled
    for key in context.selected_asset_check_keys:
        yield dg.AssetCheckResult(asset_key=key.asset_key, check_name=key.name, passed=True)


@dg.op
def eval_group(context):
    for i, s in enumerate(specs):
        context.log_event(dg.AssetCheckEvaluation(asset_key=KEY, check_name=s.name, passed=i != 1,
                                                  metadata={"status": "ALERT" if i == 1 else "OK"},
                                                  severity=dg.AssetCheckSeverity.ERROR))


@dg.job(executor_def=dg.in_process_executor)
def group_job():
    eval_group()


defs = dg.Definitions(assets=[dg.AssetSpec(KEY)], asset_checks=[le_checks], jobs=[group_job])

if __name__ == "__main__":
    instance = dg.DagsterInstance.get()
    res = defs.get_job_def("group_job").execute_in_process(instance=instance)
    latest = instance.event_log_storage.get_latest_asset_check_execution_by_key([s.key for s in specs])
    for s in specs:
        r = latest[s.key]
        print(s.key.name, r.status.value, r.run_id == res.run_id)
    hist = instance.event_log_storage.get_asset_check_execution_history(specs[1].key, limit=10)
    print("history rows for le1:", len(hist))
