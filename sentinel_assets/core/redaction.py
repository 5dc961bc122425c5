"""Keep secrets (tokens, passwords, webhook URLs, signing secrets) out of text we show.

One ``redact`` for everything sentinel reports: channel errors, log lines, health details,
metrics labels. It masks

- secrets a channel resolved (``remember``, process-wide) and those passed in the call: ``***``;
- values of secret-looking environment variables (``*PASSWORD*``, ``*TOKEN*``, ...): ``${NAME}``;
- credentials recognisable by their shape: URL passwords, Slack tokens, bearer tokens,
  ``password=...``, Slack webhook paths.

Library exceptions and library log lines can quote a URL or a response, so a log filter on the
HTTP libraries' loggers scrubs the lines those libraries write on their own.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from urllib.parse import urlsplit

MASK = "***"
# shorter values are too likely to occur by chance (and too weak to be worth a secret)
_MIN_SECRET = 6
_known: set[str] = set()
_known_lock = threading.Lock()
# loggers of libraries our channels use that may write a URL or a request line
LIBRARY_LOGGERS = (
    "urllib3.connectionpool",
    "urllib3.util.retry",
    "slack_sdk.web.base_client",
    "slack_sdk.webhook.client",
)


def remember(*secrets: str | None) -> None:
    """Register secret values (and a URL's path and query) to be masked from now on."""
    with _known_lock:
        for secret in secrets:
            for part in _parts(secret):
                _known.add(part)


_SECRET_ENV = re.compile(r"PASSWORD|PASSWD|TOKEN|SECRET|API_KEY|PRIVATE_KEY|WEBHOOK|CREDENTIAL",
                         re.IGNORECASE)
_PATTERNS = (
    # scheme://user:password@host -> scheme://user:***@host
    (re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.\-]*://[^/\s:@]*:)[^@\s/]+(?P<tail>@)"),
     r"\g<head>***\g<tail>"),
    (re.compile(r"xox[abposr]-[A-Za-z0-9\-]+"), "xox*-***"),
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._\-~+/=]+"), r"\1***"),
    (re.compile(r"(?i)((?:password|passwd|token|secret)\s*[=:]\s*)[^\s,;&'\"]+"), r"\1***"),
    (re.compile(r"hooks\.slack\.com/services/[A-Za-z0-9/]+"), "hooks.slack.com/services/***"),
)


def redact(text: str | None, *secrets: str | None) -> str | None:
    """``text`` with known secrets, ``secrets``, secret env values and credential shapes masked."""
    if not text:
        return text
    with _known_lock:
        candidates = set(_known)
    for secret in secrets:
        candidates.update(_parts(secret))
    # longest first, so a URL is masked whole before its path is
    for secret in sorted(candidates, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    for name, value in os.environ.items():
        if len(value) >= _MIN_SECRET and _SECRET_ENV.search(name) and value in text:
            text = text.replace(value, f"${{{name}}}")
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def url_origin(url: str) -> str:
    """``scheme://host[:port]`` of a URL: enough to say where, nothing that may be a secret."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "?"
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{host}{port}"
    except ValueError:
        return "<invalid url>"


class RedactingFilter(logging.Filter):
    """Masks known secrets in every record of the logger it is attached to."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken record is the logging system's business
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


_filter = RedactingFilter()


def guard_library_loggers() -> None:
    """Attach the redacting filter to the HTTP libraries' loggers (idempotent)."""
    for name in LIBRARY_LOGGERS:
        logger = logging.getLogger(name)
        if _filter not in logger.filters:
            logger.addFilter(_filter)


def _parts(secret: str | None) -> list[str]:
    if not secret or len(secret) < _MIN_SECRET:
        return []
    parts = [secret]
    if "://" in secret:
        try:
            split = urlsplit(secret)
        except ValueError:
            return parts
        tail = split.path + (f"?{split.query}" if split.query else "")
        if len(tail) >= _MIN_SECRET:
            parts.append(tail)
        if split.password and len(split.password) >= _MIN_SECRET:
            parts.append(split.password)
    return parts
