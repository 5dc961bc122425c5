"""A 20 MB value in each of 5 rows, through a whole Dagster run of the alert: what is stored (state
store, Dagster's event log), written (the outbox) and sent (the webhook body) stays small."""

from __future__ import annotations

import json
import sqlite3

import dagster as dg
import sqlalchemy as sa

from sentinel_assets.orchestration.factory import build_sentinel_defs
from sentinel_assets_tests.notify_servers import WEBHOOK_SECRET, WebhookReceiver

pytest_plugins = ["sentinel_assets_tests.notify_servers"]

VALUE_CHARS = 20_000_000
SMALL = 64 * 1024
MARKER = "… [truncated, 20,000,000 chars]"


def test_a_20_mb_value_is_truncated_wherever_it_is_kept_or_sent(
        tmp_path, monkeypatch, outbox, state_url, receiver: WebhookReceiver):
    db = tmp_path / "huge.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE huge (status TEXT, actual_value TEXT, note TEXT)")
        conn.executemany("INSERT INTO huge VALUES ('ALERT', ?, ?)",
                         [("v" * VALUE_CHARS, "n" * VALUE_CHARS)] * 5)
    monkeypatch.setenv("SENTINEL_TEST_HOOK_URL", receiver.url)
    monkeypatch.setenv("SENTINEL_TEST_HOOK_SECRET", WEBHOOK_SECRET)
    (tmp_path / "specs" / "huge.yaml").parent.mkdir()
    (tmp_path / "specs" / "huge.yaml").write_text(f"""
databases: {{db: "sqlite:///{db}"}}
channels:
  outbox: {{type: log}}
  hook: {{type: webhook, url: "${{SENTINEL_TEST_HOOK_URL}}",
          secret: "${{SENTINEL_TEST_HOOK_SECRET}}"}}
alerts:
  - name: huge_values
    schedule: "0 * * * *"
    database: db
    query: SELECT status, actual_value, note FROM huge
    notify: [outbox, hook]
""")
    job = build_sentinel_defs(tmp_path / "specs").get_job_def("huge_values")

    (tmp_path / "dagster").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "dagster")) as instance:
        result = job.execute_in_process(instance=instance)
        records = instance.get_records_for_run(result.run_id, limit=1000).records
        metadata = [r for r in records if r.event_log_entry.dagster_event
                    and r.event_log_entry.dagster_event.event_type
                    == dg.DagsterEventType.STEP_OUTPUT]
        events = [dg.serialize_value(r.event_log_entry) for r in records]
        run_tags = instance.get_run_by_id(result.run_id).tags

    assert result.success
    # Dagster: every event, and the evaluation's metadata with its first rows
    assert max(len(e) for e in events) < SMALL
    assert sum(len(e) for e in events) < 8 * SMALL
    [output] = metadata
    md = output.event_log_entry.dagster_event.event_specific_data.metadata
    assert md["status"].value == "ALERT"
    assert md["value"].value.endswith(MARKER)
    first = md["first_rows"].value.records[0].data
    assert first["status"] == "ALERT" and first["note"].endswith(MARKER)
    assert all(len(v) <= 200 for v in run_tags.values())
    # the state store: the alert's state and each delivery's notice
    engine = sa.create_engine(state_url)
    with engine.connect() as conn:
        states = conn.exec_driver_sql("SELECT data FROM sentinel_alert_state").scalars().all()
        notices = conn.exec_driver_sql("SELECT notice FROM sentinel_deliveries").scalars().all()
    engine.dispose()
    assert states and notices and max(map(len, states + notices)) < SMALL
    assert json.loads(states[0])["last_value"].endswith(MARKER)
    # the outbox line and the webhook body
    [line] = outbox.read_text().splitlines()
    assert len(line.encode()) < SMALL
    assert json.loads(line)["value"].endswith(MARKER)
    [sent] = receiver.received
    assert len(sent["body"]) < SMALL
    assert sent["payload"]["value"].endswith(MARKER)
    assert sent["payload"]["rows"][0]["note"].endswith(MARKER)
