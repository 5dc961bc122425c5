"""The run's log line counts every notice the evaluation sent, retried deliveries included: a run
that only retried an earlier delivery does not say "0 notice(s)"."""

from __future__ import annotations

import json
import sqlite3

import dagster as dg

from sentinel_assets.orchestration.factory import build_sentinel_defs
from sentinel_assets_tests.helpers import write_spec_file


def _line(instance: dg.DagsterInstance, run_id: str, alert: str) -> str:
    (line,) = [e.user_message for e in instance.all_logs(run_id)
               if e.user_message.startswith(f"alert {alert}: ") and "; state " in e.user_message]
    return line


def test_a_run_that_only_retried_a_delivery_counts_it(tmp_path, monkeypatch, dagster_home):
    db = tmp_path / "alerts.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE signal (status TEXT)")
        conn.execute("INSERT INTO signal VALUES ('ALERT')")
    monkeypatch.setenv("SENTINEL_STATE_URL", f"sqlite:///{tmp_path / 'state.db'}")
    blocked = tmp_path / "blocked"
    blocked.mkdir()  # an outbox that is a directory cannot be written
    write_spec_file(tmp_path / "specs", "specs.yaml", f"""\
        databases:
          db: {{url: "sqlite:///{db}"}}
        channels:
          outbox: {{type: log}}
        alerts:
          - name: stays_firing
            schedule: "0 * * * *"
            database: db
            notify: [outbox]
            query: SELECT status FROM signal
    """)
    job = build_sentinel_defs(tmp_path / "specs").get_job_def("stays_firing")

    with dg.DagsterInstance.get() as instance:
        monkeypatch.setenv("SENTINEL_OUTBOX", str(blocked))
        first = job.execute_in_process(instance=instance)
        monkeypatch.setenv("SENTINEL_OUTBOX", str(tmp_path / "outbox.jsonl"))
        second = job.execute_in_process(instance=instance)
        third = job.execute_in_process(instance=instance)

        lines = [_line(instance, r.run_id, "stays_firing") for r in (first, second, third)]

    assert lines[0].endswith("state OK -> FIRING; 1 notice(s)")
    # still firing: no new notice, but the failed firing notice was delivered now
    assert lines[1].endswith("state FIRING -> FIRING; 1 notice(s) (1 retried)")
    assert lines[2].endswith("state FIRING -> FIRING; 0 notice(s)")
    sent = [json.loads(line) for line in (tmp_path / "outbox.jsonl").read_text().splitlines()]
    assert [(n["alert"], n["kind"]) for n in sent] == [("stays_firing", "firing")]
