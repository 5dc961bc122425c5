"""Where an alert's time goes inside a grouped run: Dagster's event against sentinel's own work.

One ``sentinel_evaluate`` run of N generated alerts (default 500, all on one SQLite database,
state store on SQLite as in ``bench_evaluate.py``) on dagster-postgres storage in a fresh
database, after a warm-up run. The op's own calls are timed from outside, by wrapping them:

- ``log_event``: Dagster recording the alert's ``AssetCheckEvaluation`` (wall and CPU);
- waiting for results: the time the op waits for the next evaluated alert (the queries run in a
  thread pool meanwhile; deciding, state and notices run in the op's thread);
- building events: sentinel turning an evaluation into the event and its metadata.

Compare ``log_event`` with ``bench_floor.py``'s bare event.

    .venv/bin/python bench/bench_group_split.py            # 500 alerts
    .venv/bin/python bench/bench_group_split.py -n 2000 --runs 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=500, help="alerts in the run")
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REPO_ROOT))

    import dagster as dg

    from bench.bench_evaluate import QUIET, FreshPgDatabase, _pg_instance
    from bench.gen_specs import generate
    from sentinel_assets.names import GROUP_JOB
    from sentinel_assets.orchestration import grouped
    from sentinel_assets.orchestration.factory import build_sentinel_defs
    from sentinel_assets.spec.loader import load_specs

    acc: dict[str, float] = dict(log_event=0.0, log_event_cpu=0.0, waiting=0.0, building=0.0)
    log_event = dg.OpExecutionContext.log_event
    evaluate = grouped.evaluate_with_resources
    build = grouped.check_evaluation

    def timed_log_event(self, event):
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            return log_event(self, event)
        finally:
            acc["log_event"] += time.perf_counter() - wall
            acc["log_event_cpu"] += time.process_time() - cpu

    def timed_evaluate(*a, **k):
        results = iter(evaluate(*a, **k))
        while True:
            started = time.perf_counter()
            try:
                item = next(results)
            except StopIteration:
                return
            finally:
                acc["waiting"] += time.perf_counter() - started
            yield item

    def timed_build(*a, **k):
        started = time.perf_counter()
        try:
            return build(*a, **k)
        finally:
            acc["building"] += time.perf_counter() - started

    dg.OpExecutionContext.log_event = timed_log_event
    grouped.evaluate_with_resources = timed_evaluate
    grouped.check_evaluation = timed_build

    rows = []
    with tempfile.TemporaryDirectory(prefix="sentinel_bench_split_") as name:
        tmp = Path(name)
        specs = generate(tmp / "specs", args.n, seed=0)
        config = load_specs(specs.specs_dir)
        first = config.alerts[0]
        os.environ["SENTINEL_OUTBOX"] = str(tmp / "outbox.jsonl")
        members = [a.model_copy(update={"enabled": True, "database": first.database})
                   for a in config.alerts if not a.window]
        defs = build_sentinel_defs(config.model_copy(update={"alerts": members}),
                                   state_url=f"sqlite:///{tmp / 'state.db'}")
        job = defs.resolve_job_def(GROUP_JOB)
        run_config = {**QUIET, **grouped.run_config_for(job, members)}
        storage = FreshPgDatabase("sentinel_bench_split")
        instance = _pg_instance(tmp / "home", storage.url)
        try:
            job.execute_in_process(instance=instance, run_config=run_config)  # warm-up
            for _ in range(args.runs):
                acc.update(log_event=0.0, log_event_cpu=0.0, waiting=0.0, building=0.0)
                wall, cpu = time.perf_counter(), time.process_time()
                assert job.execute_in_process(instance=instance, run_config=run_config).success
                n = len(members)
                rows.append({"run": (time.perf_counter() - wall) / n * 1000,
                             "run_cpu": (time.process_time() - cpu) / n * 1000,
                             **{k: v / n * 1000 for k, v in acc.items()}})
        finally:
            instance.dispose()
            storage.drop()
    med = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
    print(f"### Inside a grouped run of {len(members)} alerts (median of {args.runs} runs; "
          f"{os.cpu_count()} CPUs, 1-minute load average {os.getloadavg()[0]:.2f})\n")
    print("| ms per alert | wall | CPU |\n|---|---:|---:|")
    print(f"| the whole run | {med['run']:.2f} | {med['run_cpu']:.2f} |")
    print(f"| Dagster's `log_event` of the check evaluation | {med['log_event']:.2f} | "
          f"{med['log_event_cpu']:.2f} |")
    print(f"| waiting for the next evaluated alert | {med['waiting']:.2f} | |")
    print(f"| building the event and its metadata | {med['building']:.2f} | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
