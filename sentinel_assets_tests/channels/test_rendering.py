"""Message rendering: value formatting, defaults per channel and kind, overrides, validation."""

from __future__ import annotations

from dataclasses import replace

import pytest

from sentinel_assets.core.messages import (
    comparison,
    format_value,
    render,
    text_table,
)
from sentinel_assets.names import NOTICE_KINDS
from sentinel_assets_tests.helpers import notice_context, write_specs


@pytest.mark.parametrize("value, text", [
    (8512, "8,512"), (10000.0, "10,000"), (1234.5678, "1,234.57"), (0.000123, "0.000123"),
    (-5, "-5"), ("abc", "abc"), (True, "true"), (None, ""),
])
def test_values_are_formatted_for_people(value, text):
    assert format_value(value) == text


def test_comparison_says_how_the_value_relates_to_the_threshold():
    assert comparison(8512, 10000) == "8,512 < 10,000"
    assert comparison(12000.5, 10000) == "12,000.5 > 10,000"
    assert comparison("7", "7") == "7 = 7"
    assert comparison("late", 3) == ""
    assert comparison(None, 3) == ""


@pytest.mark.parametrize("kind, subject", [
    ("firing", "[FIRING] orders_revenue_low — 8,512 < 10,000"),
    ("repeat", "[STILL FIRING] orders_revenue_low — 8,512 < 10,000"),
    ("escalation", "[ESCALATED] orders_revenue_low — 8,512 < 10,000"),
    ("resolved", "[RESOLVED] orders_revenue_low — 8,512 < 10,000"),
])
def test_subject_names_the_kind_the_alert_and_the_value_against_the_threshold(kind, subject):
    assert render(notice_context(kind), "email").subject == subject


def test_error_subject_says_what_went_wrong():
    ctx = notice_context("error")
    ctx = replace(ctx, notice=replace(ctx.notice, value=None, threshold=None,
                                      message="query failed: no such table: orders"))
    assert render(ctx, "email").subject == \
        "[ERROR] orders_revenue_low — query failed: no such table: orders"


@pytest.mark.parametrize("channel_type", ["email", "slack", "webhook"])
@pytest.mark.parametrize("kind", NOTICE_KINDS)
def test_every_default_message_says_what_a_person_needs(channel_type, kind):
    body = render(notice_context(kind), channel_type).body
    assert kind in body
    assert "orders_revenue_low" in body and "Yesterday's revenue is below 10k" in body
    assert "8,512" in body and "10,000" in body
    assert "actual_value | threshold | orders" in body
    assert "team=finance" in body and "data_team" in body
    assert "http://dagster.local/runs/abcd1234" in body
    assert "sentinel silence orders_revenue_low --for 2h" in body


def test_run_link_is_left_out_without_a_webserver_url():
    ctx = replace(notice_context(), run_url=None)
    assert "Dagster run" not in render(ctx, "email").body


def test_text_table_truncates_long_cells_and_keeps_five_rows():
    rows = [{"id": i, "note": "x" * 50} for i in range(8)]
    lines = text_table(rows).splitlines()
    assert lines[0] == "id | note"
    assert len(lines) == 2 + 5
    assert lines[2].endswith("x…") and len(lines[2]) == len("0  | ") + 30


def test_html_escapes_and_slack_escapes_control_characters():
    ctx = replace(notice_context(), description="<b>rev</b> & co")
    assert "&lt;b&gt;rev&lt;/b&gt; &amp; co" in render(ctx, "email").html
    assert "&lt;b&gt;rev&lt;/b&gt; &amp; co" in render(ctx, "slack").body
    assert "<b>rev</b> & co" in render(ctx, "email").body  # the text part stays text


def test_most_specific_override_wins_alert_before_channel():
    channel = {"subject": "channel {{ kind }}", "resolved.subject": "channel resolved"}
    alert = {"firing.subject": "alert firing"}
    assert render(notice_context("firing", templates=alert), "slack", channel).subject == \
        "alert firing"
    assert render(notice_context("resolved", templates=alert), "slack", channel).subject == \
        "channel resolved"
    assert render(notice_context("repeat", templates=alert), "slack", channel).subject == \
        "channel repeat"
    assert render(notice_context("repeat"), "slack").subject.startswith("[STILL FIRING]")


def test_a_failing_override_falls_back_to_the_default_and_says_so():
    ctx = notice_context(templates={"subject": "{{ value + 'x' }}"})
    message = render(ctx, "email")
    assert message.subject == "[FIRING] orders_revenue_low — 8,512 < 10,000"
    assert len(message.problems) == 1
    assert "alert templates.subject failed (TypeError" in message.problems[0]


# -- validation at load time ----------------------------------------------------------------------
BASE = """
databases: {db: {url: "sqlite://"}}
channels:
  chat:
    type: slack
    token: xoxb-literal
    channel: "#a"
    templates: {CHANNEL_TEMPLATES}
  outbox: {type: log}
alerts:
  - name: revenue
    schedule: "0 9 * * *"
    database: db
    query: SELECT 'OK' AS status
    notify: [chat]
    templates: {ALERT_TEMPLATES}
"""


def specs(tmp_path, channel_templates="{}", alert_templates="{}"):
    return write_specs(tmp_path, BASE.replace("{CHANNEL_TEMPLATES}", channel_templates)
                       .replace("{ALERT_TEMPLATES}", alert_templates))


def test_valid_templates_give_no_errors(tmp_path):
    config = specs(tmp_path, '{subject: "{{ alert }} {{ value | number }}"}',
                   '{resolved.body: "{% for r in rows %}{{ r.status }}{% endfor %}"}')
    assert config.errors == []


def test_template_syntax_error_is_a_spec_error_with_file_alert_and_field(tmp_path):
    config = specs(tmp_path, alert_templates='{body: "{% if kind %}no end"}')
    [error] = config.errors
    assert error.file.endswith("specs.yaml") and error.alert == "revenue"
    assert error.field == "templates.body" and error.line == 11  # the alert's line
    assert "template syntax error on line 1 of the template" in error.message
    assert [a.name for a in config.alerts] == ["revenue"]  # the alert still runs, with defaults


def test_unknown_variable_in_a_channel_template_is_named(tmp_path):
    config = specs(tmp_path, channel_templates='{subject: "{{ alrt }}"}')
    [error] = config.errors
    assert error.section == "channel 'chat'" and error.field == "templates.subject"
    assert error.file.endswith("specs.yaml") and error.line == 4
    assert "unknown variable(s) alrt" in error.message and "alert" in error.message


def test_unknown_filter_and_unknown_template_name_are_spec_errors(tmp_path):
    config = specs(tmp_path, channel_templates='{html: "x", subject: "{{ alert | shout }}"}',
                   alert_templates='{firng.subject: "x"}')
    messages = sorted(f"{e.field}: {e.message}" for e in config.errors)
    assert len(messages) == 3
    assert messages[0].startswith("templates.firng.subject: unknown template name 'firng.subject'")
    assert messages[1].startswith("templates.html: unknown template name 'html'; expected "
                                  "subject or body")
    assert "No filter named 'shout'" in messages[2]


def test_template_that_cannot_render_is_a_spec_error(tmp_path):
    config = specs(tmp_path, alert_templates='{subject: "{{ value + \'x\' }}"}')
    [error] = config.errors
    assert "fails to render a firing notice: TypeError" in error.message


def test_templates_on_a_log_channel_are_a_spec_error(tmp_path):
    config = write_specs(tmp_path, """
        channels:
          outbox: {type: log, templates: {subject: "x"}}
        """)
    [error] = config.errors
    assert error.section == "channel 'outbox'" and error.field == "templates"
    assert "a log channel uses no templates" in error.message
