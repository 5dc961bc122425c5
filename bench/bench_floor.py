"""What Dagster itself costs on this machine, without sentinel: the floors under the run-start
and per-alert figures.

1. **Run start floor**: a code location with one trivial job (one op, in-process executor), a run
   of it created in a fresh dagster-postgres instance, then ``dagster api execute_run`` in a fresh
   interpreter, exactly as ``bench_run_start.py`` starts sentinel's runs: seconds from spawning
   the process to the op's first line. No sentinel module is imported.
2. **Event floor**: one op that records N ``AssetCheckEvaluation`` events with ``log_event`` (12
   text metadata entries of 200 characters, about the size of an alert evaluation's), in a run
   on dagster-postgres storage with the pooled connection sentinel's grouped runs use
   (``optimize_for_webserver``): wall and CPU milliseconds per event.

    .venv/bin/python bench/bench_floor.py                 # 3 run starts, 300 events
    .venv/bin/python bench/bench_floor.py --repeat 5 --events 1000
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]

TRIVIAL = '''
import os, time
import dagster as dg

@dg.op
def first(context):
    with open(os.environ["FLOOR_MARK"], "w") as f:
        f.write(repr(time.time()))

@dg.job(executor_def=dg.in_process_executor)
def trivial():
    first()

defs = dg.Definitions(jobs=[trivial])
'''

PREPARE = r"""
import sys
from pathlib import Path
import dagster as dg
from dagster._core.definitions.reconstruct import ReconstructableRepository
from dagster._grpc.types import ExecuteRunArgs
from dagster_shared.serdes import serialize_value
from trivial_defs import defs
job = defs.resolve_job_def("trivial")
origin = ReconstructableRepository.for_module(
    "trivial_defs", "defs", working_directory=sys.argv[1]).get_reconstructable_job(
    "trivial").get_python_origin()
instance = dg.DagsterInstance.get()
for i in range(int(sys.argv[2])):
    run = instance.create_run_for_job(job_def=job, job_code_origin=origin)
    print(serialize_value(ExecuteRunArgs(job_origin=origin, run_id=run.run_id,
                                         instance_ref=instance.get_ref())))
"""

EVENTS = r"""
import sys, time, json
import dagster as dg
N = int(sys.argv[1])
metadata = {f"k{i}": dg.MetadataValue.text("x" * 200) for i in range(12)}
result = {}

@dg.op
def emit(context):
    wall, cpu = time.perf_counter(), time.process_time()
    for i in range(N):
        context.log_event(dg.AssetCheckEvaluation(
            asset_key=dg.AssetKey(["sentinel", "floor"]), check_name=f"check_{i}", passed=True,
            metadata=metadata))
    result["wall_ms"] = (time.perf_counter() - wall) / N * 1000
    result["cpu_ms"] = (time.process_time() - cpu) / N * 1000

@dg.job(executor_def=dg.in_process_executor)
def events():
    emit()

instance = dg.DagsterInstance.get()
instance.optimize_for_webserver(statement_timeout=60_000, pool_recycle=3600, max_overflow=4)
events.execute_in_process(instance=instance)  # warm-up
rows = []
for _ in range(int(sys.argv[2])):
    events.execute_in_process(instance=instance)
    rows.append(dict(result))
print(json.dumps(rows))
"""


def _home(tmp: Path, url: str) -> Path:
    home = tmp / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text(
        f"telemetry:\n  enabled: false\nstorage:\n  postgres:\n    postgres_url: \"{url}\"\n")
    return home


def run_start_floor(repeat: int) -> list[float]:
    from bench.bench_evaluate import FreshPgDatabase

    storage = FreshPgDatabase("sentinel_bench_floor")
    try:
        with tempfile.TemporaryDirectory(prefix="sentinel_bench_floor_") as name:
            tmp = Path(name)
            (tmp / "trivial_defs.py").write_text(TRIVIAL)
            env = {**os.environ, "DAGSTER_HOME": str(_home(tmp, storage.url)),
                   "PYTHONPATH": str(tmp), "FLOOR_MARK": str(tmp / "mark")}
            out = subprocess.run([sys.executable, "-c", PREPARE, str(tmp), str(repeat)],
                                 cwd=tmp, env=env, capture_output=True, text=True, check=True)
            times = []
            for args in out.stdout.splitlines():
                started = time.time()
                subprocess.run([sys.executable, "-m", "dagster", "api", "execute_run", args],
                               cwd=tmp, env=env, capture_output=True, check=True)
                times.append(float((tmp / "mark").read_text()) - started)
            return times
    finally:
        storage.drop()


def event_floor(events: int, repeat: int) -> list[dict]:
    import json

    from bench.bench_evaluate import FreshPgDatabase

    storage = FreshPgDatabase("sentinel_bench_events")
    try:
        with tempfile.TemporaryDirectory(prefix="sentinel_bench_events_") as name:
            env = {**os.environ, "DAGSTER_HOME": str(_home(Path(name), storage.url))}
            out = subprocess.run([sys.executable, "-c", EVENTS, str(events), str(repeat)],
                                 cwd=name, env=env, capture_output=True, text=True, check=True)
            return json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        storage.drop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--events", type=int, default=300)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REPO_ROOT))
    starts = run_start_floor(args.repeat)
    rows = event_floor(args.events, args.repeat)
    print(f"### Dagster's floors on this machine ({os.cpu_count()} CPUs, 1-minute load average "
          f"{os.getloadavg()[0]:.2f} at the end)\n")
    print("| measure | median | all |\n|---|---:|---|")
    print(f"| trivial run: spawn to its op (s) | {statistics.median(starts):.2f} | "
          + ", ".join(f"{s:.2f}" for s in starts) + " |")
    for key, label in (("wall_ms", "wall"), ("cpu_ms", "CPU")):
        values = [r[key] for r in rows]
        print(f"| one AssetCheckEvaluation event, {label} (ms) | {statistics.median(values):.2f} "
              f"| " + ", ".join(f"{v:.2f}" for v in values) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
