"""The `sentinel` command line: validate, status, history, silence, unsilence, run."""

from __future__ import annotations

import json
import textwrap

import pytest
from click.testing import CliRunner

from sentinel_assets.cli.main import main
from sentinel_assets_tests.demo_project import make_demo, set_yesterday_revenue


@pytest.fixture
def demo(tmp_path, monkeypatch, dagster_home, outbox, state_url):
    specs, db = make_demo(tmp_path, monkeypatch)
    return specs, db


def sentinel(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def _notices(outbox) -> list[tuple[str, str]]:
    if not outbox.exists():
        return []
    return [(n["alert"], n["kind"]) for n in map(json.loads, outbox.read_text().splitlines())]


def test_validate_prints_a_summary_and_exits_0_for_the_demo_specs(demo):
    specs, _ = demo
    result = sentinel("validate", str(specs))
    assert result.exit_code == 0, result.output
    assert "OK: 7 alerts (6 enabled), 1 databases, 1 channels, 7 schedules" in result.output
    assert "orders_revenue_low" in result.output


def test_validate_lists_every_error_with_file_alert_field_and_line(tmp_path):
    (tmp_path / "team.yaml").write_text(textwrap.dedent("""\
        databases:
          db: {url: "sqlite:///x.db"}
        channels:
          outbox: {type: log}
        alerts:
          - name: good
            schedule: "0 * * * *"
            database: db
            query: select 'OK' as status
          - name: typo_key
            shedule: "0 * * * *"
            database: db
            query: select 1
          - name: bad_tz
            schedule: "0 * * * *"
            timezone: Mars/Olympus
            database: db
            query: select 1
          - name: bad_channel
            schedule: "61 * * * *"
            database: db
            notify: [outbx]
            query: select 1
    """))
    result = CliRunner().invoke(main, ["validate", str(tmp_path)])
    assert result.exit_code == 1
    out = result.output
    assert "team.yaml:11: alert 'typo_key', field 'shedule': unknown key 'shedule'; did you mean 'schedule'?" in out
    assert "team.yaml:16: alert 'bad_tz', field 'timezone': unknown timezone 'Mars/Olympus'" in out
    assert "alert 'bad_channel', field 'schedule'" in out and "invalid cron expression '61 * * * *'" in out
    assert "4 error(s)" in out or "error(s)" in out


def test_validate_json_output_lists_errors(tmp_path):
    (tmp_path / "a.yaml").write_text("alerts:\n  - name: Bad-Name\n    schedule: '0 * * * *'\n")
    result = CliRunner().invoke(main, ["validate", str(tmp_path), "--output", "json"])
    assert result.exit_code == 1
    data = json.loads(result.output)
    assert data["alerts"] == 0
    assert any(e["field"] == "name" and e["line"] == 2 for e in data["errors"])


def test_validate_fails_for_a_missing_directory(tmp_path):
    result = CliRunner().invoke(main, ["validate", str(tmp_path / "nope")])
    assert result.exit_code == 1
    assert "does not exist" in result.output


def test_run_then_status_shows_each_alert_state_and_a_second_run_deduplicates(demo, outbox):
    first = sentinel("run")
    assert first.exit_code == 0, first.output
    assert "orders_revenue_low: ALERT -> state FIRING" in first.output
    assert "notice firing -> outbox: sent" in first.output
    assert "orders_without_customer: ALERT -> state PENDING" in first.output
    second = sentinel("run")
    assert "orders_without_customer: ALERT -> state FIRING" in second.output
    assert _notices(outbox).count(("orders_revenue_low", "firing")) == 1
    status = sentinel("status")
    assert status.exit_code == 0
    lines = {line.split()[0]: line for line in status.output.splitlines()[1:] if line.strip()}
    assert "FIRING" in lines["orders_revenue_low"]
    assert "OK" in lines["pipeline_freshness"]
    assert "NEW" in lines["customers_present"] and "(disabled)" in lines["customers_present"]
    data = json.loads(sentinel("status", "--output", "json").output)
    revenue = next(r for r in data if r["alert"] == "orders_revenue_low")
    assert revenue["state"] == "FIRING" and revenue["last_value"] < 10000


def test_history_shows_each_evaluation_newest_first(demo):
    _, db = demo
    sentinel("run", "orders_revenue_low")
    set_yesterday_revenue(db, 20_000)
    sentinel("run", "orders_revenue_low")
    text = sentinel("history", "orders_revenue_low")
    assert text.exit_code == 0
    rows = text.output.splitlines()[1:]
    assert rows[0].split()[3] == "OK" and rows[1].split()[3] == "ALERT"
    data = json.loads(sentinel("history", "orders_revenue_low", "--limit", "1", "--output", "json").output)
    assert len(data) == 1 and data[0]["status"] == "OK" and data[0]["value"] == 20000.0
    assert data[0]["run_status"] == "SUCCESS" and len(data[0]["run_id"]) == 36


def test_history_without_dagster_home_says_what_to_do(monkeypatch, tmp_path):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.chdir(tmp_path)  # not inside a project with a .dagster_home
    result = CliRunner().invoke(main, ["history", "x"])
    assert result.exit_code == 1
    assert "no Dagster instance: set DAGSTER_HOME" in result.output


def test_silence_holds_back_the_next_notice_and_unsilence_releases_it(demo, outbox):
    silenced = sentinel("silence", "orders_revenue_low", "--for", "2h", "--reason", "known issue")
    assert silenced.exit_code == 0, silenced.output
    assert "covers 1 alert(s): orders_revenue_low" in silenced.output
    sentinel("run", "orders_revenue_low")
    assert _notices(outbox) == []
    status = sentinel("status").output
    assert "orders_revenue_low" in status and "FIRING" in status
    assert sentinel("unsilence", "orders_revenue_low").exit_code == 0
    sentinel("run", "orders_revenue_low")
    assert _notices(outbox) == [("orders_revenue_low", "firing")]


def test_silence_by_tag_matcher_covers_matching_alerts_only(demo, outbox):
    result = sentinel("silence", "--match", "team=logistics", "--for", "1d", "--reason", "stocktake")
    assert result.exit_code == 0
    assert "covers 1 alert(s): unshipped_orders" in result.output
    sentinel("run", "orders_revenue_low", "unshipped_orders")
    assert _notices(outbox) == [("orders_revenue_low", "firing")]
    assert sentinel("unsilence", "--match", "team=logistics").output.startswith("removed 1")


@pytest.mark.parametrize(
    "args, message",
    [
        (["silence", "orders_revenue_low", "--for", "soon", "--reason", "x"], "expected a duration"),
        (["silence", "--for", "2h", "--reason", "x"], "either ALERT or --match"),
        (["silence", "no_such_alert", "--for", "2h", "--reason", "x"], "no alert named 'no_such_alert'"),
        (["silence", "--match", "team", "--for", "2h", "--reason", "x"], "expected a tag matcher"),
        (["silence", "orders_revenue_low", "--for", "2h"], "Missing option '--reason'"),
        (["unsilence"], "exactly one of"),
    ],
)
def test_bad_silence_input_is_refused_with_a_clear_message(demo, args, message):
    result = CliRunner().invoke(main, args)
    assert result.exit_code != 0
    assert message in result.output


def test_unsilence_of_nothing_exits_1(demo):
    result = CliRunner().invoke(main, ["unsilence", "orders_revenue_low"])
    assert result.exit_code == 1
    assert "removed 0 silence(s)" in result.output


def test_run_of_an_unknown_alert_fails(demo):
    result = CliRunner().invoke(main, ["run", "nope"])
    assert result.exit_code == 1
    assert "unknown alert(s): nope" in result.output


def test_run_with_a_broken_alert_still_runs_the_valid_ones(tmp_path, dagster_home, outbox, state_url):
    import sqlite3

    sqlite3.connect(tmp_path / "x.db").close()  # alert databases must exist; none is created
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "a.yaml").write_text(textwrap.dedent(f"""\
        databases: {{db: {{url: "sqlite:///{tmp_path / 'x.db'}"}}}}
        channels: {{outbox: {{type: log}}}}
        alerts:
          - {{name: good, schedule: "0 * * * *", database: db, notify: [outbox],
             query: "SELECT 'ALERT' AS status"}}
          - {{name: broken, schedule: "0 9 * *", database: db, query: "SELECT 1"}}
    """))
    result = CliRunner().invoke(main, ["run", "--specs", str(specs)])
    assert result.exit_code == 0, result.output
    assert "1 spec error(s) (run `sentinel validate`); running the valid alerts" in result.output
    assert "good: ALERT -> state FIRING" in result.output
    assert "Traceback" not in result.output
    assert _notices(outbox) == [("good", "firing")]
