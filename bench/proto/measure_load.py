"""Fresh-process location load: python measure_load.py VARIANT N [JOBS_MODE]

Stages (wall s, cumulative peak RSS MiB via ru_maxrss):
  import      import dagster
  build       build_defs(N) (specs -> Definitions)
  repository  defs.get_repository_def()
  snapshot    RepositorySnap.from_def(repo, defer_snapshots=True)  (what the gRPC code server answers)
  serialize   serialize_value(snapshot)
  biggest_job JobDataSnap.from_job_def(largest job, include_parent_snapshot=True) + serialize
              (what the UI fetches when a job / the asset job is opened)
Then run-worker view (same process is warm, so it is measured in measure_runstart.py).
Prints one JSON line.
"""
import json
import sys
import time

T0 = time.perf_counter()
sys.path.insert(0, __file__.rsplit("/", 1)[0])

from common import rss_mib  # noqa: E402


def main():
    variant, n = sys.argv[1], int(sys.argv[2])
    jobs_mode = sys.argv[3] if len(sys.argv) > 3 else None
    full = "--full" in sys.argv
    out = {"variant": variant, "n": n, "jobs_mode": jobs_mode, "stages": {}}
    last = time.perf_counter()

    def stage(name):
        nonlocal last
        now = time.perf_counter()
        out["stages"][name] = {"s": round(now - last, 3), "rss": round(rss_mib(), 1)}
        last = now

    import dagster as dg  # noqa: F401
    from dagster._core.remote_representation.external_data import JobDataSnap, RepositorySnap
    from dagster._serdes import serialize_value

    stage("import")
    mod = __import__(f"variant_{variant}")
    defs = mod.build_defs(n, jobs_mode)
    stage("build")
    repo = defs.get_repository_def()
    stage("repository")
    snap = RepositorySnap.from_def(repo, defer_snapshots=True)
    stage("snapshot")
    s = serialize_value(snap)
    out["snapshot_mib"] = round(len(s) / 2**20, 2)
    stage("serialize")
    jobs = repo.get_all_jobs()
    out["jobs"] = len(jobs)
    out["schedules"] = len(repo.schedule_defs)
    out["job_names_sample"] = sorted(j.name for j in jobs)[:3]
    big = max(jobs, key=lambda j: len(j.graph.node_defs) + sum(len(nd.output_defs) for nd in j.graph.node_defs))
    out["loaded_total_s"] = round(time.perf_counter() - T0, 3)
    out["loaded_rss"] = round(rss_mib(), 1)
    last = time.perf_counter()
    js = serialize_value(JobDataSnap.from_job_def(big, include_parent_snapshot=True))
    out["biggest_job"] = big.name
    out["biggest_job_snap_mib"] = round(len(js) / 2**20, 2)
    stage("biggest_job")
    if full:
        snapf = serialize_value(RepositorySnap.from_def(repo, defer_snapshots=False))
        out["full_snapshot_mib"] = round(len(snapf) / 2**20, 2)
        stage("full_snapshot")
    out["total_s"] = round(time.perf_counter() - T0, 3)
    out["peak_rss"] = round(rss_mib(), 1)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
