import json, sys
for path in sys.argv[1:]:
    for l in open(path):
        d = json.loads(l); s = d["stages"]
        print(f"{d['variant']} {str(d['jobs_mode'] or ''):9} N={d['n']:>5} jobs={d['jobs']:>5} sched={d['schedules']:>5} "
              f"import={s['import']['s']:.2f} build={s['build']['s']:.2f} repo={s['repository']['s']:.2f} "
              f"snap={s['snapshot']['s']:.2f} ser={s['serialize']['s']:.2f} -> loaded {d['loaded_total_s']:.2f}s "
              f"RSS {d['loaded_rss']:.0f}MiB snapMiB={d['snapshot_mib']} bigjob={d['biggest_job']} {d['biggest_job_snap_mib']}MiB/{s['biggest_job']['s']:.2f}s peak={d['peak_rss']:.0f}")
