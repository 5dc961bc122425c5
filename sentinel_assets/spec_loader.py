"""Load every ``*.yaml``/``*.yml`` under a specs directory into a ``SentinelConfig``.

Nothing is lost and one broken alert never stops the others: every problem becomes a
``SpecError`` naming file, alert, field and line, and everything valid is kept.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable

import yaml
from pydantic import BaseModel, TypeAdapter, ValidationError

from sentinel_assets.env_vars import MissingEnvVar, expand
from sentinel_assets.spec_errors import SpecError, did_you_mean
from sentinel_assets.spec_models import (
    CHANNEL_TYPES,
    RESOURCE_NAME,
    SECRET_KEYS,
    AlertSpec,
    ChannelSpec,
    DatabaseSpec,
    DefaultsSpec,
    EmailChannelSpec,
    LogChannelSpec,
    SentinelConfig,
    SlackChannelSpec,
    WebhookChannelSpec,
)
from sentinel_assets.spec_yaml import DuplicateKey, LineDict, load_yaml

SECTIONS = ("databases", "channels", "defaults", "alerts")
DEFAULT_SPECS_DIR = "alert_specs"
_CHANNEL_MODELS = {
    "log": LogChannelSpec,
    "slack": SlackChannelSpec,
    "email": EmailChannelSpec,
    "webhook": WebhookChannelSpec,
}
_channel_adapter: TypeAdapter = TypeAdapter(ChannelSpec)
# defaults an alert inherits when it does not set the key itself
_INHERITED = ("database", "timezone", "schedule", "owner", "send_resolved", "repeat_interval",
              "timeout", "no_data")


def specs_dir_from_env() -> Path:
    """``$SENTINEL_SPECS_DIR`` or ``./alert_specs``."""
    return Path(os.environ.get("SENTINEL_SPECS_DIR") or DEFAULT_SPECS_DIR)


def load_specs(specs_dir: str | os.PathLike | None = None) -> SentinelConfig:
    """Read a specs directory. Invalid parts are left out and listed in ``config.errors``."""
    root = Path(specs_dir) if specs_dir is not None else specs_dir_from_env()
    loader = _Loader(root)
    if not root.is_dir():
        loader.error(str(root), f"specs directory {str(root)!r} does not exist")
        return SentinelConfig(errors=loader.errors, specs_dir=str(root))
    files = sorted(p for p in root.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())
    if not files:
        loader.error(str(root), "no *.yaml or *.yml files found", warning=True)
    docs = [(str(p), loader.read(p)) for p in files]
    return loader.build([(f, d) for f, d in docs if d is not None])


def load_specs_from_dict(data: dict, source: str = "<inline>") -> SentinelConfig:
    """Build a config from one already-parsed document (used by the Dagster Component)."""
    loader = _Loader(Path("."))
    doc = LineDict(data) if not isinstance(data, LineDict) else data
    return loader.build([(source, doc)])


class _Loader:
    def __init__(self, root: Path):
        self.root = root
        self.errors: list[SpecError] = []

    def error(self, file: str, message: str, **where: Any) -> None:
        self.errors.append(SpecError(file=file, message=message, **where))

    # -- reading ----------------------------------------------------------------------------
    def read(self, path: Path) -> LineDict | None:
        name = str(path)
        try:
            doc = load_yaml(path.read_text(encoding="utf-8"))
        except DuplicateKey as exc:
            self.error(name, f"duplicate key {exc.key!r} (first at line {exc.first_line}); "
                       "the file was not loaded", line=exc.line)
            return None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            problem = getattr(exc, "problem", None) or str(exc)
            self.error(name, f"invalid YAML: {problem}; the file was not loaded",
                       line=mark.line + 1 if mark else None)
            return None
        except (OSError, UnicodeDecodeError) as exc:
            self.error(name, f"cannot read the file: {exc}")
            return None
        if doc is None:
            return LineDict()
        if not isinstance(doc, dict):
            self.error(name, "expected a mapping with databases, channels, defaults and alerts "
                       f"at the top level, got {type(doc).__name__}", line=1)
            return None
        for key in doc:
            if key not in SECTIONS:
                self.error(name, f"unknown top-level key {key!r}{did_you_mean(key, list(SECTIONS))}"
                           "; expected databases, channels, defaults or alerts",
                           line=doc.line_of(key), field=str(key))
        return doc

    # -- building ---------------------------------------------------------------------------
    def build(self, docs: list[tuple[str, LineDict]]) -> SentinelConfig:
        databases, broken_dbs = self._named_section(docs, "databases", "database", self._database)
        channels, broken_chs = self._named_section(docs, "channels", "channel", self._channel)
        defaults = self._defaults(docs, set(databases) | broken_dbs, set(channels) | broken_chs)
        alerts: list[AlertSpec] = []
        seen: dict[str, AlertSpec] = {}
        for file, doc in docs:
            raw_alerts = doc.get("alerts") or []
            if not isinstance(raw_alerts, list):
                self.error(file, "alerts must be a list of alerts (each starting with '- name:')",
                           line=doc.line_of("alerts"), field="alerts")
                continue
            for raw in raw_alerts:
                alert = self._alert(file, raw, defaults, databases, broken_dbs, channels, broken_chs)
                if alert is None:
                    continue
                if alert.name in seen:
                    first = seen[alert.name]
                    self.error(file, f"alert name {alert.name!r} is already used at "
                               f"{first.source_file}:{first.source_line}; names must be unique "
                               "across all files", line=alert.source_line, alert=alert.name,
                               field="name")
                    continue
                seen[alert.name] = alert
                alerts.append(alert)
        return SentinelConfig(
            databases=databases,
            channels=channels,
            defaults=defaults,
            alerts=alerts,
            errors=self.errors,
            specs_dir=str(self.root),
        )

    def _named_section(self, docs, section: str, label: str, build) -> tuple[dict, set]:
        valid: dict[str, Any] = {}
        origin: dict[str, tuple[str, int | None]] = {}
        broken: set[str] = set()
        for file, doc in docs:
            entries = doc.get(section)
            if entries is None:
                continue
            if not isinstance(entries, dict):
                self.error(file, f"{section} must be a mapping of name to settings",
                           line=doc.line_of(section), field=section)
                continue
            for name, raw in entries.items():
                line = entries.line_of(name)
                where = {"section": f"{label} '{name}'", "line": line}
                if not isinstance(name, str) or not RESOURCE_NAME.match(name):
                    self.error(file, f"invalid {label} name {name!r}; expected letters, digits and "
                               "underscores, starting with a letter", **where)
                    continue
                if name in origin:
                    ofile, oline = origin[name]
                    self.error(file, f"{label} {name!r} is already defined at {ofile}:{oline}",
                               **where)
                    continue
                origin[name] = (file, line)
                spec = build(file, name, raw, line)
                if spec is None:
                    broken.add(name)
                else:
                    valid[name] = spec
        return valid, broken

    def _database(self, file: str, name: str, raw: Any, line: int | None):
        where = {"section": f"database '{name}'"}
        if isinstance(raw, str):
            raw = {"url": raw}
        data = self._substitute(file, raw, where, line)
        if data is None:
            return None
        spec = self._validate(DatabaseSpec, data, file, raw, where)
        if spec is not None:
            spec._name = name
        return spec

    def _channel(self, file: str, name: str, raw: Any, line: int | None):
        where = {"section": f"channel '{name}'"}
        if not isinstance(raw, dict) or raw.get("type") not in CHANNEL_TYPES:
            got = raw.get("type") if isinstance(raw, dict) else raw
            hint = did_you_mean(got, list(CHANNEL_TYPES)) if isinstance(got, str) else ""
            self.error(file, f"type must be one of {', '.join(CHANNEL_TYPES)}, got {got!r}{hint}",
                       line=raw.line_of("type") if isinstance(raw, LineDict) else line,
                       field="type", **where)
            return None
        data = self._substitute(file, raw, where, line)
        if data is None:
            return None
        spec = self._validate(_CHANNEL_MODELS[raw["type"]], data, file, raw, where)
        if spec is not None:
            spec._name = name
        return spec

    def _defaults(self, docs, db_names: set, channel_names: set) -> DefaultsSpec:
        merged: dict[str, Any] = {}
        origin: dict[str, tuple[str, int | None]] = {}
        raw_doc: LineDict = LineDict()
        for file, doc in docs:
            raw = doc.get("defaults")
            if raw is None:
                continue
            if not isinstance(raw, dict):
                self.error(file, "defaults must be a mapping", line=doc.line_of("defaults"),
                           section="defaults")
                continue
            for key, value in raw.items():
                if key in merged and merged[key] != value:
                    ofile, oline = origin[key]
                    self.error(file, f"defaults.{key} is already set to {merged[key]!r} at "
                               f"{ofile}:{oline}; set it in one file only",
                               line=raw.line_of(key), section="defaults", field=str(key))
                    continue
                merged[key] = value
                origin[key] = (file, raw.line_of(key))
                raw_doc.key_lines[key] = raw.line_of(key)
            raw_doc.line = raw.line
        raw_doc.update(merged)
        file = next(iter({f for f, _ in origin.values()}), "<defaults>")
        data = self._substitute(file, raw_doc, {"section": "defaults"}, raw_doc.line)
        if data is None:
            return DefaultsSpec()
        spec = self._validate(DefaultsSpec, data, file, raw_doc, {"section": "defaults"})
        if spec is None:
            return DefaultsSpec()
        if spec.database and spec.database not in db_names:
            self.error(origin["database"][0], f"unknown database {spec.database!r}; defined: "
                       f"{', '.join(sorted(db_names)) or 'none'}", line=origin["database"][1],
                       section="defaults", field="database")
        return spec

    def _alert(self, file, raw, defaults: DefaultsSpec, databases, broken_dbs, channels,
               broken_chs) -> AlertSpec | None:
        if not isinstance(raw, dict):
            self.error(file, f"each alert must be a mapping starting with 'name:', got {raw!r}")
            return None
        name = raw.get("name") if isinstance(raw.get("name"), str) else None
        line = raw.line if isinstance(raw, LineDict) else None
        where = {"alert": name or "<unnamed>"}
        data = self._substitute(file, raw, where, line, keep_secrets=False)
        if data is None:
            return None
        merged = dict(data)
        for key in _INHERITED:
            value = getattr(defaults, key)
            if key not in merged and value is not None:
                merged[key] = value
        if "notify" not in merged and defaults.notify:
            merged["notify"] = [e if isinstance(e, str) else e.model_dump(exclude_none=True)
                                for e in defaults.notify]
        if defaults.tags:
            merged["tags"] = {**defaults.tags, **(merged.get("tags") or {})}
        alert = self._validate(AlertSpec, merged, file, raw, where)
        if alert is None:
            return None
        alert._file, alert._line = file, line
        ok = True
        if alert.database not in databases:
            why = ("is invalid (see its error)" if alert.database in broken_dbs
                   else f"is not defined; defined: {', '.join(sorted(databases)) or 'none'}")
            self.error(file, f"database {alert.database!r} {why}", alert=alert.name,
                       field="database", line=_line(raw, "database", line))
            ok = False
        for channel in alert.channel_names:
            if channel not in channels:
                why = ("is invalid (see its error)" if channel in broken_chs else
                       f"is not defined{did_you_mean(channel, list(channels))}; defined: "
                       f"{', '.join(sorted(channels)) or 'none'}")
                field = _channel_field(alert, channel)
                self.error(file, f"channel {channel!r} {why}", alert=alert.name, field=field,
                           line=_line(raw, field.split(".")[0], line))
                ok = False
        return alert if ok else None

    # -- helpers ----------------------------------------------------------------------------
    def _substitute(self, file, raw, where, line, keep_secrets: bool = True):
        """Expand ${VAR} everywhere but in secret fields; report every unset variable."""
        problems: list[tuple[str, str, int | None]] = []

        def walk(value, path: tuple, parent, key):
            if isinstance(value, dict):
                return type(value)({k: walk(v, path + (k,), value, k) for k, v in value.items()})
            if isinstance(value, list):
                return [walk(v, path + (i,), value, None) for i, v in enumerate(value)]
            if isinstance(value, str) and "${" in value:
                is_secret = keep_secrets and (key in SECRET_KEYS or "headers" in path)
                if is_secret:
                    return value
                try:
                    return expand(value)
                except MissingEnvVar as exc:
                    ln = parent.line_of(key) if isinstance(parent, LineDict) else line
                    problems.append((".".join(map(str, path)), str(exc), ln))
            return value

        result = walk(raw, (), None, None)
        if isinstance(result, LineDict) and isinstance(raw, LineDict):
            result.key_lines, result.line = raw.key_lines, raw.line
        for field, message, ln in problems:
            self.error(file, message, field=field, line=ln, **where)
        return None if problems else result

    def _validate(self, model: type[BaseModel], data, file, raw, where):
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            allowed = _allowed_keys(model)
            for err in exc.errors():
                loc = [p for p in err["loc"] if not _is_union_tag(p)]
                field = ".".join(str(p) for p in loc) or None
                message = _message(err, allowed, loc)
                self.error(file, message, field=field, line=_line_at(raw, loc), **where)
            return None


def _is_union_tag(part: Any) -> bool:
    return isinstance(part, str) and ("[" in part or part in ("str", "NotifyEntry", "int", "float"))


def _allowed_keys(model: type[BaseModel]) -> list[str]:
    return [f.alias or n for n, f in model.model_fields.items()]


def _message(err: dict, allowed: list[str], loc: list) -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        key = loc[-1] if loc else "?"
        hint = did_you_mean(key, allowed) if len(loc) == 1 else ""
        return f"unknown key {key!r}{hint}" + ("" if hint else f"; expected one of: {', '.join(allowed)}"
                                              if len(loc) == 1 else "")
    if kind == "missing":
        key = loc[-1] if loc else ""
        if key in _INHERITED:
            return f"is required, here or in defaults.{key}"
        return "is required"
    msg = err["msg"]
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            msg = msg[len(prefix):]
    got = err.get("input")
    if kind not in ("value_error",) and not isinstance(got, (dict, list)):
        msg += f" (got {got!r})"
    return msg


def _line_at(raw: Any, loc: Iterable) -> int | None:
    node, line = raw, getattr(raw, "line", None)
    for part in loc:
        if isinstance(node, LineDict):
            line = node.line_of(part) or line
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
            line = getattr(node, "line", line)
        else:
            break
    return line


def _line(raw: Any, key: str, default: int | None) -> int | None:
    return raw.line_of(key) if isinstance(raw, LineDict) and key in raw else default


def _channel_field(alert: AlertSpec, channel: str) -> str:
    names = [e if isinstance(e, str) else e.channel for e in alert.notify]
    if channel in names:
        return "notify"
    if alert.owner == channel:
        return "owner"
    return "escalate.notify"
