"""Variants A and B: alerts as asset checks, evaluated by multi_asset_check ops of <= SHARD checks.

A: one external asset per database (sentinel/<db>), each alert a check on it.
B: one external asset per alert (sentinel/<db>/<alert>), one check each.
Job layout (PROTO_JOBS):
  perdbcron: one asset job per (database, cron) selecting exactly its checks + one schedule each
  onejob:    one asset job selecting all checks; one schedule per cron that emits one
             RunRequest(asset_check_keys=[...]) per database
"""


import dagster as dg
from common import CRONS, DATABASES, gen_alerts, run_query, shards


class NullIOManager(dg.IOManager):
    def handle_output(self, context, obj):
        pass

    def load_input(self, context):
        return None


def _asset_key(a, per_alert: bool):
    return dg.AssetKey(["sentinel", a["database"], a["name"]] if per_alert else ["sentinel", a["database"]])


def build_defs(n: int, per_alert: bool, jobs_mode: str = "perdbcron") -> dg.Definitions:
    alerts = gen_alerts(n)
    groups: dict[tuple[str, int], list[dict]] = {}
    for a in alerts:
        groups.setdefault((a["database"], CRONS.index(a["cron"])), []).append(a)

    if per_alert:
        assets = [dg.AssetSpec(_asset_key(a, True), group_name=a["database"]) for a in alerts]
    else:
        assets = [dg.AssetSpec(["sentinel", db], group_name="sentinel") for db in DATABASES]

    check_defs = []
    keys_by_group: dict[tuple[str, int], list[dg.AssetCheckKey]] = {}
    for (db, ci), group in sorted(groups.items()):
        for si, shard in enumerate(shards(group)):
            by_key: dict[dg.AssetCheckKey, dict] = {}
            specs = []
            for a in shard:
                spec = dg.AssetCheckSpec(
                    name=a["name"], asset=_asset_key(a, per_alert), description=a["description"]
                )
                specs.append(spec)
                by_key[spec.key] = a
            keys_by_group.setdefault((db, ci), []).extend(by_key)

            def _make(by_key=by_key, specs=specs, opname=f"checks_{db}_c{ci}_{si}"):
                @dg.multi_asset_check(
                    specs=specs, can_subset=True, name=opname, op_tags={"sentinel/database": db}
                )
                def _checks(context: dg.AssetCheckExecutionContext):
                    for key in context.selected_asset_check_keys:
                        a = by_key[key]
                        r = run_query(a)
                        yield dg.AssetCheckResult(
                            asset_key=key.asset_key,
                            check_name=key.name,
                            passed=r["passed"],
                            metadata=r["metadata"],
                            severity=dg.AssetCheckSeverity.ERROR,
                        )

                return _checks

            check_defs.append(_make())

    jobs, schedules = [], []
    if jobs_mode == "perdbcron":
        for (db, ci), keys in sorted(keys_by_group.items()):
            job = dg.define_asset_job(
                f"sentinel_{db}_c{ci}",
                selection=dg.AssetSelection.checks(*keys),
                executor_def=dg.in_process_executor,
                tags={"sentinel/database": db},
            )
            jobs.append(job)
            schedules.append(dg.ScheduleDefinition(job=job, cron_schedule=CRONS[ci]))
    elif jobs_mode == "onejob":
        job = dg.define_asset_job(
            "sentinel_checks",
            selection=dg.AssetSelection.all_asset_checks(),
            executor_def=dg.in_process_executor,
        )
        jobs.append(job)
        for ci, cron in enumerate(CRONS):
            by_db = {db: keys_by_group.get((db, ci), []) for db in DATABASES}

            def _make_sched(by_db=by_db, ci=ci, cron=cron):
                @dg.schedule(name=f"sentinel_c{ci}", cron_schedule=cron, job=job)
                def _sched(context: dg.ScheduleEvaluationContext):
                    for db, keys in by_db.items():
                        if keys:
                            yield dg.RunRequest(
                                run_key=db, asset_check_keys=keys, tags={"sentinel/database": db}
                            )

                return _sched

            schedules.append(_make_sched())
    else:
        raise ValueError(jobs_mode)

    return dg.Definitions(
        assets=assets,
        asset_checks=check_defs,
        jobs=jobs,
        schedules=schedules,
        resources={"io_manager": NullIOManager()},
    )


def run_target(defs_n: int, jobs_mode: str):
    """(job name, selection keys of db0 in cron 0 order) used by the run benchmark."""
    if jobs_mode == "onejob":
        return "sentinel_checks"
    return "sentinel_db0_c0"
