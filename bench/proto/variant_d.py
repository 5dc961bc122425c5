"""Variant D (baseline): one job (one op) + one schedule per alert."""

import os

import dagster as dg
from common import gen_alerts, run_query
from variant_checks import NullIOManager

_NULL = NullIOManager()


def build_defs(n: int, jobs_mode=None) -> dg.Definitions:
    jobs, schedules = [], []
    for a in gen_alerts(n):

        def _make(a=a):
            @dg.op(name=f"eval_{a['name']}", tags={"sentinel/database": a["database"]})
            def _eval(context: dg.OpExecutionContext):
                r = run_query(a)
                yield dg.Output(None, metadata=r["metadata"])
                if not r["passed"]:
                    raise dg.Failure(description=r["metadata"]["message"], metadata=r["metadata"])

            @dg.job(
                name=a["name"],
                executor_def=dg.in_process_executor,
                resource_defs={"io_manager": _NULL},
                tags={"sentinel/alert": a["name"], "sentinel/database": a["database"]},
            )
            def _job():
                _eval()

            return _job

        job = _make()
        jobs.append(job)
        schedules.append(dg.ScheduleDefinition(job=job, cron_schedule=a["cron"]))
    return dg.Definitions(jobs=jobs, schedules=schedules)


defs = build_defs(int(os.environ.get("PROTO_N", "100"))) if os.environ.get("PROTO_BUILD_AT_IMPORT") else None
