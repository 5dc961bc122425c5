"""Cost of recording one alert result as a single run-less ASSET_CHECK_EVALUATION event
(instance.report_runless_asset_event(dg.AssetCheckEvaluation(...))) on $DAGSTER_HOME, NullPool
vs pooled (instance.optimize_for_webserver).  python bench_runless.py K
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dagster as dg  # noqa: E402

from common import gen_alerts, run_query  # noqa: E402


def main():
    k = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    alerts = gen_alerts(k)
    out = {"k": k}
    for mode in ("nullpool", "pooled"):
        instance = dg.DagsterInstance.get()
        if mode == "pooled":
            instance.optimize_for_webserver(statement_timeout=0, pool_recycle=3600, max_overflow=5)
        t = time.perf_counter(); c = time.process_time()
        for a in alerts:
            r = run_query(a)
            instance.report_runless_asset_event(dg.AssetCheckEvaluation(
                asset_key=dg.AssetKey(["sentinel", a["database"]]), check_name=a["name"],
                passed=r["passed"], metadata=r["metadata"], severity=dg.AssetCheckSeverity.ERROR))
        out[f"{mode}_ms_per_alert_wall"] = round((time.perf_counter() - t) / k * 1000, 2)
        out[f"{mode}_ms_per_alert_cpu"] = round((time.process_time() - c) / k * 1000, 2)
    # the same from inside a run: one op calls context.log_event(AssetCheckEvaluation) per alert
    for mode in ("op_log_event_nullpool", "op_log_event_pooled"):
        instance = dg.DagsterInstance.get()
        if mode.endswith("pooled") and "null" not in mode:
            instance.optimize_for_webserver(statement_timeout=0, pool_recycle=3600, max_overflow=5)
        walls = {}
        for kk in (1, k):
            @dg.op(name="eval_group")
            def eval_group(context, kk=kk):
                for a in alerts[:kk]:
                    r = run_query(a)
                    context.log_event(dg.AssetCheckEvaluation(
                        asset_key=dg.AssetKey(["sentinel", a["database"]]), check_name=a["name"],
                        passed=r["passed"], metadata=r["metadata"], severity=dg.AssetCheckSeverity.ERROR))

            @dg.job(name="sentinel_group", executor_def=dg.in_process_executor)
            def job():
                eval_group()

            t = time.perf_counter()
            res = job.execute_in_process(instance=instance)
            walls[kk] = time.perf_counter() - t
            assert res.success
            n_ev = len(instance.all_logs(res.run_id))
        out[f"{mode}_ms_per_alert_wall"] = round((walls[k] - walls[1]) / (k - 1) * 1000, 2)
        out[f"{mode}_events_in_run_k"] = n_ev
    out["storage"] = instance._run_storage.postgres_url.split("@")[-1]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
