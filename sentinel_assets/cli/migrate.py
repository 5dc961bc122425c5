"""``sentinel migrate``: SQL Sentinel files rewritten as native spec files.

The files are converted by the same code that loads them in compatibility mode
(``spec.compat``), so migrating and then loading gives the same alerts as loading the originals.
The YAML is rewritten with ruamel.yaml's round trip: comments, quotes and block scalars of what
stays (queries, schedules, descriptions) are kept; the ``database`` and the notify entries become
named ``databases`` and ``channels``; secrets stay ``${VAR}`` references.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import click
import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from sentinel_assets.spec.compat import SqlSentinelFiles, is_sqlsentinel, sqlite_path
from sentinel_assets.spec.errors import SpecError
from sentinel_assets.spec.yaml_lines import load_yaml

#: defaults every migrated alert would otherwise carry itself
_DEFAULTS = ("database", "no_data")


@click.command("migrate")
@click.argument("files", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Write the native files into this directory (same file names); default: "
              "print them.")
@click.option("--force", is_flag=True, help="Overwrite files that exist in --out.")
def migrate(files: tuple[Path, ...], out_dir: Path | None, force: bool) -> None:
    """Rewrite SQL Sentinel alert FILES as native spec files and say what was mapped."""
    converter = SqlSentinelFiles()
    errors: list[SpecError] = []
    parsed = []
    for path in files:
        text = path.read_text(encoding="utf-8")
        try:
            document = load_yaml(text, duplicates="record")
        except yaml.YAMLError as exc:
            raise click.ClickException(f"{path}: invalid YAML: {exc}") from None
        if not is_sqlsentinel(document):
            raise click.ClickException(f"{path} is not a SQL Sentinel file: it has no top-level "
                                       "`database:` with a `url`")
        native = converter.convert(document, str(path), errors)
        parsed.append((path, _round_trip().load(text), native))
    if errors:
        for error in errors:
            click.echo(f"  {error}", err=True)
        raise click.ClickException(f"{len(errors)} problem(s); nothing was written")
    targets = _targets(files, out_dir, force)
    # a defaults section only where nothing else reads it: a new specs directory, one database
    use_defaults = (out_dir is not None and len(converter.databases) == 1
                    and not any(p not in targets for p in out_dir.rglob("*.y*ml")))
    texts = []
    for index, (_path, tree, native) in enumerate(parsed):
        report = converter.files[index]
        defaults = ({"database": report.database, "no_data": "error"}
                    if use_defaults and index == 0 else None)
        _rewrite(tree, native, report, converter, defaults, strip=use_defaults)
        texts.append(_dump(tree))
    out = click.echo if out_dir is not None else (lambda line: click.echo(line, err=True))
    if out_dir is None:
        click.echo("---\n".join(texts), nl=False)
    else:
        out_dir.mkdir(parents=True, exist_ok=True)
        for target, text in zip(targets, texts, strict=True):
            target.write_text(text, encoding="utf-8")
    for index, (path, _tree, native) in enumerate(parsed):
        where = targets[index] if targets else "stdout"
        _report(out, path, where, converter, index, native)
    for line in _not_mapped(converter):
        out(line)


def _round_trip() -> YAML:
    rt = YAML()
    rt.preserve_quotes = True
    rt.allow_duplicate_keys = True  # SQL Sentinel's Slack override is a second `channel:` key
    rt.indent(mapping=2, sequence=4, offset=2)
    rt.width = 4096
    return rt


def _dump(tree: Any) -> str:
    stream = io.StringIO()
    _round_trip().dump(tree, stream)
    return stream.getvalue()


def _targets(files, out_dir: Path | None, force: bool) -> list[Path]:
    if out_dir is None:
        return []
    targets = [out_dir / path.name for path in files]
    twice = sorted({t.name for t in targets if targets.count(t) > 1})
    if twice:
        raise click.ClickException(f"two files are named {', '.join(twice)}; migrate them into "
                                   "different --out directories")
    for path, target in zip(files, targets, strict=True):
        if target.resolve() == path.resolve():
            raise click.ClickException(f"{target} would overwrite its SQL Sentinel original; "
                                       "choose another --out")
    existing = [str(t) for t in targets if t.exists()]
    if existing and not force:
        raise click.ClickException(f"{', '.join(existing)} exist(s); use --force to overwrite")
    return targets


# -- the rewrite ----------------------------------------------------------------------------------
def _rewrite(tree: CommentedMap, native: dict, report, converter, defaults, strip: bool) -> None:
    """Turn the round-trip ``tree`` of a SQL Sentinel file into the native document."""
    position = list(tree).index("database")
    db_tree = tree["database"]
    del tree["database"]
    sections: list[tuple[str, Any]] = []
    if "databases" in native:
        (name, db), = native["databases"].items()
        for key in list(db_tree):
            if key not in db:
                del db_tree[key]
        for key, value in db.items():
            if db_tree.get(key) != value:
                db_tree[key] = value
        sections.append(("databases", CommentedMap({name: db_tree})))
    if report.defined:
        sections.append(("channels", CommentedMap(
            (name, _plain(converter.channels[name])) for name in report.defined)))
    if defaults:
        sections.append(("defaults", CommentedMap(defaults)))
    for offset, (key, value) in enumerate(sections):
        tree.insert(position + offset, key, value)
    alerts = tree.get("alerts")
    if isinstance(alerts, CommentedSeq):
        for rt_alert, alert in zip(alerts, native.get("alerts") or [], strict=True):
            if isinstance(rt_alert, CommentedMap) and isinstance(alert, dict):
                wanted = {k: v for k, v in alert.items()
                          if not (strip and k in _DEFAULTS and k not in rt_alert)}
                _sync(rt_alert, wanted)


def _sync(rt_alert: CommentedMap, alert: dict) -> None:
    """Make ``rt_alert`` hold ``alert``, keeping the nodes (and comments) that did not change."""
    trailing = _take_trailing(rt_alert)
    for key in list(rt_alert):
        if key not in alert:
            del rt_alert[key]
    for index, (key, value) in enumerate(alert.items()):
        if key not in rt_alert:
            rt_alert.insert(index, key, _plain(value))
        elif rt_alert[key] != value:
            rt_alert[key] = _plain(value)
    if trailing is not None:
        _put_trailing(rt_alert, trailing)


def _take_trailing(node: Any):
    """Remove and return the comment ruamel keeps after the last item of ``node`` (the comment
    and blank lines before the next alert)."""
    if isinstance(node, CommentedMap) and node:
        last = list(node)[-1]
        entry = node.ca.items.get(last)
        if entry and len(entry) > 2 and entry[2] is not None:
            token, entry[2] = entry[2], None
            return token
        return _take_trailing(node[last])
    if isinstance(node, CommentedSeq) and node:
        entry = node.ca.items.get(len(node) - 1)
        if entry and entry[0] is not None:
            token, entry[0] = entry[0], None
            return token
        return _take_trailing(node[-1])
    return None


def _put_trailing(node: Any, token) -> None:
    if isinstance(node, CommentedMap) and node:
        last = list(node)[-1]
        if isinstance(node[last], (CommentedMap, CommentedSeq)) and node[last]:
            _put_trailing(node[last], token)
        else:
            node.ca.items[last] = [None, None, token, None]
    elif isinstance(node, CommentedSeq) and node:
        if isinstance(node[-1], (CommentedMap, CommentedSeq)) and node[-1]:
            _put_trailing(node[-1], token)
        else:
            node.ca.items[len(node) - 1] = [token, None]


def _plain(value: Any) -> Any:
    """LineDicts and lists as the mappings and sequences ruamel writes (block style)."""
    if isinstance(value, dict):
        return CommentedMap((k, _plain(v)) for k, v in value.items())
    if isinstance(value, list):
        return CommentedSeq(_plain(v) for v in value)
    return value


# -- what was done --------------------------------------------------------------------------------
def _report(out, path: Path, where, converter, index: int, native: dict) -> None:
    report = converter.files[index]
    out(f"{path} -> {where}")
    if "databases" in native:
        out(f"  database '{report.database}' <- database.url {report.url}")
    path_here = sqlite_path(report.url)
    if path_here is not None:
        out(f"    a relative SQLite path: it resolves against the working directory of the "
            f"process that runs the query (here: {path_here})")
    for name in report.defined:
        out(f"  channel '{name}' <- {_channel_summary(converter.channels[name])}")
    for title, job in report.alerts:
        out(f"  alert {title!r} -> {job!r}" + (" (the name stays its title)" if title != job
                                               else ""))


def _channel_summary(settings: dict) -> str:
    kind = settings["type"]
    if kind == "email":
        login = " with login ${SMTP_USERNAME}/${SMTP_PASSWORD}" if "password" in settings else ""
        subject = ", subject as a template" if settings.get("templates") else ""
        return (f"email to {', '.join(map(str, settings.get('to', [])))} via "
                f"{settings.get('smtp_host')}:{settings.get('smtp_port')} "
                f"({settings.get('security')}{login}), from {settings.get('from')}{subject}")
    if kind == "slack":
        override = f", channel {settings['channel']}" if settings.get("channel") else ""
        return f"slack incoming webhook {settings.get('webhook_url')}{override}"
    method = settings.get("method", "POST")
    return f"webhook {method} {settings.get('url')}"


def _not_mapped(converter) -> list[str]:
    """What SQL Sentinel did that the native files do differently, or not at all."""
    kinds = {s["type"] for s in converter.channels.values()}
    lines = ["not mapped:",
             "  history: sqlsentinel_executions stays in SQL Sentinel's state database; run "
             "`sentinel import-state URL` for the state and silences",
             "  schedules are read in UTC (SQL Sentinel's daemon default); set timezone: where "
             "the daemon ran with --timezone"]
    if "webhook" in kinds:
        lines.append("  webhook bodies are sentinel.notice/v1 JSON, not SQL Sentinel's "
                     "{alert_name, status, actual_value, threshold, context}")
    literal = sorted(name for name, s in converter.channels.items()
                     for key in ("webhook_url", "url") if s.get(key) and "${" not in s[key])
    for name in literal:
        lines.append(f"  channel '{name}': its URL is written literally; write it as ${{VAR}} "
                     "so that it reaches Dagster as an EnvVar")
    if os.environ.get("DATABASE_URL"):
        lines.append("  DATABASE_URL is set: SQL Sentinel's daemon queried it instead of "
                     "database.url; write url: \"${DATABASE_URL}\" if that is what you ran")
    return lines

