"""Logging for the CLI, the metrics exporter and runs: ``LOG_FORMAT=json|text`` and ``LOG_LEVEL``.

Everything sentinel logs goes through the ``sentinel_assets`` logger. ``configure_logging`` gives
it one stderr handler: ``text`` (the default) writes ``time level logger: message key=value``,
``json`` writes one JSON object per line with ``ts``, ``level``, ``logger``, ``message`` and, when
the record carries them, ``alert``, ``run_id``, ``outcome``, ``duration_ms`` (and a few more, see
``FIELDS``). Every line passes ``redact``: passwords in URLs, Slack tokens, bearer tokens and the
values of secret-looking environment variables never reach a log.

Runs log through Dagster (``context.log``, the event log) as before; with ``LOG_FORMAT`` or
``LOG_LEVEL`` set, each evaluation also writes one structured line to the run process's stderr
(``log_evaluation``). To see ``sentinel_assets`` lines in the Dagster UI as well, list the
logger under ``python_logs: managed_python_loggers`` in ``dagster.yaml``.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import datetime, timezone
from typing import IO, Any

from sentinel_assets.core.redaction import redact

LOGGER_NAME = "sentinel_assets"
FORMATS = ("text", "json")
# structured fields a record may carry (``extra=``); only these are written
FIELDS = ("alert", "run_id", "outcome", "duration_ms", "state", "notices", "check", "status",
          "channel", "kind", "path", "code")

_MARK = "_sentinel_handler"


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    found = {}
    for name in FIELDS:
        if hasattr(record, name):
            value = getattr(record, name)
            found[name] = redact(value) if isinstance(value, str) else value
    return found


class JsonFormatter(logging.Formatter):
    """One JSON object per line; structured fields from ``extra=`` become keys."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, tz=timezone.utc).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        data.update(_fields(record))
        if record.exc_info:
            data["error"] = redact(self.formatException(record.exc_info))
        return json.dumps(data, default=str)


class TextFormatter(logging.Formatter):
    """``time level logger: message key=value ...``, redacted."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extra = " ".join(f"{k}={v}" for k, v in _fields(record).items())
        return redact(f"{line} {extra}" if extra else line)


def configure_logging(
    fmt: str | None = None,
    level: str | None = None,
    *,
    stream: IO[str] | None = None,
    only_if_requested: bool = False,
) -> logging.Handler | None:
    """Give the ``sentinel_assets`` logger one stderr handler in the requested format.

    Args:
        fmt: ``text`` or ``json``; default ``$LOG_FORMAT``, else ``text``.
        level: a level name; default ``$LOG_LEVEL``, else ``INFO``.
        stream: where lines go (default stderr).
        only_if_requested: do nothing unless ``LOG_FORMAT`` or ``LOG_LEVEL`` is set (runs and
            the general CLI keep their usual output otherwise).

    Returns:
        The handler installed, or None when nothing was requested.

    Raises:
        ValueError: ``LOG_FORMAT`` or ``LOG_LEVEL`` holds something unknown.
    """
    env_fmt, env_level = os.environ.get("LOG_FORMAT"), os.environ.get("LOG_LEVEL")
    if only_if_requested and not (fmt or level or env_fmt or env_level):
        return None
    fmt = (fmt or env_fmt or "text").strip().lower()
    if fmt not in FORMATS:
        raise ValueError(f"LOG_FORMAT must be 'json' or 'text', got {fmt!r}")
    level_name = (level or env_level or "INFO").strip().upper()
    if not isinstance(logging.getLevelName(level_name), int):
        raise ValueError(f"LOG_LEVEL must be a level name like INFO or DEBUG, got {level_name!r}")
    logger = logging.getLogger(LOGGER_NAME)
    for old in [h for h in logger.handlers if getattr(h, _MARK, False)]:
        logger.removeHandler(old)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    setattr(handler, _MARK, True)
    logger.addHandler(handler)
    logger.setLevel(level_name)
    logger.propagate = False  # one line per record, not a second one from the root logger
    return handler


_run_logging_done = False


def log_evaluation(ev: Any, run_id: str | None) -> None:
    """One structured line per evaluation in a run (when ``LOG_FORMAT``/``LOG_LEVEL`` is set).

    Carries alert, run_id, outcome, duration_ms (from the evaluation's start to now), the state
    change and how many notices went out; never the query's rows or any credential.
    """
    global _run_logging_done
    if not _run_logging_done:
        _run_logging_done = True
        try:
            configure_logging(only_if_requested=True)
        except ValueError as exc:
            logging.getLogger(LOGGER_NAME).warning("%s; logging stays as it was", exc)
    started = ev.evaluated_at
    duration_ms = (datetime.now(timezone.utc) - started).total_seconds() * 1000
    logging.getLogger(f"{LOGGER_NAME}.evaluation").info(
        "alert %s evaluated: %s", ev.alert.name, ev.status,
        extra={
            "alert": ev.alert.name,
            "run_id": run_id,
            "outcome": ev.status,
            "duration_ms": round(duration_ms, 3),
            "state": f"{ev.previous.status}->{ev.state.status}",
            "notices": ev.notice_count,  # new ones and retried earlier ones
        },
    )
