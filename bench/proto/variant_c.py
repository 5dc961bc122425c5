"""Variant C: one op job per (database, cron); the op yields one dg.Output per alert
(output_name=alert, metadata ~8 entries) into an IO manager that stores nothing."""

import os

import dagster as dg
from common import CRONS, gen_alerts, run_query
from variant_checks import NullIOManager


class GroupConfig(dg.Config):
    limit: int = -1  # benchmark knob: evaluate only the first `limit` alerts


def build_defs(n: int, jobs_mode=None) -> dg.Definitions:
    alerts = gen_alerts(n)
    groups: dict[tuple[str, int], list[dict]] = {}
    for a in alerts:
        groups.setdefault((a["database"], CRONS.index(a["cron"])), []).append(a)
    jobs, schedules = [], []
    for (db, ci), group in sorted(groups.items()):

        def _make(group=group, db=db, ci=ci):
            outs = {a["name"]: dg.Out(dg.Nothing, is_required=False) for a in group}

            @dg.op(name=f"eval_{db}_c{ci}", out=outs, tags={"sentinel/database": db})
            def _eval(context: dg.OpExecutionContext, config: GroupConfig):
                sel = group if config.limit < 0 else group[: config.limit]
                for a in sel:
                    r = run_query(a)
                    yield dg.Output(None, output_name=a["name"], metadata=r["metadata"])

            @dg.job(
                name=f"sentinel_{db}_c{ci}",
                executor_def=dg.in_process_executor,
                resource_defs={"io_manager": NullIOManager()},
                tags={"sentinel/database": db},
            )
            def _job():
                _eval()

            return _job

        job = _make()
        jobs.append(job)
        schedules.append(dg.ScheduleDefinition(job=job, cron_schedule=CRONS[ci]))
    return dg.Definitions(jobs=jobs, schedules=schedules)


defs = build_defs(int(os.environ.get("PROTO_N", "100"))) if os.environ.get("PROTO_BUILD_AT_IMPORT") else None
