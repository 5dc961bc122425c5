"""Keep secrets (tokens, passwords, webhook URLs, signing secrets) out of text we show.

One ``redact`` for everything sentinel reports: channel errors, log lines, health details,
metrics labels. It masks

- secrets a channel resolved (``remember``, process-wide) and those passed in the call: ``***``;
- values of secret-looking environment variables (``*PASSWORD*``, ``*TOKEN*``, ...): ``${NAME}``;
- credentials recognisable by their shape: URL passwords, Slack tokens, bearer tokens,
  ``password=...``, Slack webhook paths.

The credentials of a URL are read from its raw text (``url_userinfo``), never from a parser: a
host never holds an ``@``, so they end at the URL's last ``@``, whatever un-encoded
``@ : / % # ?`` or spaces the password holds. SQLAlchemy splits at the first ``@`` instead and
would take the rest of such a password for the host.

Library exceptions and library log lines can quote a URL or a response, so a log filter on the
HTTP libraries' loggers scrubs the lines those libraries write on their own.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from urllib.parse import unquote, urlsplit

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
    # scheme://user:password@host -> scheme://user:***@host, through the last @ of the word
    # (an un-encoded @ in the password)
    (re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.\-]*://[^/\s:]*:)\S*(?P<tail>@)"),
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


def url_userinfo(url: str) -> tuple[int, int] | None:
    """Where the user information (``user:password``) of ``url`` is, as ``(start, end)``
    indices of its raw text, or None when it has none.

    It runs from ``://`` to the last ``@``: a host never holds an ``@``, and reading the raw
    text keeps an un-encoded ``@ : / # ?`` or space of the password inside it.
    """
    scheme_end = url.find("://")
    if scheme_end < 0:
        return None
    start = scheme_end + 3
    end = url.rfind("@", start)
    return (start, end) if end >= 0 else None


def url_password(url: str | None) -> str | None:
    """The password of ``url`` as written (percent-encoding and all), or None without one."""
    span = url_userinfo(url or "")
    if span is None:
        return None
    _user, colon, password = url[span[0]:span[1]].partition(":")
    return password if colon and password else None


# characters that end or split a URL's user information unless percent-encoded
_RESERVED = ("@", ":", "/", "#", "?", " ")
_LONE_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")


def unencoded_credentials(url: str) -> dict[str, list[str]]:
    """The un-encoded reserved characters (``@ : / % # ?`` and spaces) in the user and the
    password of ``url``: ``{"user": [...], "password": [...]}`` with the parts that have any.
    The values themselves are never returned."""
    span = url_userinfo(url)
    if span is None:
        return {}
    user, colon, password = url[span[0]:span[1]].partition(":")
    found = {}
    for part, text in (("user", user), ("password", password if colon else "")):
        chars = [c for c in _RESERVED if c in text and not (part == "user" and c == ":")]
        if _LONE_PERCENT.search(text):
            chars.append("%")
        if chars:
            found[part] = chars
    return found


def mask_url(url: str) -> str:
    """``url`` with its whole password masked: ``scheme://user:***@host/...``."""
    span = url_userinfo(url)
    if span is None:
        return url
    user, colon, _password = url[span[0]:span[1]].partition(":")
    return f"{url[:span[0]]}{user}:{MASK}{url[span[1]:]}" if colon else url


def encode_password_at(url: str) -> str:
    """``url`` with the ``@`` of its password percent-encoded when a parser that splits at the
    first ``@`` (SQLAlchemy) would otherwise take the rest of the password for the host."""
    span = url_userinfo(url)
    password = url_password(url)
    if span is None or password is None or "@" not in password:
        return url
    first_at = url.index("@", span[0])
    host = re.split(r"[/?]", url[first_at + 1:], maxsplit=1)[0]
    if "@" not in host:  # the extra @ is after the host (a query parameter): nothing to fix
        return url
    user = url[span[0]:span[1]].partition(":")[0]
    return f"{url[:span[0]]}{user}:{password.replace('@', '%40')}{url[span[1]:]}"


def url_origin(url: str) -> str:
    """``scheme://host[:port]`` of a URL: enough to say where, nothing that may be a secret."""
    span = url_userinfo(url)
    if span is not None:  # dropped first: an un-encoded / or ? in a password ends a parser's host
        url = url[:span[0]] + url[span[1] + 1:]
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
        parts += [f for f in password_forms(url_password(secret)) if len(f) >= _MIN_SECRET]
    return parts


def password_forms(password: str | None) -> list[str]:
    """A URL's password as written, decoded, and with its ``@`` encoded (as
    ``encode_password_at`` passes it on): every spelling a message may quote."""
    if not password:
        return []
    return list(dict.fromkeys((password, unquote(password), password.replace("@", "%40"))))
