"""Load every ``*.yaml``/``*.yml`` under a specs directory into a ``SentinelConfig``.

Nothing is lost and one broken alert never stops the others: every problem becomes a
``SpecError`` naming file, alert, field and line, and everything valid is kept.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Iterable

from pydantic import BaseModel, TypeAdapter, ValidationError

from sentinel_assets.core.excerpt import excerpt
from sentinel_assets.spec import parallel_read
from sentinel_assets.spec.cache import cache_key, cached
from sentinel_assets.spec.channels import CHANNEL_SPECS, CHANNEL_TYPES, ChannelSpec
from sentinel_assets.spec.compat import SqlSentinelFiles, is_sqlsentinel
from sentinel_assets.spec.env_vars import MissingEnvVar, expand
from sentinel_assets.spec.errors import SpecError, did_you_mean, validation_problems
from sentinel_assets.spec.models import (
    RESOURCE_NAME,
    SECRET_KEYS,
    AlertSpec,
    DatabaseSpec,
    DefaultsSpec,
    SentinelConfig,
)
from sentinel_assets.spec.sql_guard import check_query, dialect_for
from sentinel_assets.spec.templates import template_errors
from sentinel_assets.spec.yaml_lines import LineDict

_log = logging.getLogger("sentinel_assets")
SECTIONS = ("databases", "channels", "defaults", "alerts")
DEFAULT_SPECS_DIR = "alert_specs"
_channel_adapter: TypeAdapter = TypeAdapter(ChannelSpec)
# defaults an alert inherits when it does not set the key itself
_INHERITED = ("database", "timezone", "schedule", "owner", "send_resolved", "repeat_interval",
              "timeout", "no_data")


def specs_dir_from_env() -> Path:
    """``$SENTINEL_SPECS_DIR`` or ``./alert_specs``."""
    return Path(os.environ.get("SENTINEL_SPECS_DIR") or DEFAULT_SPECS_DIR)


def spec_files(root: Path) -> list[Path]:
    """The spec files of a directory: every ``*.yaml``/``*.yml`` under it, sorted."""
    return sorted(p for p in root.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())


def specs_fingerprint(specs_dir: str | os.PathLike | None = None) -> str | None:
    """What definitions built from ``specs_dir`` depend on, as a key: the directory, its spec
    files' bytes and the environment values they read (``spec.cache``), and sentinel's settings
    (``SENTINEL_*``, ``DAGSTER_HOME``); None without spec files."""
    root = Path(specs_dir) if specs_dir is not None else specs_dir_from_env()
    files = spec_files(root) if root.is_dir() else []
    if not files:
        return None
    settings = sorted(f"{k}={v}" for k, v in os.environ.items()
                      if k.startswith("SENTINEL_") or k == "DAGSTER_HOME")
    return "\0".join([str(root.resolve()), cache_key(files), *settings])


def load_specs(specs_dir: str | os.PathLike | None = None) -> SentinelConfig:
    """Read a specs directory. Invalid parts are left out and listed in ``config.errors``."""
    root = Path(specs_dir) if specs_dir is not None else specs_dir_from_env()
    loader = _Loader(root)
    if not root.is_dir():
        loader.error(str(root), f"specs directory {str(root)!r} does not exist")
        return SentinelConfig(errors=loader.errors, specs_dir=str(root))
    files = spec_files(root)
    if not files:
        loader.error(str(root), "no *.yaml or *.yml files found", warning=True)
        return loader.build([])

    def load() -> SentinelConfig:
        docs = zip(files, loader.read_all(files))
        return loader.build([(str(p), d) for p, d in docs if d is not None])

    return cached(files, load)


def load_specs_from_dict(data: dict, source: str = "<inline>") -> SentinelConfig:
    """Build a config from one already-parsed document (used by the Dagster Component)."""
    loader = _Loader(Path("."))
    doc = loader.guarded(source, {}, _as_line_dicts, data)  # nested past the recursion limit
    return loader.build([] if doc is None else [(source, doc)])


def _as_line_dicts(value: Any) -> Any:
    """Plain dicts (from Python or a component's YAML) as LineDicts without line numbers."""
    if isinstance(value, dict) and not isinstance(value, LineDict):
        return LineDict({k: _as_line_dicts(v) for k, v in value.items()})
    if isinstance(value, list):
        return [_as_line_dicts(v) for v in value]
    return value


class _Loader:
    def __init__(self, root: Path):
        self.root = root
        self.errors: list[SpecError] = []
        self.sqlsentinel = SqlSentinelFiles()  # SQL Sentinel's files, read as native ones

    def error(self, file: str, message: str, **where: Any) -> None:
        self.errors.append(SpecError(file=file, message=message, **where))

    def guarded(self, file: str, where: dict, build, *args) -> Any:
        """``build(*args)``; an exception it raises is a spec error of ``where``, so one entry
        that trips up the loader never stops the others, nor ``validate``, nor the location."""
        try:
            return build(*args)
        except Exception as exc:  # noqa: BLE001 - reported, and the entry left out
            self.error(file, parallel_read.left_out_message(exc), **where)
            return None

    # -- reading ----------------------------------------------------------------------------
    def read(self, path: Path) -> LineDict | None:
        return self.guarded(str(path), {}, self._read, path)

    def read_all(self, files: list[Path]) -> list[LineDict | None]:
        """``read`` of each file, in order; the parsing in worker processes when the files are
        large together (``parallel_read``). The errors, the documents and the SQL Sentinel
        conversion are those of reading them one after the other; a pool that cannot be
        started or breaks leaves the reading to this process."""
        if not parallel_read.worth_a_pool(files):
            return [self.read(p) for p in files]
        try:
            results = parallel_read.read_in_pool(files)
        except Exception as exc:  # noqa: BLE001 - reading here only costs time
            _log.debug("spec files read in this process (no worker pool: %s)", exc)
            return [self.read(p) for p in files]
        docs = []
        for path, (doc, problems, raised) in zip(files, results):
            name = str(path)
            for file, message, where in problems:
                self.error(file, message, **where)
            if raised is not None:
                self.error(name, raised)  # as ``guarded`` reports it
            if doc is not None:
                doc = self.guarded(name, {}, self._native, name, doc)
            docs.append(doc)
        return docs

    def _read(self, path: Path) -> LineDict | None:
        doc = parallel_read.parse_file(path, self.error)
        return None if doc is None else self._native(str(path), doc)

    def _native(self, name: str, doc: LineDict) -> LineDict:
        """A parsed document as a native one (SQL Sentinel's converted), its keys checked."""
        if is_sqlsentinel(doc):
            doc = self.sqlsentinel.convert(doc, name, self.errors)
        for key in doc:
            if key not in SECTIONS:
                self.error(name, f"unknown top-level key {excerpt(key)}"
                           + _then(did_you_mean(key, list(SECTIONS)),
                                   "expected databases, channels, defaults or alerts"),
                           line=doc.line_of(key), field=str(key))
        return doc

    # -- building ---------------------------------------------------------------------------
    def build(self, docs: list[tuple[str, LineDict]]) -> SentinelConfig:
        databases, broken_dbs = self._named_section(docs, "databases", "database", self._database)
        channels, broken_chs = self._named_section(docs, "channels", "channel", self._channel)
        defaults = self.guarded(
            docs[0][0] if docs else str(self.root), {"section": "defaults"}, self._defaults, docs,
            set(databases) | broken_dbs, set(channels) | broken_chs) or DefaultsSpec()
        alerts: list[AlertSpec] = []
        seen: dict[str, AlertSpec] = {}
        for file, doc in docs:
            raw_alerts = doc.get("alerts") or []
            if not isinstance(raw_alerts, list):
                self.error(file, "alerts must be a list of alerts (each starting with '- name:')",
                           line=doc.line_of("alerts"), field="alerts")
                continue
            for raw in raw_alerts:
                alert = self.guarded(file, _alert_where(raw), self._alert, file, raw, defaults,
                                     databases, broken_dbs, channels, broken_chs)
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
        config = SentinelConfig(
            databases=databases,
            channels=channels,
            defaults=defaults,
            alerts=alerts,
            errors=self.errors,
            specs_dir=str(self.root),
            compat_files=[f.as_dict() for f in self.sqlsentinel.files],
        )
        # a template error is a spec error
        config.errors.extend(self.guarded(str(self.root), {"field": "templates"},
                                          template_errors, config) or [])
        return config

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
            twice = {key: (first, ln) for key, first, ln in getattr(entries, "duplicates", [])}
            for name, raw in entries.items():
                line = entries.line_of(name)
                where = {"section": f"{label} '{name}'", "line": line}
                if name in twice:
                    first, again = twice[name]
                    self.error(file, f"{label} {excerpt(name)} is defined twice in this file "
                               f"(lines {first} and {again})", **{**where, "line": again})
                    broken.add(name)
                    origin[name] = (file, line)
                    continue
                if not isinstance(name, str) or not RESOURCE_NAME.match(name):
                    self.error(file, f"invalid {label} name {excerpt(name)}; expected letters, "
                               "digits and underscores, starting with a letter", **where)
                    continue
                if name in origin:
                    ofile, oline = origin[name]
                    self.error(file, f"{label} {excerpt(name)} is already defined at "
                               f"{ofile}:{oline}",
                               **where)
                    continue
                origin[name] = (file, line)
                spec = self.guarded(file, where, build, file, name, raw, line)
                if spec is None:
                    broken.add(name)
                else:
                    valid[name] = spec
        return valid, broken

    def _database(self, file: str, name: str, raw: Any, line: int | None):
        where = {"section": f"database '{name}'"}
        if isinstance(raw, str):
            raw = {"url": raw}
        twice = self._report_duplicates(file, raw, where)
        data = self._substitute(file, raw, where, line)
        if data is None:
            return None
        spec = self._validate(DatabaseSpec, data, file, raw, where, line=line)
        if twice:
            return None
        if spec is not None:
            spec._name, spec._file, spec._line = name, file, line
        return spec

    def _channel(self, file: str, name: str, raw: Any, line: int | None):
        where = {"section": f"channel '{name}'"}
        if not isinstance(raw, dict) or raw.get("type") not in CHANNEL_TYPES:
            got = raw.get("type") if isinstance(raw, dict) else raw
            hint = did_you_mean(got, list(CHANNEL_TYPES)) if isinstance(got, str) else ""
            self.error(file, f"type must be one of {', '.join(CHANNEL_TYPES)}, got "
                       f"{excerpt(got)}{hint}",
                       line=raw.line_of("type") if isinstance(raw, LineDict) else line,
                       field="type", **where)
            return None
        twice = self._report_duplicates(file, raw, where)
        data = self._substitute(file, raw, where, line)
        if data is None:
            return None
        spec = self._validate(CHANNEL_SPECS[raw["type"]], data, file, raw, where, line=line)
        if twice:
            return None
        if spec is not None:
            spec._name, spec._file, spec._line = name, file, line
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
            self._report_duplicates(file, raw, {"section": "defaults"})
            if "batch" in raw:
                self.error(file, "batch is no longer needed: every scheduled alert is evaluated "
                           "in grouped runs (many alerts per run); remove it", field="batch",
                           line=raw.line_of("batch"), section="defaults", warning=True)
            raw = self._substitute(file, raw, {"section": "defaults"}, raw.line, partial=True)
            for key, value in raw.items():
                if key in merged and merged[key] != value:
                    ofile, oline = origin[key]
                    self.error(file, f"defaults.{key} is already set to {excerpt(merged[key])} at "
                               f"{ofile}:{oline}; set it in one file only",
                               line=raw.line_of(key), section="defaults", field=str(key))
                    continue
                merged[key] = value
                origin[key] = (file, raw.line_of(key))
                raw_doc.key_lines[key] = raw.line_of(key)
            raw_doc.line = raw.line
        raw_doc.update(merged)
        self.defaults_origin = origin
        file = next(iter({f for f, _ in origin.values()}), "<defaults>")
        # each key on its own, so one bad default does not take the others away from every alert
        valid = {}
        for key, value in raw_doc.items():
            one = LineDict({key: value})
            one.key_lines, one.line = raw_doc.key_lines, raw_doc.line
            if self._validate(DefaultsSpec, one, origin[key][0], one, {"section": "defaults"}):
                valid[key] = value
        spec = DefaultsSpec.model_validate(valid)
        if spec.database and spec.database not in db_names:
            self.error(origin["database"][0], f"unknown database {excerpt(spec.database)}"
                       + _then(did_you_mean(spec.database, sorted(db_names)),
                               f"defined: {', '.join(sorted(db_names)) or 'none'}"),
                       line=origin["database"][1], section="defaults", field="database")
        return spec

    def _alert(self, file, raw, defaults: DefaultsSpec, databases, broken_dbs, channels,
               broken_chs) -> AlertSpec | None:
        if not isinstance(raw, dict):
            self.error(file, "each alert must be a mapping starting with 'name:', got "
                       f"{excerpt(raw)}")
            return None
        name = raw.get("name") if isinstance(raw.get("name"), str) else None
        line = raw.line if isinstance(raw, LineDict) else None
        where = {"alert": name or "<unnamed>"}
        twice = self._report_duplicates(file, raw, where)
        data = self._substitute(file, raw, where, line, keep_secrets=False)
        if data is None:
            return None
        merged = dict(data)
        inherited: set[str] = set()
        for key in _INHERITED:
            value = getattr(defaults, key)
            if key not in merged and value is not None:
                merged[key] = value
                inherited.add(key)
        if "notify" not in merged and defaults.notify:
            merged["notify"] = [e if isinstance(e, str) else e.model_dump(exclude_none=True)
                                for e in defaults.notify]
            inherited.add("notify")
        if defaults.tags:
            merged["tags"] = {**defaults.tags, **(merged.get("tags") or {})}
        if "batch" in raw:
            self.error(file, "batch is no longer needed: every scheduled alert is evaluated in "
                       "grouped runs (many alerts per run); remove it", field="batch",
                       line=raw.line_of("batch") if isinstance(raw, LineDict) else line,
                       warning=True, **where)
        alert = self._validate(AlertSpec, merged, file, raw, where, line=line)
        # references are checked on the raw values too, so a broken alert reports all its errors
        refs_ok = self._check_references(file, raw, line, where["alert"], merged, inherited,
                                         databases, broken_dbs, channels, broken_chs)
        query_ok = alert is None or self._check_query(file, raw, line, alert, databases)
        if alert is None or not refs_ok or twice or not query_ok:
            return None
        alert._file, alert._line = file, line
        if alert.escalate and alert.escalate.after > 1 and alert.repeat_interval is None:
            self.error(file, f"escalate.after is {alert.escalate.after}, but without "
                       "repeat_interval only one notice (firing) is sent per episode, so the "
                       "escalation never happens; set repeat_interval or escalate.after: 1",
                       alert=alert.name, field="escalate.after",
                       line=_line_at(raw, ["escalate", "after"]), warning=True)
        return alert

    def _check_query(self, file, raw, line, alert: AlertSpec, databases) -> bool:
        """One read statement in the dialect of the alert's database (sql_guard)."""
        refusal = check_query(alert.query, _dialect(databases.get(alert.database)))
        if refusal is None:
            return True
        at = _line(raw, "query", line)
        # a `query: |` block starts on the line after the key; a one-line query is on it
        if at and refusal.line and "\n" in str(raw.get("query", "")).rstrip("\n"):
            at += refusal.line
        self.error(file, str(refusal), alert=alert.name, field="query", line=at)
        return False

    def _check_references(self, file, raw, line, alert, merged, inherited, databases, broken_dbs,
                          channels, broken_chs) -> bool:
        ok = True
        database = merged.get("database")
        if isinstance(database, str) and database not in databases:
            why = ("is invalid (see its error)" if database in broken_dbs
                   else _not_defined(database, databases))
            self.error(file, f"database {excerpt(database)}"
                       f"{self._from_defaults('database', inherited)} "
                       f"{why}", alert=alert, field="database",
                       line=_line(raw, "database", line))
            ok = False
        for field, channel in _channel_refs(merged):
            if channel in channels:
                continue
            why = ("is invalid (see its error)" if channel in broken_chs
                   else _not_defined(channel, channels))
            self.error(file, f"channel {excerpt(channel)}"
                       f"{self._from_defaults(field, inherited)} {why}",
                       alert=alert, field=field, line=_line(raw, field.split(".")[0], line))
            ok = False
        return ok

    def _from_defaults(self, field: str, inherited: set[str]) -> str:
        if field not in inherited:
            return ""
        file, line = getattr(self, "defaults_origin", {}).get(field, (None, None))
        where = f" at {file}:{line}" if file and line else (f" in {file}" if file else "")
        return f" (from defaults.{field}{where})"

    # -- helpers ----------------------------------------------------------------------------
    def _substitute(self, file, raw, where, line, keep_secrets: bool = True,
                    partial: bool = False):
        """Expand ${VAR} everywhere but in secret fields; report every unset variable.

        Returns None when a variable is missing, or with ``partial`` the mapping without the
        top-level keys that hold a missing variable.
        """
        problems: list[tuple[str, str, int | None]] = []

        def walk(value, path: tuple, key, ln):
            if isinstance(value, dict):
                return type(value)({
                    k: walk(v, path + (k,), k, _line(value, k, ln)) for k, v in value.items()
                })
            if isinstance(value, list):
                # items of a list under a secret key (or under headers) are secret too
                return [walk(v, path + (i,), key, getattr(v, "line", ln))
                        for i, v in enumerate(value)]
            if isinstance(value, str) and "${" in value:
                is_secret = keep_secrets and (key in SECRET_KEYS or "headers" in path)
                if is_secret:
                    return value
                try:
                    return expand(value)
                except MissingEnvVar as exc:
                    problems.append((".".join(map(str, path)), str(exc), ln))
            return value

        result = walk(raw, (), None, line)
        if isinstance(result, LineDict) and isinstance(raw, LineDict):
            result.key_lines, result.line = raw.key_lines, raw.line
        for field, message, ln in problems:
            self.error(file, message, field=field, line=ln, **where)
        if problems and partial and isinstance(result, dict):
            for field, _, _ in problems:
                result.pop(field.split(".")[0], None)
            return result
        return None if problems else result

    def _report_duplicates(self, file, raw, where) -> bool:
        """Report keys written twice anywhere inside ``raw``; True when there were any."""
        found = list(_duplicates(raw, ()))
        for path, key, first, line in found:
            field = ".".join(map(str, path + (key,)))
            self.error(file, f"duplicate key {excerpt(key)} (first at line {first}); write "
                       "each key once", field=field, line=line, **where)
        return bool(found)

    def _validate(self, model: type[BaseModel], data, file, raw, where, line=None):
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            problems = validation_problems(model, exc, data, inherited=_INHERITED)
            located = [(_line_at(raw, list(p.loc)) or line, p) for p in problems]
            for at, problem in sorted(located, key=lambda lp: lp[0] or 0):
                self.error(file, problem.message, line=at,
                           field=".".join(str(p) for p in problem.loc) or None, **where)
            return None


def _alert_where(raw: Any) -> dict:
    """Where an alert is, for an error about it as a whole."""
    name = raw.get("name") if isinstance(raw, dict) else None
    return {"alert": name if isinstance(name, str) else "<unnamed>",
            "line": getattr(raw, "line", None)}


def _then(hint: str, rest: str) -> str:
    """Join a did-you-mean hint (``"; did you mean 'x'?"``) and a further sentence."""
    return f"{hint} {rest}" if hint else f"; {rest}"


def _not_defined(name: str, known) -> str:
    names = sorted(known)
    return "is not defined" + _then(did_you_mean(name, names),
                                    f"defined: {', '.join(names) or 'none'}")


def _channel_refs(merged: dict) -> list[tuple[str, str]]:
    """``(field, channel)`` for every channel name an alert's raw values refer to."""
    refs = []
    notify = merged.get("notify")
    for entry in notify if isinstance(notify, list) else [notify]:
        channel = entry.get("channel") if isinstance(entry, dict) else entry
        if isinstance(channel, str):
            refs.append(("notify", channel))
    if isinstance(merged.get("owner"), str):
        refs.append(("owner", merged["owner"]))
    escalate = merged.get("escalate")
    targets = escalate.get("notify") if isinstance(escalate, dict) else None
    for channel in targets if isinstance(targets, list) else [targets]:
        if isinstance(channel, str):
            refs.append(("escalate.notify", channel))
    return list(dict.fromkeys(refs))


def _duplicates(value: Any, path: tuple):
    if isinstance(value, LineDict):
        for key, first, line in value.duplicates:
            yield path, key, first, line
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _duplicates(item, path + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _duplicates(item, path + (index,))


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


def _dialect(database: DatabaseSpec | None) -> str | None:
    """The sqlglot dialect of a database; None when its URL is not known yet (${VAR} unset)."""
    if database is None:
        return None
    if database.is_bigquery:
        return "bigquery"
    try:
        return dialect_for(expand(database.url))
    except MissingEnvVar:
        return None


def _line(raw: Any, key: str, default: int | None) -> int | None:
    return raw.line_of(key) if isinstance(raw, LineDict) and key in raw else default
