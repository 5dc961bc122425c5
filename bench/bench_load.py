"""What loading a code location with N alerts costs: time and memory, per stage and per alert.

For each N (default 100, 1,000 and 10,000) the specs are generated once (not timed), then a fresh
Python process (the same interpreter) runs, in order and timed one by one:

1. ``import``: ``import dagster`` and ``sentinel_assets.orchestration.factory`` (the fixed cost);
2. ``load_specs``: YAML + pydantic validation of the specs directory;
3. ``build_defs``: ``build_sentinel_defs(config)`` (one op + job + schedule per alert);
4. ``repository``: ``defs.get_repository_def()`` + ``load_all_definitions()``, what a code
   server does when it loads the location (``dagster._grpc.server.LoadedRepositories``);
5. a snapshot, in one of two modes, each in its own fresh process:
   ``grpc``: ``RepositorySnap.from_def(repo, defer_snapshots=True)`` + ``serialize_value``, what a
   ``dagster api grpc`` code server answers the webserver/daemon (job snapshots fetched later);
   ``full``: ``RepositorySnap.from_def(repo)`` + ``serialize_value``, every job snapshot inline,
   what an in-process code location (``dagster dev`` without gRPC, ``definitions validate``) builds.

    .venv/bin/python bench/bench_load.py                      # 100, 1000, 10000
    .venv/bin/python bench/bench_load.py --sizes 100,1000 --repeat 3 --output /tmp/load.md
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

MODES = ("grpc", "full")
STAGES = ("import", "load_specs", "build_defs", "repository", "snapshot", "serialize")


# -- child: runs in a fresh process ------------------------------------------------------------
def _rss_kb() -> tuple[int, int]:
    """(current RSS, peak RSS) of this process in KiB, from /proc."""
    current = peak = 0
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                current = int(line.split()[1])
            elif line.startswith("VmHWM:"):
                peak = int(line.split()[1])
    return current, peak


class _Stages:
    def __init__(self):
        self.rows: list[dict] = []

    def run(self, name: str, fn):
        wall, cpu = time.perf_counter(), time.process_time()
        value = fn()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        rss, peak = _rss_kb()
        self.rows.append({"stage": name, "wall_s": wall, "cpu_s": cpu, "rss_kb": rss,
                          "peak_kb": peak})
        return value


def child(specs_dir: str, mode: str) -> dict:
    """Load the location at ``specs_dir`` stage by stage; returns the measurements."""
    stages = _Stages()
    start_rss, _ = _rss_kb()

    def imports():
        import dagster  # noqa: F401

        import sentinel_assets.orchestration.factory  # noqa: F401

    stages.run("import", imports)
    from dagster._core.remote_representation.external_data import RepositorySnap
    from dagster_shared.serdes import serialize_value

    from sentinel_assets.orchestration.factory import build_sentinel_defs
    from sentinel_assets.spec.loader import load_specs

    config = stages.run("load_specs", lambda: load_specs(specs_dir))
    problems = [str(e) for e in config.errors if not getattr(e, "warning", False)]
    defs = stages.run("build_defs", lambda: build_sentinel_defs(config))

    def repository():
        repo = defs.get_repository_def()
        repo.load_all_definitions()
        return repo

    repo = stages.run("repository", repository)
    snap = stages.run("snapshot",
                      lambda: RepositorySnap.from_def(repo, defer_snapshots=(mode == "grpc")))
    payload = stages.run("serialize", lambda: serialize_value(snap))
    spawned = os.environ.get("BENCH_SPAWNED_AT")
    return {
        "served_s": time.time() - float(spawned) if spawned else None,
        "mode": mode,
        "alerts": len(config.alerts),
        "jobs": len(repo.get_all_jobs()),
        "schedules": len(repo.schedule_defs),
        "spec_errors": problems[:5],
        "start_rss_kb": start_rss,
        "snapshot_bytes": len(payload),
        "stages": stages.rows,
    }


# -- parent ------------------------------------------------------------------------------------
def measure(specs_dir: Path, mode: str, cache_dir: Path | None = None) -> dict:
    """Run ``child`` in a fresh interpreter and return its measurements plus the process wall.

    ``cache_dir``: the parsed-spec cache the child uses (``SENTINEL_SPEC_CACHE_DIR``); None: off.
    """
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    if cache_dir is None:
        env["SENTINEL_SPEC_CACHE"] = "off"
    else:
        env["SENTINEL_SPEC_CACHE_DIR"] = str(cache_dir)
    started = time.perf_counter()
    env["BENCH_SPAWNED_AT"] = repr(time.time())
    proc = subprocess.run(
        # `-c`, not this script: a code server is `python -m dagster api grpc`, whose spawned
        # helper processes (the loader reads large spec directories in parallel) do not run
        # the main module again, and a script's would (spec/parallel_read.py)
        [sys.executable, "-c", "import sys; from bench.bench_load import main; "
         "sys.exit(main(sys.argv[1:]))", "--child", str(specs_dir), "--mode", mode],
        capture_output=True, text=True, cwd=REPO_ROOT, env=env,
    )
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"the measuring process for {specs_dir} ({mode}) failed:\n{proc.stderr}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["process_wall_s"] = wall
    return result


def _median_result(results: list[dict]) -> dict:
    """Per stage, the median over repeats (the first result carries the rest)."""
    merged = dict(results[0])
    merged["process_wall_s"] = statistics.median(r["process_wall_s"] for r in results)
    if all(r.get("served_s") is not None for r in results):
        merged["served_s"] = statistics.median(r["served_s"] for r in results)
    merged["stages"] = []
    for i, row in enumerate(results[0]["stages"]):
        merged["stages"].append({
            "stage": row["stage"],
            **{k: statistics.median(r["stages"][i][k] for r in results)
               for k in ("wall_s", "cpu_s", "rss_kb", "peak_kb")},
        })
    merged["repeats"] = len(results)
    merged["wall_spread"] = {
        row["stage"]: (min(r["stages"][i]["wall_s"] for r in results),
                       max(r["stages"][i]["wall_s"] for r in results))
        for i, row in enumerate(results[0]["stages"])
    }
    return merged


def stage_table(results: list[dict]) -> str:
    lines = [
        "| N | mode | stage | wall s | CPU s | ms / alert | RSS after MiB | +RSS KiB / alert |",
        "|---:|---|---|---:|---:|---:|---:|---:|",
    ]
    for res in results:
        n, prev_rss = res["alerts"], res["start_rss_kb"]
        for row in res["stages"]:
            per_alert = "" if row["stage"] == "import" else f"{row['wall_s'] * 1000 / n:.3f}"
            grow = "" if row["stage"] == "import" else f"{(row['rss_kb'] - prev_rss) / n:.1f}"
            lines.append(
                f"| {n:,} | {res['mode']} | {row['stage']} | {row['wall_s']:.3f} | "
                f"{row['cpu_s']:.3f} | {per_alert} | {row['rss_kb'] / 1024:.0f} | {grow} |"
            )
            prev_rss = row["rss_kb"]
    return "\n".join(lines)


def summary_table(results: list[dict]) -> str:
    lines = [
        "| N | jobs | mode | repeats | load_specs→serialize wall s | CPU s | ms / alert (wall) | "
        "spawn→served s | process wall s | peak RSS MiB | KiB / alert after import | "
        "snapshot MiB |",
        "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for res in results:
        n = res["alerts"]
        after_import = res["stages"][0]["rss_kb"]
        work = sum(r["wall_s"] for r in res["stages"][1:])
        cpu = sum(r["cpu_s"] for r in res["stages"][1:])
        peak = res["stages"][-1]["peak_kb"]
        lines.append(
            f"| {n:,} | {res['jobs']:,} | {res['mode']} | {res.get('repeats', 1)} | {work:.2f} | "
            f"{cpu:.2f} | "
            f"{work * 1000 / n:.2f} | {res.get('served_s') or float('nan'):.2f} | "
            f"{res['process_wall_s']:.2f} | {peak / 1024:.0f} | "
            f"{(peak - after_import) / n:.1f} | {res['snapshot_bytes'] / 2**20:.2f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,10000",
                        help="comma-separated alert counts (default 100,1000,10000)")
    parser.add_argument("--modes", default="grpc,full", help="snapshot modes: grpc, full")
    parser.add_argument("--repeat", type=int, default=1,
                        help="fresh processes per (N, mode); the median is reported")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch", type=float, default=0.0,
                        help="fraction of alerts with batch: true (they keep their own job and "
                        "also get a batch job)")
    parser.add_argument("--output", help="also write the Markdown tables to this file")
    parser.add_argument("--json", help="also write the raw measurements to this file")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="grpc", help=argparse.SUPPRESS)
    parser.add_argument("--cache", default="cold,warm",
                        help="parsed-spec cache: cold (parse the YAML, as the first process "
                        "after a change) and/or warm (every later process: code server, run "
                        "workers, CLI)")
    args = parser.parse_args(argv)

    if args.child:
        print(json.dumps(child(args.child, args.mode)))
        return 0

    from bench.gen_specs import generate

    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    for mode in modes:
        if mode not in MODES:
            parser.error(f"unknown mode {mode!r}; expected one of {', '.join(MODES)}")
    results = []
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="sentinel_bench_load_") as tmp:
        for n in sizes:
            specs = generate(Path(tmp) / f"specs_{n}", n, seed=args.seed, batch=args.batch)
            for mode, cache in [(m, c) for m in modes for c in args.cache.split(",")]:
                cache_dir = Path(tmp) / f"cache_{n}"
                if cache == "warm":
                    measure(specs.specs_dir, mode, cache_dir)  # fills the cache, not counted
                runs = []
                for i in range(args.repeat):
                    if cache == "cold":
                        shutil.rmtree(cache_dir, ignore_errors=True)
                    res = measure(specs.specs_dir, mode, cache_dir)
                    res["mode"] = f"{mode}, {cache} cache"
                    if res["spec_errors"] or res["alerts"] != n:
                        raise RuntimeError(f"the generated specs for N={n} did not load cleanly: "
                                           f"{res['alerts']} alerts, errors {res['spec_errors']}")
                    runs.append(res)
                    print(f"N={n} mode={mode} run {i + 1}/{args.repeat}: "
                          f"{res['process_wall_s']:.1f}s", file=sys.stderr)
                results.append(_median_result(runs))
    batched = f"{args.batch:.0%} of the alerts with `batch: true`. " if args.batch else ""
    machine = (f"{batched}{os.cpu_count()} CPUs; 1-minute load average {load_before:.2f} before, "
               f"{os.getloadavg()[0]:.2f} after.")
    text = (f"### Code location load, summary\n\n{machine}\n\n{summary_table(results)}\n\n"
            f"### Code location load, per stage\n\n{stage_table(results)}\n")
    print(text)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
