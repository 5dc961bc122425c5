"""LOG_FORMAT / LOG_LEVEL: JSON lines with alert, run id, outcome and duration; no secrets."""

from __future__ import annotations

import io
import json
import logging

import dagster as dg
import pytest
from click.testing import CliRunner

from sentinel_assets.cli.main import main
from sentinel_assets.observe import logs as logging_config
from sentinel_assets.observe.logs import LOGGER_NAME, configure_logging, redact
from sentinel_assets.orchestration.factory import build_sentinel_defs
from sentinel_assets_tests.health_helpers import make_db
from sentinel_assets_tests.helpers import write_specs


@pytest.fixture(autouse=True)
def restore_logger():
    """Give the sentinel logger back as it was: other tests rely on its defaults."""
    logger = logging.getLogger(LOGGER_NAME)
    saved = (list(logger.handlers), logger.level, logger.propagate)
    yield
    logger.handlers[:] = saved[0]
    logger.setLevel(saved[1])
    logger.propagate = saved[2]


def _lines(stream: io.StringIO) -> list[str]:
    return stream.getvalue().splitlines()


def test_json_lines_carry_the_structured_fields():
    stream = io.StringIO()
    configure_logging("json", "INFO", stream=stream)
    logging.getLogger("sentinel_assets.engine.evaluation").info(
        "alert %s evaluated: %s", "orders", "ALERT",
        extra={"alert": "orders", "run_id": "r-1", "outcome": "ALERT", "duration_ms": 12.5})
    (line,) = _lines(stream)
    record = json.loads(line)
    assert record["message"] == "alert orders evaluated: ALERT"
    assert record["level"] == "INFO" and record["logger"] == "sentinel_assets.engine.evaluation"
    assert (record["alert"], record["run_id"], record["outcome"], record["duration_ms"]) == \
        ("orders", "r-1", "ALERT", 12.5)
    assert record["ts"].endswith("+00:00")


def test_secrets_never_reach_a_log_line(monkeypatch):
    monkeypatch.setenv("SMTP_PASSWORD", "correct-horse-battery")
    stream = io.StringIO()
    configure_logging("json", "DEBUG", stream=stream)
    log = logging.getLogger("sentinel_assets.test")
    log.warning("cannot connect to postgresql+psycopg2://app:hunter2@db.internal/prod")
    log.warning("slack said no to xoxb-1234-abcd-efgh", extra={"channel": "Bearer abc.def.ghi"})
    log.error("login with correct-horse-battery failed; password=opensesame")
    try:
        raise RuntimeError("token=tok_987654 rejected")
    except RuntimeError:
        log.exception("delivery failed")
    text = stream.getvalue()
    for secret in ("hunter2", "xoxb-1234", "abc.def.ghi", "correct-horse-battery", "opensesame",
                   "tok_987654"):
        assert secret not in text
    assert "postgresql+psycopg2://app:***@db.internal/prod" in text
    assert "${SMTP_PASSWORD}" in text


def test_text_format_honours_the_level(monkeypatch):
    monkeypatch.setenv("LOG_FORMAT", "text")
    monkeypatch.setenv("LOG_LEVEL", "warning")
    stream = io.StringIO()
    configure_logging(stream=stream)
    log = logging.getLogger("sentinel_assets.test")
    log.info("not shown")
    log.warning("shown", extra={"alert": "orders"})
    (line,) = _lines(stream)
    assert line.endswith("WARNING sentinel_assets.test: shown alert=orders")


def test_nothing_changes_unless_asked(monkeypatch):
    monkeypatch.delenv("LOG_FORMAT", raising=False)
    monkeypatch.delenv("LOG_LEVEL", raising=False)
    assert configure_logging(only_if_requested=True) is None


def test_unknown_format_or_level_is_a_clear_error(monkeypatch):
    with pytest.raises(ValueError, match="LOG_FORMAT must be 'json' or 'text', got 'xml'"):
        configure_logging("xml")
    with pytest.raises(ValueError, match="LOG_LEVEL must be a level name"):
        configure_logging("json", "LOUD")
    monkeypatch.setenv("LOG_FORMAT", "yaml")
    result = CliRunner().invoke(main, ["healthcheck"])
    assert result.exit_code == 2
    assert "LOG_FORMAT must be 'json' or 'text', got 'yaml'" in result.output


def test_each_run_writes_one_json_line_per_evaluation(tmp_path, state_url, outbox, monkeypatch,
                                                       capsys):
    monkeypatch.setenv("LOG_FORMAT", "json")
    monkeypatch.setattr(logging_config, "_run_logging_done", False)  # as in a fresh run process
    url = make_db(tmp_path / "db.db")
    config = write_specs(tmp_path / "specs", f"""
databases: {{main: {{url: "{url}"}}}}
channels: {{outbox: {{type: log}}}}
alerts:
  - {{name: metric_present, schedule: "0 * * * *", database: main, notify: [outbox],
     query: "SELECT value FROM metric", condition: {{column: value, op: ">", threshold: 0}}}}
""")
    job = build_sentinel_defs(config).get_job_def("metric_present")
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        result = job.execute_in_process(instance=instance)
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()
             if line.startswith("{") and '"outcome"' in line]
    assert len(lines) == 1
    line = lines[0]
    assert (line["alert"], line["run_id"], line["outcome"]) == \
        ("metric_present", result.run_id, "ALERT")
    assert line["duration_ms"] >= 0 and line["state"] == "OK->FIRING" and line["notices"] == 1


def test_redact_leaves_ordinary_text_alone():
    text = "alert orders_revenue_low: ALERT (value 500, threshold 10000)"
    assert redact(text) == text
