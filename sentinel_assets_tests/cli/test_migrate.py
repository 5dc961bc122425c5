"""``sentinel migrate``: SQL Sentinel files rewritten as native ones that load to the same alerts."""

from __future__ import annotations

import shutil

import pytest
from click.testing import CliRunner

from sentinel_assets.cli.main import main
from sentinel_assets.spec.loader import load_specs
from sentinel_assets.spec.yaml_lines import load_yaml
from sentinel_assets_tests.helpers import TESTS_DIR, write_spec_file
from sentinel_assets_tests.spec.test_compat import SMTP_ENV

SQLSENTINEL = TESTS_DIR / "data" / "sqlsentinel" / "alerts.yaml"


@pytest.fixture(autouse=True)
def env(monkeypatch):
    for name, value in SMTP_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SENTINEL_SPEC_CACHE", "off")
    monkeypatch.delenv("DATABASE_URL", raising=False)


def _loaded(folder):
    config = load_specs(folder)
    assert config.errors == []
    return config


def _same(original, migrated):
    assert [a.model_dump() for a in migrated.alerts] == [a.model_dump() for a in original.alerts]
    assert ({n: c.model_dump() for n, c in migrated.channels.items()}
            == {n: c.model_dump() for n, c in original.channels.items()})
    assert ({n: d.model_dump() for n, d in migrated.databases.items()}
            == {n: d.model_dump() for n, d in original.databases.items()})


def test_migrated_files_load_to_the_same_alerts_channels_and_database(tmp_path):
    original = tmp_path / "sqlsentinel"
    original.mkdir()
    shutil.copy(SQLSENTINEL, original / "alerts.yaml")
    out = tmp_path / "alert_specs"

    result = CliRunner().invoke(main, ["migrate", str(original / "alerts.yaml"), "--out", str(out)])

    assert result.exit_code == 0, result.output
    migrated = _loaded(out)
    assert migrated.compat_files == []  # a native file now
    _same(_loaded(original), migrated)
    assert [a.title for a in migrated.alerts] == [
        "Low Daily Revenue", "High API Error Rate", "Stale data_pipeline (24h)", "Weekend Orders"]


def test_the_native_file_keeps_comments_and_secret_references(tmp_path):
    out = tmp_path / "out"

    result = CliRunner().invoke(main, ["migrate", str(SQLSENTINEL), "--out", str(out)])

    assert result.exit_code == 0, result.output
    text = (out / "alerts.yaml").read_text()
    document = load_yaml(text)
    assert list(document) == ["databases", "channels", "defaults", "alerts"]
    assert document["defaults"] == {"database": "alerts", "no_data": "error"}
    assert document["alerts"][0]["name"] == "low_daily_revenue"
    assert document["alerts"][0]["title"] == "Low Daily Revenue"
    assert document["alerts"][1]["notify"] == [
        "email_oncall_example_com", "slack_sql_sentinel", "ops_webhook_url"]
    # comments stay: the file's header, a schedule's, and the one before an alert
    assert text.startswith("# SQL Sentinel alerts, written the way its README")
    assert 'schedule: "0 9 * * *"  # 9 AM daily' in text
    assert '  # API health: email, Slack and the on-call webhook\n  - name: "high_api_error_rate"' in text
    assert "# relative: the working directory of the process" in text
    # secrets are references, never the values of this environment
    for reference in ("${SMTP_HOST}", "${SMTP_PASSWORD}", "${SLACK_WEBHOOK_URL}",
                      "${OPS_WEBHOOK_URL}", "Bearer ${OPS_WEBHOOK_TOKEN}"):
        assert reference in text
    for value in ("pw-4815162342", "tok-2718", "hooks.example", "mail.example.com"):
        assert value not in text


def test_it_says_what_it_mapped_and_what_it_could_not(tmp_path):
    result = CliRunner().invoke(main, ["migrate", str(SQLSENTINEL), "--out", str(tmp_path / "o")])

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert f"{SQLSENTINEL} -> {tmp_path / 'o' / 'alerts.yaml'}" in lines
    assert "  database 'alerts' <- database.url sqlite:///sample_data.db" in lines
    assert ("  channel 'email_finance_example_com' <- email to finance@example.com, "
            "cfo@example.com via ${SMTP_HOST}:${SMTP_PORT} (none with login "
            "${SMTP_USERNAME}/${SMTP_PASSWORD}), from ${SMTP_FROM_ADDRESS}, subject as a "
            "template") in lines
    assert "  channel 'ops_webhook_url' <- webhook PUT ${OPS_WEBHOOK_URL}" in lines
    assert "  alert 'High API Error Rate' -> 'high_api_error_rate' (the name stays its title)" in lines
    assert "not mapped:" in lines
    assert any("webhook bodies are sentinel.notice/v1 JSON" in line for line in lines)
    assert any("sqlsentinel_executions stays" in line for line in lines)


def test_without_out_it_prints_a_loadable_file_and_reports_on_stderr(tmp_path):
    result = CliRunner().invoke(main, ["migrate", str(SQLSENTINEL)])

    assert result.exit_code == 0, result.stderr
    write_spec_file(tmp_path / "printed", "alerts.yaml", result.stdout)
    original = tmp_path / "original"
    original.mkdir()
    shutil.copy(SQLSENTINEL, original / "alerts.yaml")
    # printed: no defaults section (it may land next to other files), each alert says it all
    printed = load_yaml(result.stdout)
    assert "defaults" not in printed and printed["alerts"][0]["no_data"] == "error"
    _same(_loaded(original), _loaded(tmp_path / "printed"))
    assert "not mapped:" in result.stderr


def test_next_to_native_files_the_alerts_carry_database_and_no_data(tmp_path):
    out = tmp_path / "alert_specs"
    write_spec_file(out, "native.yaml", """\
        defaults: {timezone: UTC}
        """)

    result = CliRunner().invoke(main, ["migrate", str(SQLSENTINEL), "--out", str(out)])

    assert result.exit_code == 0, result.output
    document = load_yaml((out / "alerts.yaml").read_text())
    assert "defaults" not in document
    assert {a["database"] for a in document["alerts"]} == {"alerts"}
    assert len(_loaded(out).alerts) == 4


def test_two_files_share_channels_and_the_database(tmp_path):
    first = write_spec_file(tmp_path / "in", "finance.yaml", """\
        database: {url: "sqlite:///warehouse.db"}
        alerts:
          - {name: Revenue, query: "SELECT 'OK' AS status", schedule: "0 9 * * *",
             notify: [{channel: slack, webhook_url: "${SLACK_WEBHOOK_URL}"}]}
        """)
    second = write_spec_file(tmp_path / "in", "ops.yaml", """\
        database: {url: "sqlite:///warehouse.db"}
        alerts:
          - {name: Errors, query: "SELECT 'OK' AS status", schedule: "*/5 * * * *",
             notify: [{channel: slack, webhook_url: "${SLACK_WEBHOOK_URL}"}]}
        """)

    result = CliRunner().invoke(main, ["migrate", str(first), str(second), "--out",
                                       str(tmp_path / "out")])

    assert result.exit_code == 0, result.output
    _same(_loaded(tmp_path / "in"), _loaded(tmp_path / "out"))
    ops = load_yaml((tmp_path / "out" / "ops.yaml").read_text())
    assert list(ops) == ["alerts"]  # the database and the channel are in finance.yaml


def test_bad_input_writes_nothing_and_names_file_alert_and_field(tmp_path):
    bad = write_spec_file(tmp_path, "bad.yaml", """\
        database: {url: "sqlite:///a.db"}
        alerts:
          - name: Teams Alert
            query: SELECT 'OK' AS status
            schedule: "0 9 * * *"
            notify: [{channel: teams}]
        """)

    result = CliRunner().invoke(main, ["migrate", str(bad), "--out", str(tmp_path / "out")])

    assert result.exit_code == 1
    assert (f"{bad}:6: alert 'Teams Alert', field 'notify.0.channel': unknown channel type "
            "'teams'") in result.output
    assert "nothing was written" in result.output
    assert not (tmp_path / "out").exists()


def test_it_refuses_native_files_and_overwriting(tmp_path):
    native = write_spec_file(tmp_path, "native.yaml", "alerts: []\n")
    assert "is not a SQL Sentinel file" in CliRunner().invoke(
        main, ["migrate", str(native)]).output
    out = tmp_path / "out"
    write_spec_file(out, "alerts.yaml", "alerts: []\n")

    refused = CliRunner().invoke(main, ["migrate", str(SQLSENTINEL), "--out", str(out)])
    forced = CliRunner().invoke(main, ["migrate", str(SQLSENTINEL), "--out", str(out), "--force"])

    assert refused.exit_code == 1 and "use --force to overwrite" in refused.output
    assert forced.exit_code == 0 and len(_loaded(out).alerts) == 4
