"""Spec loading: YAML files in a directory become a SentinelConfig plus a list of every error."""

from __future__ import annotations

from datetime import timedelta

import pytest

from sentinel_assets.core.routing import Route
from sentinel_assets.spec.errors import SpecError
from sentinel_assets.spec.loader import load_specs, load_specs_from_dict
from sentinel_assets_tests.helpers import write_spec_file

BASE = """\
databases:
  demo: {url: "sqlite:///demo.db"}
  warehouse: {url: "${SENTINEL_TEST_WH_URL}"}
channels:
  outbox: {type: log}
  data_team: {type: slack, token: "${SENTINEL_TEST_SLACK_TOKEN}", channel: "#data"}
  oncall:
    type: email
    to: [oncall@example.com]
    smtp_host: localhost
    username: "${SENTINEL_TEST_SMTP_USER}"
    password: "${SENTINEL_TEST_SMTP_PASSWORD}"
  ops_hook:
    type: webhook
    url: "${SENTINEL_TEST_HOOK_URL}"
    secret: "${SENTINEL_TEST_HOOK_SECRET}"
    headers: {Authorization: "Bearer ${SENTINEL_TEST_HOOK_TOKEN}"}
  slack_hook: {type: slack, webhook_url: "${SENTINEL_TEST_SLACK_WEBHOOK}"}
defaults:
  database: demo
  timezone: Europe/Berlin
  notify: [outbox]
  tags: {team: data, severity: low}
"""

# an alert that is valid against BASE; broken variants below replace one of its lines
GOOD_ALERT = """\
  - name: {name}
    schedule: "0 9 * * *"
    query: SELECT 'OK' AS status
"""


def alerts_file(*alerts: str) -> str:
    return "alerts:\n" + "".join(alerts)


def good(name: str) -> str:
    return GOOD_ALERT.format(name=name)


def line_of(text: str, needle: str, after: str | None = None) -> int:
    """1-based number of the first line containing ``needle`` (at or after the line ``after``)."""
    lines = text.splitlines()
    start = 0 if after is None else next(i for i, ln in enumerate(lines) if after in ln)
    for number, line in enumerate(lines[start:], start=start + 1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in text")


def names(config) -> list[str]:
    return [a.name for a in config.alerts]


def real_errors(config) -> list[SpecError]:
    return [e for e in config.errors if not e.warning]


@pytest.fixture(autouse=True)
def _no_test_env(monkeypatch):
    for name in ("SENTINEL_TEST_SCHEMA", "SENTINEL_TEST_LIMIT", "SENTINEL_TEST_UNSET"):
        monkeypatch.delenv(name, raising=False)


# -- a valid directory ----------------------------------------------------------------------------
def test_a_valid_multi_file_directory_loads_every_alert(tmp_path):
    write_spec_file(tmp_path, "base.yaml", BASE)
    write_spec_file(tmp_path, "finance.yaml", """\
        alerts:
          - name: orders_revenue_low
            description: Yesterday's revenue is below 10k
            owner: data_team
            tags: {team: finance, severity: high}
            schedule: "0 9 * * *"
            timezone: UTC
            database: warehouse
            query: |
              SELECT CASE WHEN SUM(amount) < 10000 THEN 'ALERT' ELSE 'OK' END AS status
              FROM orders
            notify: [data_team, {channel: ops_hook, on: [firing, resolved]}]
            for: 2
            repeat_interval: 4h
            send_resolved: false
            escalate: {after: 3, notify: [oncall]}
            timeout: 90s
            no_data: error
        """)
    write_spec_file(tmp_path, "teams/logistics.yml", """\
        alerts:
          - name: unshipped_orders
            schedule: "*/30 * * * *"
            query: SELECT COUNT(*) AS unshipped FROM orders
            condition: {column: unshipped, op: ">", threshold: 0}
        """)
    write_spec_file(tmp_path, "notes.txt", "not a spec: ignored")

    config = load_specs(tmp_path)

    assert config.errors == []
    assert names(config) == ["orders_revenue_low", "unshipped_orders"]
    assert sorted(config.databases) == ["demo", "warehouse"]
    assert sorted(config.channels) == ["data_team", "oncall", "ops_hook", "outbox", "slack_hook"]
    revenue = config.alert("orders_revenue_low")
    assert revenue.source_file.endswith("finance.yaml") and revenue.source_line == 2
    assert (revenue.database, revenue.timezone, revenue.owner) == ("warehouse", "UTC", "data_team")
    assert revenue.policy.for_count == 2
    assert revenue.policy.repeat_interval == timedelta(hours=4)
    assert revenue.policy.send_resolved is False
    assert revenue.policy.escalate_after == 3
    assert revenue.timeout == timedelta(seconds=90)
    assert revenue.judge_rules.no_data == "error"
    assert revenue.routing.notify == (
        Route("data_team"), Route("ops_hook", frozenset({"firing", "resolved"}))
    )
    assert revenue.routing.escalate == ("oncall",)
    assert revenue.channel_names == ["data_team", "ops_hook", "oncall"]
    unshipped = config.alert("unshipped_orders")
    assert unshipped.judge_rules.condition.op == ">"


def test_defaults_fill_in_what_an_alert_does_not_set(tmp_path):
    write_spec_file(tmp_path, "base.yaml", BASE)
    write_spec_file(tmp_path, "alerts.yaml", """\
        alerts:
          - name: inherits_everything
            schedule: "0 9 * * *"
            query: SELECT 'OK' AS status
          - name: sets_its_own
            schedule: "0 9 * * *"
            query: SELECT 'OK' AS status
            database: warehouse
            timezone: America/New_York
            notify: [data_team]
            tags: {severity: high, owner_team: growth}
        """)

    config = load_specs(tmp_path)

    assert config.errors == []
    inherits = config.alert("inherits_everything")
    assert (inherits.database, inherits.timezone) == ("demo", "Europe/Berlin")
    assert inherits.notify == ["outbox"]
    assert inherits.tags == {"team": "data", "severity": "low"}
    own = config.alert("sets_its_own")
    assert (own.database, own.timezone) == ("warehouse", "America/New_York")
    assert own.notify == ["data_team"]
    assert own.tags == {"team": "data", "severity": "high", "owner_team": "growth"}


def test_defaults_can_carry_schedule_owner_and_lifecycle_settings(tmp_path):
    write_spec_file(tmp_path, "a.yaml", """\
        databases: {demo: {url: "sqlite:///demo.db"}}
        channels: {outbox: {type: log}, owners: {type: log}}
        defaults:
          database: demo
          schedule: "*/5 * * * *"
          owner: owners
          notify: [{channel: outbox, on: [firing]}]
          send_resolved: false
          repeat_interval: 2h
          timeout: 30s
          no_data: alert
        alerts:
          - name: minimal
            query: SELECT 'OK' AS status
        """)

    config = load_specs(tmp_path)

    assert config.errors == []
    alert = config.alert("minimal")
    assert (alert.schedule, alert.owner) == ("*/5 * * * *", "owners")
    assert alert.routing.notify == (Route("outbox", frozenset({"firing"})),)
    assert alert.policy.send_resolved is False
    assert alert.policy.repeat_interval == timedelta(hours=2)
    assert alert.timeout == timedelta(seconds=30)
    assert alert.no_data == "alert"


def test_on_key_is_read_as_a_string_not_as_yaml_boolean(tmp_path):
    write_spec_file(tmp_path, "base.yaml", BASE)
    write_spec_file(tmp_path, "a.yaml", """\
        alerts:
          - name: with_on
            schedule: "0 9 * * *"
            query: SELECT 'OK' AS status
            notify:
              - channel: ops_hook
                on: [resolved]
              - {channel: outbox, on: [firing, error]}
            enabled: false
        """)

    config = load_specs(tmp_path)

    assert config.errors == []
    alert = config.alert("with_on")
    assert [(e.channel, e.on) for e in alert.notify] == [
        ("ops_hook", ["resolved"]), ("outbox", ["firing", "error"])
    ]
    assert alert.enabled is False


def test_a_single_on_kind_and_a_single_notify_channel_may_be_written_without_a_list(tmp_path):
    write_spec_file(tmp_path, "base.yaml", BASE)
    write_spec_file(tmp_path, "a.yaml", """\
        alerts:
          - name: short_forms
            schedule: "0 9 * * *"
            query: SELECT 'OK' AS status
            notify: data_team
            escalate: {after: 1, notify: oncall}
          - name: short_on
            schedule: "0 9 * * *"
            query: SELECT 'OK' AS status
            notify: [{channel: ops_hook, on: resolved}]
            tags: {priority: 1, paging: true}
        """)

    config = load_specs(tmp_path)

    assert config.errors == []
    assert config.alert("short_forms").channel_names == ["data_team", "oncall"]
    assert config.alert("short_on").notify[0].on == ["resolved"]
    assert config.alert("short_on").tags["priority"] == "1"


# -- environment variables ------------------------------------------------------------------------
def test_env_vars_are_substituted_with_defaults(tmp_path, monkeypatch):
    monkeypatch.setenv("SENTINEL_TEST_SCHEMA", "analytics")
    write_spec_file(tmp_path, "base.yaml", BASE)
    write_spec_file(tmp_path, "a.yaml", """\
        alerts:
          - name: uses_env
            description: "rows in ${SENTINEL_TEST_SCHEMA}"
            schedule: "0 9 * * *"
            query: SELECT n FROM ${SENTINEL_TEST_SCHEMA}.orders LIMIT ${SENTINEL_TEST_LIMIT:-100}
            condition: {column: n, op: ">", threshold: "${SENTINEL_TEST_LIMIT:-5}"}
        """)

    config = load_specs(tmp_path)

    assert config.errors == []
    alert = config.alert("uses_env")
    assert alert.query == "SELECT n FROM analytics.orders LIMIT 100"
    assert alert.description == "rows in analytics"
    assert alert.condition.threshold == "5"


def test_secret_fields_keep_their_env_var_references(tmp_path, monkeypatch):
    for var in ("WH_URL", "SLACK_TOKEN", "SMTP_USER", "SMTP_PASSWORD", "HOOK_URL", "HOOK_SECRET",
                "HOOK_TOKEN", "SLACK_WEBHOOK"):
        monkeypatch.setenv(f"SENTINEL_TEST_{var}", f"https://leaked-{var.lower()}")
    write_spec_file(tmp_path, "base.yaml", BASE)

    config = load_specs(tmp_path)

    assert config.errors == []
    assert config.databases["warehouse"].url == "${SENTINEL_TEST_WH_URL}"
    assert config.channels["data_team"].token == "${SENTINEL_TEST_SLACK_TOKEN}"
    assert config.channels["oncall"].username == "${SENTINEL_TEST_SMTP_USER}"
    assert config.channels["oncall"].password == "${SENTINEL_TEST_SMTP_PASSWORD}"
    assert config.channels["ops_hook"].url == "${SENTINEL_TEST_HOOK_URL}"
    assert config.channels["ops_hook"].secret == "${SENTINEL_TEST_HOOK_SECRET}"
    assert config.channels["ops_hook"].headers == {
        "Authorization": "Bearer ${SENTINEL_TEST_HOOK_TOKEN}"
    }
    assert config.channels["slack_hook"].webhook_url == "${SENTINEL_TEST_SLACK_WEBHOOK}"
    assert "leaked" not in repr(config)


def test_unset_secret_vars_are_not_load_errors(tmp_path):
    # secrets are resolved where they are used (dg.EnvVar); `sentinel validate` warns about them
    write_spec_file(tmp_path, "base.yaml", BASE)

    assert load_specs(tmp_path).errors == []


def test_unset_var_in_a_non_secret_field_names_file_alert_field_and_line(tmp_path):
    write_spec_file(tmp_path, "base.yaml", BASE)
    text = alerts_file(
        good("first"),
        """\
  - name: needs_schema
    schedule: "0 9 * * *"
    query: SELECT 1 AS n FROM ${SENTINEL_TEST_SCHEMA}.orders
""",
        good("last"),
    )
    write_spec_file(tmp_path, "a.yaml", text)

    config = load_specs(tmp_path)

    assert names(config) == ["first", "last"]
    [error] = config.errors
    query_line = line_of(text, "query: SELECT 1")
    assert (error.alert, error.field, error.line) == ("needs_schema", "query", query_line)
    assert str(error) == (
        f"{tmp_path / 'a.yaml'}:{error.line}: alert 'needs_schema', field 'query': environment "
        "variable SENTINEL_TEST_SCHEMA is not set (or is empty); set it, or write "
        "${SENTINEL_TEST_SCHEMA:-default} to give a default"
    )


def test_unset_var_in_a_channel_names_the_channel_and_the_field(tmp_path):
    text = """\
        channels:
          mail:
            type: email
            to: ["${SENTINEL_TEST_UNSET}"]
            smtp_host: localhost
        """
    path = write_spec_file(tmp_path, "a.yaml", text)

    config = load_specs(tmp_path)

    [error] = config.errors
    assert str(error).startswith(f"{path}:4: channel 'mail', field 'to.0': environment variable "
                                 "SENTINEL_TEST_UNSET is not set")
    assert config.channels == {}


# -- one broken alert among valid ones ------------------------------------------------------------
BROKEN_ALERTS = [
    pytest.param(
        """\
  - name: broken
    schedule: "61 9 * * *"
    query: SELECT 1
""",
        "schedule", 'schedule: "61',
        "invalid cron expression '61 9 * * *'; a field is out of range or malformed: minute "
        "0-59, hour 0-23",
        id="invalid-cron",
    ),
    pytest.param(
        """\
  - name: broken
    schedule: every day
    query: SELECT 1
""",
        "schedule", "schedule: every",
        "invalid cron expression 'every day'; expected five fields like '0 9 * * *' (minute "
        "hour day-of-month month day-of-week) or a shortcut like @daily",
        id="cron-in-words",
    ),
    pytest.param(
        """\
  - name: broken
    schedule: "0 9 * * *"
    timezone: Mars/Olympus
    query: SELECT 1
""",
        "timezone", "timezone:",
        "unknown timezone 'Mars/Olympus'; expected an IANA name like 'UTC' or 'Europe/Berlin'",
        id="invalid-timezone",
    ),
    pytest.param(
        """\
  - name: Broken-Name
    schedule: "0 9 * * *"
    query: SELECT 1
""",
        "name", "name: Broken",
        "invalid alert name 'Broken-Name'; expected lower-case letters, digits and underscores",
        id="invalid-name",
    ),
    pytest.param(
        """\
  - name: broken
    shedule: "0 9 * * *"
    query: SELECT 1
""",
        "shedule", "shedule:",
        "unknown key 'shedule'; did you mean 'schedule'?",
        id="unknown-key-did-you-mean",
    ),
    pytest.param(
        """\
  - name: broken
    schedule: "0 9 * * *"
    query: SELECT 1
    colour: red
""",
        "colour", "colour:",
        "unknown key 'colour'; expected one of: name, title, description",
        id="unknown-key-lists-the-keys",
    ),
    pytest.param(
        """\
  - name: broken
    schedule: "0 9 * * *"
""",
        "query", "name: broken",
        "is required",
        id="missing-query",
    ),
    pytest.param(
        """\
  - name: broken
    schedule: "0 9 * * *"
    query:
""",
        "query", "query:",
        "has no value; expected text",
        id="empty-query",
    ),
    pytest.param(
        """\
  - name: broken
    query: SELECT 1
""",
        "schedule", "name: broken",
        "is required, here or in defaults.schedule",
        id="missing-schedule",
    ),
    pytest.param(
        """\
  - name: broken
    schedule: "0 9 * * *"
    query: SELECT 1
    database: warehous
""",
        "database", "database: warehous",
        "database 'warehous' is not defined; did you mean 'warehouse'? defined: demo, warehouse",
        id="unknown-database",
    ),
    pytest.param(
        """\
  - name: broken
    schedule: "0 9 * * *"
    query: SELECT 1
    notify: [outbx]
""",
        "notify", "notify:",
        "channel 'outbx' is not defined; did you mean 'outbox'? defined: data_team, oncall, "
        "ops_hook, outbox, slack_hook",
        id="unknown-channel",
    ),
    pytest.param(
        """\
  - name: broken
    schedule: "0 9 * * *"
    query: SELECT 1
    owner: data_tem
""",
        "owner", "owner:",
        "channel 'data_tem' is not defined; did you mean 'data_team'?",
        id="unknown-owner",
    ),
    pytest.param(
        """\
  - name: broken
    schedule: "0 9 * * *"
    query: SELECT 1
    escalate: {after: 2, notify: [on_call]}
""",
        "escalate.notify", "escalate:",
        "channel 'on_call' is not defined; did you mean 'oncall'?",
        id="unknown-escalation-channel",
    ),
    pytest.param(
        """\
  - name: broken
    schedule: "0 9 * * *"
    query: SELECT 1
    notify:
      - channel: ops_hook
        on: [firing, resolvd]
""",
        "notify.0.on.1", "on: [firing",
        "expected one of 'firing', 'repeat', 'resolved', 'escalation', 'error' or "
        "'error_resolved', got 'resolvd'; did you mean 'resolved'?",
        id="unknown-notice-kind",
    ),
    pytest.param(
        """\
  - name: broken
    schedule: "0 9 * * *"
    query: SELECT 1
    notify: [{chanel: ops_hook}]
""",
        "notify.0.chanel", "notify:",
        "unknown key 'chanel'; did you mean 'channel'?",
        id="notify-entry-unknown-key",
    ),
    pytest.param(
        """\
  - name: broken
    schedule: "0 9 * * *"
    query: SELECT 1
    notify: [outbox, 42]
""",
        "notify.1", "notify:",
        "expected a channel name or a mapping like {channel: NAME, on: [firing, resolved]}, got 42",
        id="notify-entry-of-wrong-type",
    ),
    pytest.param(
        """\
  - name: broken
    schedule: "0 9 * * *"
    query: SELECT 1
    condition: {colum: total, op: "<", threshold: 10}
""",
        "condition.colum", "condition:",
        "unknown key 'colum'; did you mean 'column'?",
        id="condition-unknown-key",
    ),
    pytest.param(
        """\
  - name: broken
    schedule: "0 9 * * *"
    query: SELECT 1
    condition:
      column: total
      op: "="
      threshold: 10
""",
        "condition.op", "op:",
        "expected one of '<', '<=', '>', '>=', '==' or '!=', got '='; did you mean '=='?",
        id="condition-unknown-op",
    ),
    pytest.param(
        """\
  - name: broken
    schedule: "0 9 * * *"
    query: SELECT 1
    condition: {column: total, op: "<", threshold: [10]}
""",
        "condition.threshold", "condition:",
        "expected a number or text, got [10]",
        id="condition-threshold-of-wrong-type",
    ),
    pytest.param(
        """\
  - name: broken
    schedule: "0 9 * * *"
    query: SELECT 1
    for: 0
""",
        "for", "for: 0",
        "must be at least 1, got 0",
        id="for-zero",
    ),
    pytest.param(
        """\
  - name: broken
    schedule: "0 9 * * *"
    query: SELECT 1
    repeat_interval: 4 hours
""",
        "repeat_interval", "repeat_interval:",
        "expected a duration like '90s', '15m', '4h' or '1h30m', got '4 hours'",
        id="bad-duration",
    ),
    pytest.param(
        """\
  - name: broken
    schedule: "0 9 * * *"
    query: SELECT 1
    enabled: maybe
""",
        "enabled", "enabled:",
        "expected true or false, got 'maybe'",
        id="bad-boolean",
    ),
    pytest.param(
        """\
  - name: broken
    schedule: "0 9 * * *"
    query: SELECT 1
    no_data: nothing
""",
        "no_data", "no_data:",
        "expected one of 'ok', 'alert' or 'error', got 'nothing'",
        id="bad-no-data",
    ),
    pytest.param(
        """\
  - name: broken
    schedule: "0 9 * * *"
    query: SELECT 1
    escalate: oncall
""",
        "escalate", "escalate:",
        "expected a mapping like {after: 3, notify: [oncall]}, got 'oncall'",
        id="escalate-not-a-mapping",
    ),
    pytest.param(
        """\
  - name: broken
    schedule: "0 9 * * *"
    query: SELECT 1
    query: SELECT 2
""",
        "query", "query: SELECT 2",
        "duplicate key 'query' (first at line",
        id="duplicate-yaml-key",
    ),
]


@pytest.mark.parametrize(("broken", "field", "line_marker", "message"), BROKEN_ALERTS)
def test_one_broken_alert_is_reported_and_the_others_still_load(
    tmp_path, broken, field, line_marker, message
):
    write_spec_file(tmp_path, "base.yaml", BASE)
    text = alerts_file(good("first"), broken, good("last"))
    path = write_spec_file(tmp_path, "team.yaml", text)

    config = load_specs(tmp_path)

    assert names(config) == ["first", "last"]
    errors = real_errors(config)
    assert len(errors) == 1, [str(e) for e in errors]
    [error] = errors
    alert = "Broken-Name" if "Broken-Name" in broken else "broken"
    expected_line = line_of(text, line_marker, after=f"name: {alert}")
    assert (error.file, error.alert, error.field, error.line) == (
        str(path), alert, field, expected_line
    )
    assert str(error).startswith(
        f"{path}:{expected_line}: alert '{alert}', field '{field}': {message}"
    )


def test_every_error_of_a_file_is_listed_not_just_the_first(tmp_path):
    write_spec_file(tmp_path, "base.yaml", BASE)
    broken = [p.values[0].replace("name: broken", f"name: broken_{i}")
              for i, p in enumerate(BROKEN_ALERTS) if "Broken-Name" not in p.values[0]]
    text = alerts_file(good("first"), *broken, good("last"))
    write_spec_file(tmp_path, "team.yaml", text)

    config = load_specs(tmp_path)

    assert names(config) == ["first", "last"]
    reported = {e.alert for e in real_errors(config)}
    assert reported == {f"broken_{i}" for i, p in enumerate(BROKEN_ALERTS)
                        if "Broken-Name" not in p.values[0]}


def test_an_alert_with_several_problems_reports_each_of_them(tmp_path):
    write_spec_file(tmp_path, "base.yaml", BASE)
    text = alerts_file("""\
  - name: many_problems
    schedule: "61 9 * * *"
    timezone: Nowhere/Town
    query: SELECT 1
    database: nope
    notify: [nobody]
    for: 0
""")
    write_spec_file(tmp_path, "a.yaml", text)

    config = load_specs(tmp_path)

    assert {(e.field, e.line) for e in config.errors} == {
        ("schedule", 3), ("timezone", 4), ("database", 6), ("notify", 7), ("for", 8)
    }


def test_messages_read_as_sentences_without_pydantic_wording(tmp_path):
    write_spec_file(tmp_path, "base.yaml", BASE)
    text = alerts_file(*(p.values[0].replace("name: broken", f"name: broken_{i}")
                         for i, p in enumerate(BROKEN_ALERTS)))
    write_spec_file(tmp_path, "a.yaml", text)

    config = load_specs(tmp_path)

    assert config.errors
    for error in config.errors:
        text = str(error)
        for noise in ("Input should", "Field required", "Value error", "Extra inputs",
                      "NotifyEntry", ".str", "function-", "[", "EscalateSpec"):
            if noise == "[" and "[" in error.message:
                continue  # examples like [oncall] are fine in the message, not in the field
            assert noise not in (error.field or "") + " " + error.message.split(", got")[0], text


# -- names across files ---------------------------------------------------------------------------
def test_duplicate_alert_names_across_files_name_both_places(tmp_path):
    write_spec_file(tmp_path, "base.yaml", BASE)
    first = write_spec_file(tmp_path, "a.yaml", alerts_file(good("other"), good("orders_late")))
    second = write_spec_file(tmp_path, "b.yaml", alerts_file(good("orders_late")))

    config = load_specs(tmp_path)

    assert names(config) == ["other", "orders_late"]
    assert config.alert("orders_late").source_file == str(first)
    [error] = config.errors
    assert (error.file, error.line, error.alert, error.field) == (str(second), 2, "orders_late",
                                                                   "name")
    assert f"already used at {first}:5" in error.message


def test_duplicate_database_across_files_names_both_places(tmp_path):
    first = write_spec_file(tmp_path, "a.yaml", "databases:\n  demo: {url: 'sqlite:///a.db'}\n")
    second = write_spec_file(tmp_path, "b.yaml", "databases:\n  demo: {url: 'sqlite:///b.db'}\n")

    config = load_specs(tmp_path)

    [error] = config.errors
    assert str(error) == (f"{second}:2: database 'demo': database 'demo' is already defined at "
                          f"{first}:2")
    assert config.databases["demo"].url == "sqlite:///a.db"


# -- files that cannot be read --------------------------------------------------------------------
def test_yaml_syntax_error_names_file_and_line_and_other_files_still_load(tmp_path):
    write_spec_file(tmp_path, "base.yaml", BASE)
    write_spec_file(tmp_path, "good.yaml", alerts_file(good("fine")))
    path = write_spec_file(tmp_path, "broken.yaml", """\
        alerts:
          - name: unclosed
            schedule: "0 9 * * *"
            query: [SELECT 1
        """)

    config = load_specs(tmp_path)

    assert names(config) == ["fine"]
    [error] = config.errors
    assert error.file == str(path)
    assert error.line == 5
    assert error.message.startswith("invalid YAML: ")
    assert error.message.endswith("; the file was not loaded")


def test_tab_indentation_is_a_yaml_error_with_a_line(tmp_path):
    path = write_spec_file(tmp_path, "a.yaml", "alerts:\n  - name: x\n\tschedule: '0 9 * * *'\n")

    [error] = load_specs(tmp_path).errors

    assert (error.file, error.line) == (str(path), 3)


def test_duplicate_top_level_key_is_reported_with_its_line(tmp_path):
    path = write_spec_file(tmp_path, "a.yaml", "alerts: []\nchannels: {}\nalerts: []\n")

    [error] = load_specs(tmp_path).errors

    assert str(error) == (f"{path}:3: field 'alerts': duplicate key 'alerts' (first at line 1); "
                          "the file was not loaded")


def test_duplicate_key_does_not_hide_the_other_errors_of_the_alert(tmp_path):
    write_spec_file(tmp_path, "base.yaml", BASE)
    text = alerts_file("""\
  - name: twice
    schedule: "0 9 * * *"
    schedule: "0 10 * * *"
    timezone: Nowhere/Town
""", good("fine"))
    write_spec_file(tmp_path, "a.yaml", text)

    config = load_specs(tmp_path)

    assert names(config) == ["fine"]
    assert [(e.alert, e.field, e.line) for e in config.errors] == [
        ("twice", "schedule", 4), ("twice", "query", 2), ("twice", "timezone", 5)
    ]


def test_errors_of_one_alert_are_listed_in_line_order(tmp_path):
    write_spec_file(tmp_path, "base.yaml", BASE)
    text = alerts_file("""\
  - name: unordered
    schedule: "0 9 * * *"
    query: SELECT 1
    for: 0
    repeat_interval: soon
    condition: {column: x, op: "~", threshold: 1}
""")
    write_spec_file(tmp_path, "a.yaml", text)

    config = load_specs(tmp_path)

    assert [e.field for e in config.errors] == ["for", "repeat_interval", "condition.op"]


def test_duplicate_key_in_a_channel_names_the_channel(tmp_path):
    write_spec_file(tmp_path, "a.yaml", """\
        channels:
          outbox: {type: log}
          mail:
            type: email
            to: [a@example.com]
            smtp_host: localhost
            smtp_host: other
        """)

    config = load_specs(tmp_path)

    [error] = config.errors
    assert (error.section, error.field, error.line) == ("channel 'mail'", "smtp_host", 7)
    assert list(config.channels) == ["outbox"]


def test_unknown_top_level_key_suggests_the_section(tmp_path):
    path = write_spec_file(tmp_path, "a.yaml", "alert:\n  - name: x\n")

    [error] = load_specs(tmp_path).errors

    assert str(error) == (f"{path}:1: field 'alert': unknown top-level key 'alert'; did you mean "
                          "'alerts'? expected databases, channels, defaults or alerts")


def test_a_file_that_is_not_a_mapping_is_an_error(tmp_path):
    path = write_spec_file(tmp_path, "a.yaml", "- name: x\n")

    [error] = load_specs(tmp_path).errors

    assert (error.file, error.line) == (str(path), 1)
    assert "expected a mapping with databases, channels, defaults and alerts" in error.message


def test_an_empty_file_is_fine(tmp_path):
    write_spec_file(tmp_path, "empty.yaml", "")
    write_spec_file(tmp_path, "a.yaml", BASE + alerts_file(good("fine")))

    config = load_specs(tmp_path)

    assert config.errors == []
    assert names(config) == ["fine"]


def test_a_missing_directory_is_an_error_and_an_empty_one_a_warning(tmp_path):
    missing = load_specs(tmp_path / "nope")
    empty = load_specs(tmp_path)

    assert [e.warning for e in missing.errors] == [False]
    assert "does not exist" in missing.errors[0].message
    assert [e.warning for e in empty.errors] == [True]
    assert "no *.yaml or *.yml files found" in empty.errors[0].message


def test_specs_dir_comes_from_the_environment(tmp_path, monkeypatch):
    write_spec_file(tmp_path, "a.yaml", BASE + alerts_file(good("from_env")))
    monkeypatch.setenv("SENTINEL_SPECS_DIR", str(tmp_path))

    assert names(load_specs()) == ["from_env"]


# -- databases and channels -----------------------------------------------------------------------
def test_channel_type_typo_suggests_the_type(tmp_path):
    path = write_spec_file(tmp_path, "a.yaml", "channels:\n  team:\n    type: slak\n    token: x\n")

    [error] = load_specs(tmp_path).errors

    assert str(error) == (f"{path}:3: channel 'team', field 'type': type must be one of log, "
                          "slack, email, webhook, got 'slak'; did you mean 'slack'?")


def test_channel_errors_name_the_channel_field_and_line(tmp_path):
    path = write_spec_file(tmp_path, "a.yaml", """\
        channels:
          mail:
            type: email
            to: []
            smtp_host: localhost
            smtp_port: twenty-five
          hook: {type: webhook}
        """)

    config = load_specs(tmp_path)

    assert sorted(str(e) for e in config.errors) == sorted([
        f"{path}:4: channel 'mail', field 'to': must list at least 1 item, got none",
        f"{path}:6: channel 'mail', field 'smtp_port': expected a whole number, got 'twenty-five'",
        f"{path}:7: channel 'hook', field 'url': is required",
    ])


def test_database_without_a_url_scheme_is_an_error(tmp_path):
    path = write_spec_file(tmp_path, "a.yaml", "databases:\n  demo: {url: demo.db}\n")

    [error] = load_specs(tmp_path).errors

    assert str(error).startswith(f"{path}:2: database 'demo': url must be a SQLAlchemy URL")


def test_an_alert_using_a_broken_database_points_at_its_error(tmp_path):
    write_spec_file(tmp_path, "a.yaml", """\
        databases:
          demo: {url: demo.db}
        channels: {outbox: {type: log}}
        alerts:
          - name: uses_broken_db
            schedule: "0 9 * * *"
            database: demo
            notify: [outbox]
            query: SELECT 1
        """)

    config = load_specs(tmp_path)

    assert [e.message for e in config.errors if e.alert] == [
        "database 'demo' is invalid (see its error)"
    ]


def test_unknown_default_database_is_an_error_in_defaults(tmp_path):
    path = write_spec_file(tmp_path, "a.yaml", "databases: {demo: {url: 'sqlite:///x.db'}}\n"
                 "defaults: {database: dmeo}\n")

    [error] = load_specs(tmp_path).errors

    assert str(error) == (f"{path}:2: defaults, field 'database': unknown database 'dmeo'; did you "
                          "mean 'demo'? defined: demo")


def test_conflicting_defaults_in_two_files_name_both_places(tmp_path):
    first = write_spec_file(tmp_path, "a.yaml", "defaults:\n  timezone: UTC\n")
    second = write_spec_file(tmp_path, "b.yaml", "defaults:\n  timezone: Europe/Berlin\n")

    [error] = load_specs(tmp_path).errors

    assert str(error) == (f"{second}:2: defaults, field 'timezone': defaults.timezone is already "
                          f"set to 'UTC' at {first}:2; set it in one file only")


def test_a_defaults_error_names_the_file_that_holds_the_key(tmp_path):
    write_spec_file(tmp_path, "a.yaml", "defaults:\n  database: demo\n"
          "databases: {demo: {url: 'sqlite:///x.db'}}\n")
    second = write_spec_file(tmp_path, "b.yaml", "defaults:\n  timezone: Mars/Base\n")

    [error] = load_specs(tmp_path).errors

    assert (error.file, error.line, error.field) == (str(second), 2, "timezone")


def test_one_bad_default_does_not_take_the_other_defaults_away(tmp_path):
    path = write_spec_file(tmp_path, "base.yaml", """\
        databases: {demo: {url: "sqlite:///x.db"}}
        channels: {outbox: {type: log}}
        defaults:
          database: demo
          notify: [outbox]
          no_data: maybe
          shedule: "0 * * * *"
        """)
    write_spec_file(tmp_path, "a.yaml", alerts_file(good("fine")))

    config = load_specs(tmp_path)

    assert [str(e) for e in config.errors] == [
        f"{path}:6: defaults, field 'no_data': expected one of 'ok', 'alert' or 'error', got "
        "'maybe'",
        f"{path}:7: defaults, field 'shedule': unknown key 'shedule'; did you mean 'schedule'?",
    ]
    assert [(a.name, a.database, a.notify) for a in config.alerts] == [("fine", "demo", ["outbox"])]


def test_an_entry_that_is_not_a_mapping_is_reported_at_its_line(tmp_path):
    path = write_spec_file(tmp_path, "a.yaml", "databases:\n  demo: {url: 'sqlite:///x.db'}\n  other: 5\n")

    config = load_specs(tmp_path)

    assert [str(e) for e in config.errors] == [
        f"{path}:3: database 'other': expected a mapping, got 5"
    ]
    assert list(config.databases) == ["demo"]


def test_inherited_unknown_channel_says_it_comes_from_defaults(tmp_path):
    base = write_spec_file(tmp_path, "base.yaml", """\
        databases: {demo: {url: "sqlite:///x.db"}}
        channels: {outbox: {type: log}}
        defaults:
          database: demo
          notify: [outbx]
        """)
    write_spec_file(tmp_path, "a.yaml", alerts_file(good("inherits")))

    [error] = load_specs(tmp_path).errors

    assert error.alert == "inherits"
    assert error.message == (f"channel 'outbx' (from defaults.notify at {base}:5) is not defined; "
                             "did you mean 'outbox'? defined: outbox")


# -- warnings -------------------------------------------------------------------------------------
def test_escalation_that_can_never_happen_is_a_warning(tmp_path):
    write_spec_file(tmp_path, "base.yaml", BASE)
    text = alerts_file("""\
  - name: never_escalates
    schedule: "0 9 * * *"
    query: SELECT 1
    escalate: {after: 3, notify: [oncall]}
""")
    path = write_spec_file(tmp_path, "a.yaml", text)

    config = load_specs(tmp_path)

    assert names(config) == ["never_escalates"]
    [warning] = config.errors
    assert warning.warning
    assert str(warning) == (
        f"{path}:5: alert 'never_escalates', field 'escalate.after': escalate.after is 3, but "
        "without repeat_interval only one notice (firing) is sent per episode, so the escalation "
        "never happens; set repeat_interval or escalate.after: 1"
    )


# -- inline specs (the Dagster Component) ----------------------------------------------------------
def test_inline_specs_from_plain_dicts_load_and_report_errors():
    config = load_specs_from_dict({
        "databases": {"demo": {"url": "sqlite:///demo.db"}},
        "channels": {"outbox": {"type": "log"}},
        "defaults": {"database": "demo", "notify": ["outbox"]},
        "alerts": [
            {"name": "inline_ok", "schedule": "0 9 * * *", "query": "SELECT 'OK' AS status"},
            {"name": "inline_bad", "schedule": "0 9 * * *"},
        ],
    }, source="defs.yaml")

    assert names(config) == ["inline_ok"]
    assert [str(e) for e in config.errors] == [
        "defs.yaml: alert 'inline_bad', field 'query': is required"
    ]
