"""SQL Sentinel compatibility: its alert files load unchanged (docs/migrating-from-sql-sentinel.md).

A SQL Sentinel file (the format of the public project kyle-gehring/sqlsentinel) has one top-level
``database: {url: ...}`` for all its alerts, free-text alert names, and ``notify`` entries that
carry their own settings (``channel: email`` with ``recipients``; ``channel: slack`` with a
``webhook_url``; ``channel: webhook`` with ``url``, ``method``, ``headers``); SMTP settings and
the default Slack webhook come from the environment. ``SqlSentinelFiles.convert`` turns such a
document into a native one, keeping line numbers:

- the ``database`` becomes a named database (named after the file), shared by files with the
  same URL; a relative SQLite path stays relative, so it resolves against the working directory
  of the process that runs the query, as SQL Sentinel's did;
- each distinct notify entry becomes a named channel (identical entries share one, across
  files); SMTP_* and SLACK_WEBHOOK_URL become ``${VAR}`` references, so secrets still reach
  Dagster as ``dg.EnvVar``; settings of our own written in an entry win over the environment;
- a free-text name becomes a stable job name (``slug``), the original is kept as ``title``;
- an email ``subject`` with ``{alert_name}``-style placeholders becomes a Jinja2 template of
  the firing, repeat and escalation notices (the ones SQL Sentinel sent);
- ``no_data: error`` unless the alert says otherwise: SQL Sentinel failed on an empty result.

Everything it cannot map is a ``SpecError`` naming file, alert and field; the alert is left out.
"""

from __future__ import annotations

import hashlib
import os
import re
import string
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import parse_qs, urlsplit

from sentinel_assets.spec.channels import CHANNEL_SPECS
from sentinel_assets.spec.errors import SpecError, did_you_mean
from sentinel_assets.spec.yaml_lines import LineDict

#: the environment variables SQL Sentinel reads its notification settings from
SQLSENTINEL_ENV = ("SMTP_HOST", "SMTP_PORT", "SMTP_USERNAME", "SMTP_PASSWORD", "SMTP_USE_TLS",
                   "SMTP_FROM_ADDRESS", "SLACK_WEBHOOK_URL", "WEBHOOK_URL")
CHANNEL_KINDS = ("email", "slack", "webhook")
#: the keys of a notify entry in SQL Sentinel's format, by channel type
ENTRY_KEYS = {"email": ("recipients", "subject"),
              "slack": ("webhook_url", "channel", "username"),
              "webhook": ("url", "method", "headers")}
#: notices whose subject SQL Sentinel's ``subject`` becomes (it only ever told of ALERTs)
SUBJECT_KINDS = ("firing", "repeat", "escalation")
#: SQL Sentinel's subject placeholders, as template expressions
PLACEHOLDERS = {"alert_name": "{{ title }}", "status": "ALERT", "actual_value": "{{ value }}",
                "threshold": "{{ threshold }}"}
_NAME_LIMIT = 63
# SQL Sentinel's key -> ours, where a setting is only renamed
_NATIVE_KEY = {"recipients": "to"}
_BARE_VAR = re.compile(r"\$(?!\{)([A-Za-z_][A-Za-z0-9_]*)")
_LOOKS_COMPAT = re.compile(rb"(?m)^database\s*:")


def is_sqlsentinel(document: Any) -> bool:
    """A SQL Sentinel file by its shape: a top-level ``database:`` mapping with a ``url``."""
    if not isinstance(document, dict) or "databases" in document:
        return False
    database = document.get("database")
    return isinstance(database, dict) and "url" in database


def slug(name: str) -> str:
    """A free-text alert name as a job name: ``"Low Daily Revenue"`` -> ``low_daily_revenue``.

    Stable (the same name always gives the same slug); a name that is a valid job name already
    stays as it is; "" when the name holds no letter or digit.
    """
    text = unicodedata.normalize("NFKD", str(name)).encode("ascii", "ignore").decode()
    text = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", text)
    text = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")
    if text and not text[0].isalpha():
        text = f"alert_{text}"
    if len(text) > _NAME_LIMIT:
        digest = hashlib.sha256(str(name).encode()).hexdigest()[:8]
        text = f"{text[:_NAME_LIMIT - 9].rstrip('_')}_{digest}"
    return text


def compat_env_names(data: bytes) -> set[bytes]:
    """The environment variables a spec file's meaning depends on beyond its ``${VAR}``s: for a
    SQL Sentinel file, its notification settings and its bare ``$VAR``s (spec cache key)."""
    if not _LOOKS_COMPAT.search(data):
        return set()
    bare = {m.group(1).encode() for m in _BARE_VAR.finditer(data.decode("utf-8", "replace"))}
    return {n.encode() for n in SQLSENTINEL_ENV} | bare


def sqlite_path(url: str) -> Path | None:
    """The file a relative ``sqlite:///path`` URL opens from the current working directory."""
    match = re.match(r"^sqlite(?:\+\w+)?:///(?!/)([^?]+)", url.strip())
    if not match or match.group(1) == ":memory:":
        return None
    return Path.cwd() / match.group(1)


def describe(files: list[dict]) -> list[str]:
    """What ``sentinel validate`` says about the files it read in compatibility mode."""
    lines = []
    for f in files:
        count = len(f["alerts"])
        lines.append(f"{f['file']}: read as a SQL Sentinel file ({count} alert(s), database "
                     f"'{f['database']}', channels: {', '.join(f['channels']) or 'none'})")
        path = sqlite_path(f["url"])
        if path is not None:
            found = "" if path.is_file() else "; there is no such file there now"
            lines.append(f"  database '{f['database']}': the relative SQLite path in {f['url']} "
                         f"resolves against the working directory, as SQL Sentinel resolved it: "
                         f"{path}{found}")
        for alert in f["alerts"]:
            if alert["title"] != alert["name"]:
                lines.append(f"  alert {alert['title']!r} is the job {alert['name']!r}")
    return lines


def subject_template(subject: str) -> str:
    """SQL Sentinel's ``str.format`` subject as a Jinja2 template of ours.

    Raises:
        ValueError: an unknown placeholder, or a format spec or conversion (``{x:.2f}``).
    """
    parts: list[str] = []
    text = ""  # literal text since the last placeholder (``{{`` comes as a piece of its own)
    try:
        parsed = list(string.Formatter().parse(subject))
    except ValueError as exc:
        raise ValueError(f"the subject is not a valid format string: {exc}") from None
    for literal, name, spec, conversion in parsed:
        text += literal
        if name is None:
            continue
        parts.append(_jinja_literal(text))
        text = ""
        if name not in PLACEHOLDERS:
            raise ValueError(f"unknown placeholder {{{name}}} in the subject; SQL Sentinel "
                             f"fills {', '.join(PLACEHOLDERS)}"
                             + did_you_mean(name, list(PLACEHOLDERS)))
        if spec or conversion:
            raise ValueError(f"the placeholder {{{name}}} has a format spec or conversion, which "
                             "is not mapped; write it as a plain placeholder")
        parts.append(PLACEHOLDERS[name])
    return "".join(parts) + _jinja_literal(text)


def _jinja_literal(text: str) -> str:
    if not text:
        return ""
    if any(mark in text for mark in ("{{", "{%", "{#", "}}", "%}", "#}")):
        return "{% raw %}" + text + "{% endraw %}"
    return text


@dataclass
class CompatFile:
    """What one SQL Sentinel file became: shown by ``validate`` and ``sentinel migrate``."""

    file: str
    database: str
    url: str
    alerts: list[tuple[str, str]] = field(default_factory=list)  # (original name, job name)
    channels: list[str] = field(default_factory=list)  # names of the channels it uses
    defined: list[str] = field(default_factory=list)  # channels first defined by this file

    def as_dict(self) -> dict:
        return {"file": self.file, "database": self.database, "url": self.url,
                "alerts": [{"name": slugged, "title": title} for title, slugged in self.alerts],
                "channels": list(self.channels)}


class SqlSentinelFiles:
    """Converts the SQL Sentinel files of one load; shares databases and channels across them."""

    def __init__(self, environ: Mapping[str, str] | None = None):
        self.env = os.environ if environ is None else environ
        self.channels: dict[str, dict] = {}  # name -> settings
        self.databases: dict[str, str] = {}  # name -> url
        self.names: dict[str, tuple[str, str, int | None]] = {}  # slug -> (name, file, line)
        self.files: list[CompatFile] = []

    # -- one file ---------------------------------------------------------------------------
    def convert(self, document: LineDict, file: str, errors: list[SpecError]) -> LineDict:
        """The native document of a SQL Sentinel ``document``; problems go to ``errors``."""
        document = _bare_vars(document, self.env)
        raw_db = document["database"]
        where = {"section": "database", "line": _line_of(document, "database")}
        unknown = [k for k in raw_db if k != "url"]
        for key in unknown:
            errors.append(SpecError(file, f"unknown key {key!r} in database; SQL Sentinel's "
                                    "database has only url", field=f"database.{key}", **where))
        url = raw_db.get("url")
        db_name = self._database_name(file, url)
        report = CompatFile(file=file, database=db_name, url=str(url))
        self.files.append(report)
        native = LineDict()
        native.line, native.key_lines = document.line, dict(document.key_lines)
        for key, value in document.items():
            if key == "database":
                if db_name not in self.databases:  # else: another file with this URL has it
                    self.databases[db_name] = str(url)
                    native["databases"] = _with_lines(
                        LineDict({db_name: self._database(file, raw_db, errors, where)}),
                        document, "database")
            elif key == "alerts":
                native["alerts"] = self._alerts(file, value, db_name, errors, report)
            else:  # native sections written next to SQL Sentinel's (or unknown keys: reported)
                native[key] = value
        channels = LineDict({name: self.channels[name] for name in report.defined})
        if channels:
            channels.line = _line_of(document, "alerts")
            channels.key_lines = {name: self.channels[name].line for name in channels}
            native["channels"] = channels
            native.key_lines["channels"] = channels.line
        if "databases" in native:
            native.key_lines["databases"] = _line_of(document, "database")
        return native

    def _database_name(self, file: str, url: Any) -> str:
        for name, known in self.databases.items():
            if known == str(url):
                return name
        base = slug(Path(file).stem) or "sqlsentinel"
        name, n = base, 1
        while name in self.databases:
            n += 1
            name = f"{base}_{n}"
        return name

    def _database(self, file, raw_db: LineDict, errors, where) -> LineDict:
        url = raw_db.get("url")
        db = LineDict({"url": url})
        db.line, db.key_lines = raw_db.line, dict(raw_db.key_lines)
        if not isinstance(url, str) or not url.strip().lower().startswith("bigquery://"):
            return db
        # bigquery://PROJECT[/DATASET]?credentials=PATH&location=LOC
        base, _, query = url.strip().partition("?")
        db["url"] = base
        for key, values in parse_qs(query, keep_blank_values=True).items():
            if key == "credentials":
                db["credentials_path"] = values[-1]
            elif key == "location":
                db["location"] = values[-1]
            else:
                errors.append(SpecError(file, f"unknown BigQuery URL parameter {key!r}; SQL "
                                        "Sentinel reads credentials and location",
                                        field="database.url", **where))
        return db

    # -- alerts -----------------------------------------------------------------------------
    def _alerts(self, file, raw_alerts: Any, db_name: str, errors, report) -> Any:
        if not isinstance(raw_alerts, list):
            return raw_alerts  # the loader reports it
        alerts = []
        for raw in raw_alerts:
            if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
                alerts.append(raw)  # the loader reports it
                continue
            alert = self._alert(file, raw, db_name, errors)
            if alert is not None:
                alerts.append(alert)
                report.alerts.append((raw["name"], alert["name"]))
                for entry in alert.get("notify") or []:
                    name = entry if isinstance(entry, str) else entry.get("channel")
                    if name in self.channels and name not in report.channels:
                        report.channels.append(name)
        return alerts

    def _alert(self, file: str, raw: LineDict, db_name: str, errors) -> LineDict | None:
        name = raw["name"]
        line = getattr(raw, "line", None)
        new = LineDict()
        new.line, new.key_lines = line, dict(getattr(raw, "key_lines", {}))
        new.duplicates = list(getattr(raw, "duplicates", []))

        def error(message: str, field: str, at: int | None = None) -> None:
            errors.append(SpecError(file, message, line=at or line, alert=name, field=field))

        job = slug(name)
        if not job:
            error(f"the name {name!r} has no letter or digit to make a job name of", "name",
                  _line_of(raw, "name"))
            return None
        if job in self.names:
            other, ofile, oline = self.names[job]
            where = f"{ofile}:{oline}" if oline else ofile
            if other == name:
                error(f"alert name {name!r} is already used at {where}; names must be unique "
                      "across all files", "name", _line_of(raw, "name"))
            else:
                error(f"the names {other!r} ({where}) and {name!r} both become the job name "
                      f"{job!r}; rename one of them", "name", _line_of(raw, "name"))
            return None
        self.names[job] = (name, file, line)
        ok = True
        for key, value in raw.items():
            if key == "name":
                new["name"] = job
                if job != name and "title" not in raw:
                    new["title"] = name
                    new.key_lines["title"] = _line_of(raw, "name")
            elif key == "description" and value is None:
                continue
            elif key == "notify":
                notify = self._notify(file, name, value, errors, _line_of(raw, "notify"))
                ok = ok and notify is not None
                new["notify"] = notify
            else:
                new[key] = value
        for key, value in (("database", db_name), ("no_data", "error")):
            if key not in new:
                new[key] = value
                new.key_lines[key] = line
        return new if ok else None

    def _notify(self, file, alert: str, entries: Any, errors, line) -> list | None:
        if not isinstance(entries, list):
            entries = [entries] if entries is not None else []
        result: list = []
        ok = True
        for index, entry in enumerate(entries):
            at = getattr(entry, "line", None) or line
            prefix = f"notify.{index}"

            def error(message: str, key: str | None = None, _at=at, _prefix=prefix) -> None:
                errors.append(SpecError(file, message, line=_at, alert=alert,
                                        field=f"{_prefix}.{key}" if key else _prefix))

            if isinstance(entry, str):
                result.append(entry)  # a channel of ours, by name
                continue
            if not isinstance(entry, dict) or "channel" not in entry:
                error("a SQL Sentinel notify entry is a mapping with channel: email, slack or "
                      f"webhook and its settings, got {entry!r}")
                ok = False
                continue
            kind, slack_channel = _entry_kind(entry)
            if kind not in CHANNEL_KINDS:
                error(f"unknown channel type {kind!r}"
                      + (did_you_mean(kind, list(CHANNEL_KINDS)) if isinstance(kind, str) else "")
                      + "; SQL Sentinel files notify email, slack or webhook", "channel")
                ok = False
                continue
            settings, on = self._settings(kind, entry, slack_channel, error)
            if settings is None:
                ok = False
                continue
            name = self._channel(kind, settings)
            result.append(name if on is None else LineDict({"channel": name, "on": on}))
        return result if ok else None

    def _settings(self, kind: str, entry: LineDict, slack_channel, error):
        """The native settings of one entry, and its ``on`` (None: the default kinds)."""
        spec = CHANNEL_SPECS[kind]
        own = set(spec.settings_model().model_fields) | ({"from"} if kind == "email" else set())
        allowed = set(ENTRY_KEYS[kind]) | own | {"channel", "on"}
        twice = [key for key, _, _ in getattr(entry, "duplicates", [])
                 if not (key == "channel" and slack_channel is not None)]
        problems = 0
        for key in twice:
            error(f"duplicate key {key!r}; write each key once", key)
            problems += 1
        for key in entry:
            if key not in allowed:
                error(f"unknown key {key!r} in a SQL Sentinel {kind} entry"
                      + did_you_mean(key, sorted(allowed))
                      + f"; expected {', '.join(ENTRY_KEYS[kind])} or a setting of a {kind} "
                      "channel", key)
                problems += 1
        settings = LineDict({"type": kind})
        settings.line = getattr(entry, "line", None)
        settings.key_lines = {_NATIVE_KEY.get(k, k): entry.line_of(k) for k in entry
                              if isinstance(entry, LineDict)}
        if kind == "email":
            problems += self._email(entry, settings, error)
        elif kind == "slack":
            settings["webhook_url"] = entry.get("webhook_url") or "${SLACK_WEBHOOK_URL}"
            if slack_channel:
                settings["channel"] = slack_channel
            for key in ("username",):
                if entry.get(key):
                    settings[key] = entry[key]
        else:
            settings["url"] = entry.get("url") or "${WEBHOOK_URL}"
            method = str(entry.get("method") or "POST").upper()
            if method not in ("POST", "PUT", "PATCH"):
                error(f"method {method} is not mapped: a notice travels as a JSON body, so it is "
                      "sent with POST, PUT or PATCH; write one of them", "method")
                problems += 1
            elif method != "POST":
                settings["method"] = method
            if entry.get("headers"):
                settings["headers"] = entry["headers"]
        for key in entry:  # settings of our own win over SQL Sentinel's and the environment's
            if key in own and key not in ("type", "channel") and key not in ENTRY_KEYS[kind]:
                settings[key] = entry[key]
        if problems:
            return None, None
        return settings, entry.get("on")

    def _email(self, entry: LineDict, settings: LineDict, error) -> int:
        env = self.env
        recipients = entry.get("recipients")
        if recipients is None and "to" not in entry:
            error("an email entry needs recipients, a list of addresses", "recipients")
            return 1
        if recipients is not None:
            settings["to"] = recipients if isinstance(recipients, list) else [recipients]
        if "smtp_host" not in entry:
            if not env.get("SMTP_HOST"):
                error("SMTP_HOST is not set: SQL Sentinel sends email through the SMTP server "
                      "that SMTP_HOST names; set it where sentinel runs (or write smtp_host: in "
                      "this entry)")
                return 1
            settings["smtp_host"] = "${SMTP_HOST}"
        settings["smtp_port"] = "${SMTP_PORT}" if env.get("SMTP_PORT") else 587
        tls = (env.get("SMTP_USE_TLS") or "true").lower() == "true"
        settings["security"] = "starttls" if tls else "none"
        if env.get("SMTP_FROM_ADDRESS"):
            settings["from"] = "${SMTP_FROM_ADDRESS}"
        elif env.get("SMTP_USERNAME"):
            settings["from"] = "${SMTP_USERNAME}"
        else:
            settings["from"] = "sqlsentinel@localhost"
        if env.get("SMTP_USERNAME") and env.get("SMTP_PASSWORD"):  # SQL Sentinel logs in with both
            settings["username"] = "${SMTP_USERNAME}"
            settings["password"] = "${SMTP_PASSWORD}"
        subject = entry.get("subject")
        if subject is not None:
            try:
                template = subject_template(str(subject))
            except ValueError as exc:
                error(str(exc), "subject")
                return 1
            settings["templates"] = {f"{kind}.subject": template for kind in SUBJECT_KINDS}
        return 0

    def _channel(self, kind: str, settings: LineDict) -> str:
        """The name of the channel with ``settings``: an existing one, or a new one."""
        for name, known in self.channels.items():
            if known == settings:
                return name
        base = _channel_base(kind, settings)
        name, n = base, 1
        while name in self.channels:
            n += 1
            name = f"{base[:_NAME_LIMIT - 4]}_{n}"
        self.channels[name] = settings
        self.files[-1].defined.append(name)
        return name


def _entry_kind(entry: LineDict) -> tuple[Any, str | None]:
    """The channel type of an entry, and a Slack channel override.

    SQL Sentinel's documentation writes a Slack override as a second ``channel:`` key
    (``channel: slack`` ... ``channel: "#alerts"``); YAML keeps the last one, so an entry with
    ``channel`` twice and Slack settings is a Slack entry with that override.
    """
    kind = entry.get("channel")
    twice = any(key == "channel" for key, _, _ in getattr(entry, "duplicates", []))
    if twice and kind not in CHANNEL_KINDS and ("webhook_url" in entry or "username" in entry):
        return "slack", kind
    return kind, None


def _channel_base(kind: str, settings: dict) -> str:
    if kind == "email":
        first = (settings.get("to") or [""])[0]
        return _name(f"email_{first}", "email")
    if kind == "slack":
        which = settings.get("channel") or settings.get("username")
        return _name(f"slack_{which}", "slack") if which else "slack"
    url = str(settings.get("url", ""))
    var = re.fullmatch(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", url.strip())
    where = slug(var.group(1) if var else (urlsplit(url).hostname or ""))
    return _name(where if "webhook" in where else f"webhook_{where}", "webhook")


def _name(text: str, fallback: str) -> str:
    name = slug(text)[:_NAME_LIMIT - 4].rstrip("_")
    return name or fallback


def _bare_vars(value: Any, env: Mapping[str, str]) -> Any:
    """SQL Sentinel expanded ``$VAR`` as well as ``${VAR}`` (when set): read the first as the
    second, so that it follows our rules (secrets stay references)."""
    if isinstance(value, dict):
        out = type(value)({k: _bare_vars(v, env) for k, v in value.items()})
        if isinstance(value, LineDict):
            out.line, out.key_lines = value.line, value.key_lines
            out.duplicates = value.duplicates
        return out
    if isinstance(value, list):
        return [_bare_vars(v, env) for v in value]
    if isinstance(value, str) and "$" in value:
        return _BARE_VAR.sub(lambda m: f"${{{m.group(1)}}}" if m.group(1) in env else m.group(0),
                             value)
    return value


def _line_of(mapping: Any, key: str) -> int | None:
    return mapping.line_of(key) if isinstance(mapping, LineDict) else None


def _with_lines(mapping: LineDict, document: Any, key: str) -> LineDict:
    mapping.line = _line_of(document, key)
    mapping.key_lines = {k: mapping.line for k in mapping}
    return mapping
