"""SQL Sentinel compatibility: its alert files load unchanged, next to native ones."""

from __future__ import annotations

import shutil
import textwrap

import dagster as dg
import pytest
from click.testing import CliRunner

from sentinel_assets.cli.main import main
from sentinel_assets.core.lifecycle import Notice
from sentinel_assets.core.messages import NoticeContext, render
from sentinel_assets.orchestration.resources import build_resources
from sentinel_assets.spec.compat import is_sqlsentinel, slug, subject_template
from sentinel_assets.spec.loader import load_specs
from sentinel_assets_tests.helpers import NOTICE_TIME, TESTS_DIR, write_spec_file

SQLSENTINEL = TESTS_DIR / "data" / "sqlsentinel"
SMTP_ENV = {"SMTP_HOST": "mail.example.com", "SMTP_PORT": "2525", "SMTP_USE_TLS": "false",
            "SMTP_FROM_ADDRESS": "sqlsentinel@example.com", "SMTP_USERNAME": "mailer",
            "SMTP_PASSWORD": "pw-4815162342", "SLACK_WEBHOOK_URL": "https://hooks.example/T/B/x",
            "OPS_WEBHOOK_URL": "https://ops.example/hook", "OPS_WEBHOOK_TOKEN": "tok-2718"}


@pytest.fixture
def smtp_env(monkeypatch):
    for name, value in SMTP_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SENTINEL_SPEC_CACHE", "off")


@pytest.fixture
def specs(tmp_path, smtp_env):
    folder = tmp_path / "specs"
    folder.mkdir()
    shutil.copy(SQLSENTINEL / "alerts.yaml", folder / "alerts.yaml")
    return folder


def _notice(alert: str, kind: str = "firing") -> Notice:
    return Notice(alert=alert, kind=kind, status="FIRING", previous_status="OK",
                  message="1 of 1 rows returned ALERT", evaluated_at=NOTICE_TIME, episode=1,
                  sequence=0, value=8512.5, threshold=10000)


# -- the example file -------------------------------------------------------------------------------
def test_the_file_loads_with_job_names_titles_one_database_and_no_errors(specs):
    config = load_specs(specs)

    assert config.errors == []
    by_name = {a.name: a for a in config.alerts}
    assert list(by_name) == ["low_daily_revenue", "high_api_error_rate",
                             "stale_data_pipeline_24h", "weekend_orders"]
    assert by_name["low_daily_revenue"].title == "Low Daily Revenue"
    assert by_name["stale_data_pipeline_24h"].label == "Stale data_pipeline (24h)"
    assert {a.database for a in config.alerts} == {"alerts"}
    assert config.databases["alerts"].url == "sqlite:///sample_data.db"  # as SQL Sentinel ran it
    # SQL Sentinel failed on an empty result; enabled: false is kept (schedule stopped)
    assert {a.no_data for a in config.alerts} == {"error"}
    assert [a.enabled for a in config.alerts] == [True, True, True, False]
    assert by_name["low_daily_revenue"].schedule == "0 9 * * *"
    assert by_name["low_daily_revenue"].source_line == 10
    assert [f["file"] for f in config.compat_files] == [str(specs / "alerts.yaml")]


def test_each_distinct_notify_entry_is_one_channel_with_the_environments_smtp(specs):
    config = load_specs(specs)
    by_name = {a.name: a for a in config.alerts}

    # identical entries (Low Daily Revenue and Weekend Orders) share one channel
    revenue = by_name["low_daily_revenue"].channel_names
    assert revenue == by_name["weekend_orders"].channel_names == ["email_finance_example_com"]
    assert by_name["stale_data_pipeline_24h"].channel_names == ["slack"]
    assert by_name["high_api_error_rate"].channel_names == [
        "email_oncall_example_com", "slack_sql_sentinel", "ops_webhook_url"]
    email = config.channels["email_finance_example_com"]
    assert (email.to, email.smtp_host, email.smtp_port, email.security, email.sender) == (
        ["finance@example.com", "cfo@example.com"], "mail.example.com", 2525, "none",
        "sqlsentinel@example.com")
    # the login stays a reference: it reaches Dagster as an EnvVar
    assert (email.username, email.password) == ("${SMTP_USERNAME}", "${SMTP_PASSWORD}")
    assert config.channels["slack"].webhook_url == "${SLACK_WEBHOOK_URL}"
    assert config.channels["slack_sql_sentinel"].username == "SQL Sentinel"
    hook = config.channels["ops_webhook_url"]
    assert (hook.url, hook.method) == ("${OPS_WEBHOOK_URL}", "PUT")
    assert hook.headers == {"Authorization": "Bearer ${OPS_WEBHOOK_TOKEN}", "X-Team": "platform"}


def test_secrets_reach_dagster_as_env_vars(specs):
    resources = build_resources(load_specs(specs))

    assert isinstance(resources["sentinel_channel_slack"].webhook_url, dg.EnvVar)
    assert isinstance(resources["sentinel_channel_ops_webhook_url"].url, dg.EnvVar)
    assert isinstance(resources["sentinel_channel_email_finance_example_com"].password, dg.EnvVar)
    assert SMTP_ENV["SMTP_PASSWORD"] not in repr(resources)
    assert SMTP_ENV["OPS_WEBHOOK_TOKEN"] not in repr(resources)


def test_dagster_shows_the_title(specs):
    from sentinel_assets.orchestration.checks import alert_description

    alert = load_specs(specs).alert("low_daily_revenue")

    assert alert_description(alert).startswith(
        "Low Daily Revenue: Alert when yesterday's revenue falls below $10,000 (")


def test_the_subject_placeholders_render_with_the_title(specs):
    config = load_specs(specs)
    alert = config.alert("low_daily_revenue")
    channel = config.channels["email_finance_example_com"]
    context = NoticeContext(notice=_notice(alert.name), channel=channel.name, title=alert.title)

    assert render(context, "email", channel.templates).subject == (
        "Revenue Alert: Low Daily Revenue is ALERT (8512.5 < 10000)")
    # a resolved notice (SQL Sentinel sent none) keeps sentinel's subject, with the title
    resolved = NoticeContext(notice=_notice(alert.name, "resolved"), channel=channel.name,
                             title=alert.title)
    assert render(resolved, "email", channel.templates).subject.startswith(
        "[RESOLVED] Low Daily Revenue")


def test_subject_template_maps_each_placeholder_and_escapes_jinja():
    assert subject_template("{alert_name}: {status} {actual_value}/{threshold}") == (
        "{{ title }}: ALERT {{ value }}/{{ threshold }}")
    assert subject_template("{{literal}} {alert_name}") == "{literal} {{ title }}"
    assert subject_template("{{% odd %}} {alert_name}") == (
        "{% raw %}{% odd %} {% endraw %}{{ title }}")
    with pytest.raises(ValueError, match="unknown placeholder {alert} .*; did you mean 'alert_name'"):
        subject_template("{alert}")
    with pytest.raises(ValueError, match="format spec"):
        subject_template("{actual_value:.2f}")


def test_validate_lists_the_file_and_where_the_relative_sqlite_path_resolves(specs, tmp_path,
                                                                            monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sample_data.db").write_bytes(b"")

    result = CliRunner().invoke(main, ["validate", str(specs)])

    assert result.exit_code == 0, result.output
    assert f"{specs / 'alerts.yaml'}: read as a SQL Sentinel file (4 alert(s), database 'alerts'" \
        in result.output
    assert ("the relative SQLite path in sqlite:///sample_data.db resolves against the working "
            f"directory, as SQL Sentinel resolved it: {tmp_path / 'sample_data.db'}") in result.output
    assert "alert 'High API Error Rate' is the job 'high_api_error_rate'" in result.output
    json_out = CliRunner().invoke(main, ["validate", str(specs), "--output", "json"])
    assert '"sqlsentinel_files"' in json_out.output and '"title": "Low Daily Revenue"' in json_out.output


def test_native_files_load_next_to_it_and_may_use_its_channels(specs):
    write_spec_file(specs, "native.yaml", """\
        channels:
          outbox: {type: log}
        alerts:
          - name: orders_seen
            database: alerts
            schedule: "0 * * * *"
            query: SELECT 'OK' AS status
            notify: [outbox, slack]
        """)

    config = load_specs(specs)

    assert config.errors == []
    assert config.alert("orders_seen").channel_names == ["outbox", "slack"]
    assert config.alert("orders_seen").title is None
    assert len(config.compat_files) == 1


# -- the environment ----------------------------------------------------------------------------------
def test_smtp_defaults_follow_sql_sentinel_and_settings_of_our_own_win(tmp_path, monkeypatch):
    monkeypatch.setenv("SENTINEL_SPEC_CACHE", "off")
    for name in ("SMTP_PORT", "SMTP_USE_TLS", "SMTP_FROM_ADDRESS", "SMTP_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SMTP_HOST", "smtp.example.com")
    monkeypatch.setenv("SMTP_USERNAME", "alerts@example.com")
    write_spec_file(tmp_path, "a.yaml", """\
        database: {url: "sqlite:///a.db"}
        alerts:
          - name: Defaults
            query: SELECT 'OK' AS status
            schedule: "0 9 * * *"
            notify: [{channel: email, recipients: [a@example.com]}]
          - name: Own Settings
            query: SELECT 'OK' AS status
            schedule: "0 9 * * *"
            timezone: Europe/Berlin
            notify:
              - {channel: email, recipients: [a@example.com], smtp_host: relay.local,
                 security: ssl, smtp_port: 465, on: [firing, resolved]}
        """)

    config = load_specs(tmp_path)

    assert config.errors == []
    default = config.channels["email_a_example_com"]
    # port 587 with STARTTLS; From is SMTP_USERNAME; no login without SMTP_PASSWORD
    assert (default.smtp_host, default.smtp_port, default.security) == (
        "smtp.example.com", 587, "starttls")
    assert (default.sender, default.username, default.password) == (
        "alerts@example.com", None, None)
    own = config.channels["email_a_example_com_2"]
    assert (own.smtp_host, own.smtp_port, own.security) == ("relay.local", 465, "ssl")
    alert = config.alert("own_settings")
    assert alert.timezone == "Europe/Berlin"
    assert alert.notify[0].on == ["firing", "resolved"]


def test_bare_dollar_vars_are_read_like_sql_sentinel_did(tmp_path, monkeypatch):
    monkeypatch.setenv("SENTINEL_SPEC_CACHE", "off")
    monkeypatch.setenv("TEAM_HOOK", "https://hooks.example/team")
    write_spec_file(tmp_path, "a.yaml", """\
        database: {url: "sqlite:///a.db"}
        alerts:
          - name: Hooked
            query: SELECT 'OK' AS status, '$NOT_SET' AS note
            schedule: "0 9 * * *"
            notify: [{channel: webhook, url: "$TEAM_HOOK"}]
        """)

    config = load_specs(tmp_path)

    assert config.errors == []
    assert config.channels["webhook_team_hook"].url == "${TEAM_HOOK}"  # a secret: still a reference
    assert "'$NOT_SET'" in config.alert("hooked").query  # unset: left alone, as expandvars does


def test_the_spec_cache_sees_a_changed_smtp_setting(tmp_path, monkeypatch):
    monkeypatch.setenv("SENTINEL_SPEC_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("SMTP_HOST", "one.example.com")
    write_spec_file(tmp_path / "specs", "a.yaml", """\
        database: {url: "sqlite:///a.db"}
        alerts:
          - {name: Mail, query: "SELECT 'OK' AS status", schedule: "0 9 * * *",
             notify: [{channel: email, recipients: [a@example.com]}]}
        """)
    assert load_specs(tmp_path / "specs").channels["email_a_example_com"].smtp_host == "one.example.com"

    monkeypatch.setenv("SMTP_HOST", "two.example.com")

    assert load_specs(tmp_path / "specs").channels["email_a_example_com"].smtp_host == "two.example.com"


def test_the_documented_slack_override_and_a_bigquery_url(tmp_path, monkeypatch):
    monkeypatch.setenv("SENTINEL_SPEC_CACHE", "off")
    # SQL Sentinel's docs write the Slack channel override as a second `channel:` key
    write_spec_file(tmp_path, "bq.yaml", """\
        database:
          url: "bigquery://my-project/analytics?credentials=/keys/sa.json&location=EU"
        alerts:
          - name: Fresh Events
            query: SELECT 'OK' AS status
            schedule: "0 * * * *"
            notify:
              - channel: slack
                webhook_url: "${SLACK_WEBHOOK_URL}"
                channel: "#data-alerts"
                username: "SQL Sentinel"
        """)

    config = load_specs(tmp_path)

    assert config.errors == []
    database = config.databases["bq"]
    assert (database.url, database.credentials_path, database.location) == (
        "bigquery://my-project/analytics", "/keys/sa.json", "EU")
    slack = config.channels["slack_data_alerts"]
    assert (slack.channel, slack.username, slack.webhook_url) == (
        "#data-alerts", "SQL Sentinel", "${SLACK_WEBHOOK_URL}")


# -- bad input --------------------------------------------------------------------------------------
BROKEN = """\
database: {url: "sqlite:///a.db"}
alerts:
  - name: Good One
    query: SELECT 'OK' AS status
    schedule: "0 9 * * *"
  - name: Teams Alert
    query: SELECT 'OK' AS status
    schedule: "0 9 * * *"
    notify:
      - channel: teams
        url: https://teams.example/hook
  - name: Mail Alert
    query: SELECT 'OK' AS status
    schedule: "0 9 * * *"
    notify:
      - channel: email
        recipients: [a@example.com]
  - name: good one!
    query: SELECT 'OK' AS status
    schedule: "0 9 * * *"
"""


def test_bad_input_names_file_alert_and_field_and_the_rest_loads(tmp_path, monkeypatch):
    monkeypatch.setenv("SENTINEL_SPEC_CACHE", "off")
    monkeypatch.delenv("SMTP_HOST", raising=False)
    path = write_spec_file(tmp_path, "broken.yaml", BROKEN)

    config = load_specs(tmp_path)

    assert [a.name for a in config.alerts] == ["good_one"]
    found = {(e.file, e.line, e.alert, e.field): e.message for e in config.errors}
    assert set(found) == {(str(path), 10, "Teams Alert", "notify.0.channel"),
                          (str(path), 16, "Mail Alert", "notify.0"),
                          (str(path), 18, "good one!", "name")}
    assert found[(str(path), 10, "Teams Alert", "notify.0.channel")].startswith(
        "unknown channel type 'teams'")
    assert "SMTP_HOST is not set" in found[(str(path), 16, "Mail Alert", "notify.0")]
    assert found[(str(path), 18, "good one!", "name")] == (
        f"the names 'Good One' ({path}:3) and 'good one!' both become the job name 'good_one'; "
        "rename one of them")


def test_a_get_webhook_and_an_unknown_entry_key_are_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("SENTINEL_SPEC_CACHE", "off")
    path = write_spec_file(tmp_path, "a.yaml", """\
        database: {url: "sqlite:///a.db"}
        alerts:
          - name: Poll
            query: SELECT 'OK' AS status
            schedule: "0 9 * * *"
            notify:
              - {channel: webhook, url: "https://x.example/", method: GET}
              - {channel: slack, webhook_url: "https://hooks.example/x", icon: ":bell:"}
        """)

    errors = load_specs(tmp_path).errors

    assert [(e.file, e.alert, e.field) for e in errors] == [
        (str(path), "Poll", "notify.0.method"), (str(path), "Poll", "notify.1.icon")]
    assert "GET is not mapped" in errors[0].message


# -- names ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name, expected", [
    ("Low Daily Revenue", "low_daily_revenue"),
    ("daily_revenue_check", "daily_revenue_check"),
    ("HighErrorRate", "high_error_rate"),
    ("API Errors > 5%", "api_errors_5"),
    ("Umsatz Prüfung", "umsatz_prufung"),
    ("2024 Q1 targets", "alert_2024_q1_targets"),
    ("!!!", ""),
])
def test_slug(name, expected):
    assert slug(name) == expected


def test_slug_of_a_long_name_is_a_valid_stable_job_name():
    name = "Revenue of the EMEA region compared with the forecast of the finance team, daily"
    job = slug(name)
    assert len(job) <= 63 and job == slug(name) and job.startswith("revenue_of_the_emea")
    assert slug(name + " again") != job


def test_shape():
    assert is_sqlsentinel({"database": {"url": "sqlite://"}, "alerts": []})
    assert not is_sqlsentinel({"databases": {"demo": {"url": "sqlite://"}}})
    assert not is_sqlsentinel({"database": "demo"})
    assert not is_sqlsentinel(textwrap.dedent("database: {url: x}"))
