"""The spec reference, generated from the models: the JSON Schema of one spec file and a Markdown
page that lists every section and field with its type, default and description.

Both are derived from the pydantic models (``spec.models`` and the channel specs), then adjusted
to accept what the loader accepts: durations as ``"30s"``/``"4h"`` or numbers, a single item
where a list is expected (``notify: team``, ``on: resolved``), ``${VAR}`` references in place of
numbers, booleans and words, and the cross-field rules of ``AlertSpec``. Regenerate the committed
copies (``docs/spec-reference.md`` and ``docs/sentinel-spec.schema.json``) after changing a model::

    python -m sentinel_assets.spec.reference        # or: sentinel schema --out FILE
"""

from __future__ import annotations

import argparse
import copy
import json
import typing
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Optional, Union

from pydantic import BaseModel, Field, create_model
from pydantic_core import PydanticUndefined

from sentinel_assets.core import template_sandbox
from sentinel_assets.core.bounds import MESSAGE_CHARS
from sentinel_assets.core.durations import MAX_DURATION, format_duration
from sentinel_assets.core.excerpt import EXCERPT_CHARS
from sentinel_assets.names import DUE_PREFIX, OWN_SENSORS, RESERVED_NAMES
from sentinel_assets.spec import loader, models, yaml_lines
from sentinel_assets.spec.env_vars import ENV_REF
from sentinel_assets.spec.models import (
    ALERT_NAME,
    ASSET_KEY,
    RESOURCE_NAME,
    WINDOWS,
    AlertSpec,
    ConditionSpec,
    DatabaseSpec,
    DefaultsSpec,
    EscalateSpec,
    NotifyEntry,
)
from sentinel_assets.spec.source import Model as _Model

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_TITLE = "sentinel_assets spec file"
SCHEMA_FILE = "sentinel-spec.schema.json"
REFERENCE_FILE = "spec-reference.md"
#: ``docs/`` of the repository this module lives in
DOCS_DIR = Path(__file__).resolve().parents[2] / "docs"

# a positive duration as parse_duration reads it: 90s, 15m, 4h, 1d, 1w, 1h30m, 250ms
DURATION_PATTERN = r"^\s*(?=[^1-9]*[1-9])(\d+(\.\d+)?\s*([mM][sS]|[sSmMhHdDwW])\s*)+$"
ENV_PATTERN = ENV_REF.pattern


class SpecFile(_Model):
    """One spec file. Every section is optional; a directory's files are read together."""

    databases: dict[str, Union[str, DatabaseSpec]] | None = Field(
        default=None, description="Databases the alerts query, by name (letters, digits and "
        "underscores, starting with a letter); a string is short for {url: ...}.")
    channels: dict[str, Any] | None = Field(
        default=None, description="Where notices go, by name; each entry has a type (log, "
        "slack, email or webhook) and that type's settings.")
    defaults: DefaultsSpec | None = Field(
        default=None, description="Values every alert gets unless it sets its own; each key "
        "may be set in one file only.")
    alerts: list[AlertSpec] | None = Field(
        default=None, description="The alerts: a list of mappings, each starting with name:; "
        "names are unique across all files.")


def channel_specs() -> dict[str, type[BaseModel]]:
    """Every channel type's spec model, by its ``type:`` word."""
    return dict(loader.CHANNEL_SPECS)


def spec_models() -> list[type[BaseModel]]:
    """Every model a spec file is made of, in the order the reference lists them."""
    return [SpecFile, DatabaseSpec, *channel_specs().values(), DefaultsSpec, AlertSpec,
            ConditionSpec, NotifyEntry, EscalateSpec]


# ------------------------------------------------------------------------------------------------
# JSON Schema
# ------------------------------------------------------------------------------------------------
def json_schema() -> dict:
    """The JSON Schema (draft 2020-12) of one spec file, as the loader reads it."""
    channels = channel_specs()
    union = Annotated[Union[tuple(channels.values())], Field(discriminator="type")]

    typed = create_model("SpecFile", __base__=SpecFile, __doc__=SpecFile.__doc__,
                         channels=(Optional[dict[str, union]], SpecFile.model_fields["channels"]))
    raw = typed.model_json_schema(mode="validation")
    defs = raw.pop("$defs")
    defs["SpecFile"] = {**raw, "title": "SpecFile"}
    for model in spec_models():
        _adjust_model(defs[model.__name__], model)
    defs["Duration"] = {
        "description": "A positive duration: a number of seconds, or a string of number+unit "
        "parts (ms, s, m, h, d, w) like 90s, 15m, 4h or 1h30m; at most "
        f"{format_duration(MAX_DURATION)} (ten years).",
        "anyOf": [{"type": "string", "pattern": DURATION_PATTERN},
                  {"type": "number", "exclusiveMinimum": 0}],
    }
    defs["EnvReference"] = {
        "description": "A ${VAR} or ${VAR:-default} reference, replaced from the environment "
        "when the specs are loaded.",
        "type": "string", "pattern": ENV_PATTERN,
    }
    _adjust_file(defs["SpecFile"], channels)
    _adjust_database(defs["DatabaseSpec"])
    _adjust_alert(defs["AlertSpec"])
    for kind, model in channels.items():
        _adjust_channel(defs[model.__name__], kind)
    _flatten_any_of(defs)
    for name, node in defs.items():
        if name not in ("Duration", "EnvReference"):
            _allow_env(node)
    top = defs.pop("SpecFile")
    top.pop("title", None)
    return {
        "$schema": SCHEMA_DIALECT,
        "title": SCHEMA_TITLE,
        "description": f"{top.pop('description')} Generated from the models of "
        "sentinel_assets.spec (python -m sentinel_assets.spec.reference).",
        **top,
        "$defs": dict(sorted(defs.items())),
    }


def _validators(model: type[BaseModel], suffix: str) -> set[str]:
    """The fields a model checks with a validator whose name ends in ``suffix``."""
    found: set[str] = set()
    for name, dec in model.__pydantic_decorators__.field_validators.items():
        if name.endswith(suffix):
            found.update(dec.info.fields)
    return found


def _yaml_name(model: type[BaseModel], field: str) -> str:
    return model.model_fields[field].alias or field


def _adjust_model(node: dict, model: type[BaseModel]) -> None:
    props = node.get("properties", {})
    for prop in props.values():
        prop.pop("title", None)
    for field, info in model.model_fields.items():
        prop = props.get(_yaml_name(model, field))
        if prop is None:
            continue
        if field in _validators(model, "_durations"):
            _as_duration(prop, info)
        if field in _validators(model, "_as_list"):
            _single_or_list(prop)
        if field in _validators(model, "_as_text"):
            prop["additionalProperties"] = {"type": ["string", "number", "boolean"]}


def _as_duration(prop: dict, info: Any) -> None:
    """A duration field: number+unit strings, and numbers where the field takes them."""
    args = set(typing.get_args(info.annotation)) or {info.annotation}
    if timedelta in args:
        core: dict = {"$ref": "#/$defs/Duration"}
    elif int in args:
        core = {"anyOf": [{"type": "string", "pattern": DURATION_PATTERN},
                          {"type": "integer", "exclusiveMinimum": 0}]}
    else:
        core = {"type": "string", "pattern": DURATION_PATTERN}
    keep = {k: prop[k] for k in ("description", "default") if k in prop}
    if isinstance(keep.get("default"), str) and keep["default"].startswith("P"):
        keep["default"] = format_duration(info.default)  # pydantic writes ISO 8601 (PT1M)
    prop.clear()
    if type(None) in args:
        prop["anyOf"] = [core, {"type": "null"}]
    else:
        prop.update(core)
    prop.update(keep)


def _single_or_list(prop: dict) -> None:
    """A list field that also takes one item in place of the list."""
    branches = prop.get("anyOf") or [prop]
    for branch in branches:
        if branch.get("type") == "array":
            array = {k: v for k, v in branch.items() if k not in ("description", "default")}
            single = copy.deepcopy(branch["items"])
            for key in list(array):
                branch.pop(key)
            branch["anyOf"] = [single, array]
            return


def _flatten_any_of(node: Any) -> None:
    """``anyOf: [{anyOf: [a, b]}, c]`` -> ``anyOf: [a, b, c]``, everywhere below ``node``."""
    if isinstance(node, list):
        for item in node:
            _flatten_any_of(item)
    elif isinstance(node, dict):
        for value in node.values():
            _flatten_any_of(value)
        if isinstance(node.get("anyOf"), list):
            flat: list = []
            for branch in node["anyOf"]:
                nested = isinstance(branch, dict) and set(branch) == {"anyOf"}
                flat.extend(branch["anyOf"] if nested else [branch])
            node["anyOf"] = flat


def _present(field: str) -> dict:
    return {"required": [field], "properties": {field: {"not": {"type": "null"}}}}


def _adjust_file(node: dict, channels: dict[str, type[BaseModel]]) -> None:
    node["type"] = ["object", "null"]  # an empty file is a valid (empty) spec file
    props = node["properties"]
    for section in ("databases", "channels"):
        mapping = next(b for b in props[section]["anyOf"] if b.get("type") == "object")
        mapping["propertyNames"] = {"pattern": RESOURCE_NAME.pattern}
    chans = next(b for b in props["channels"]["anyOf"] if b.get("type") == "object")
    chans["additionalProperties"] = {
        "type": "object",
        "required": ["type"],
        "properties": {"type": {"enum": list(channels),
                                "description": "The channel type: " + ", ".join(channels) + "."}},
        "allOf": [
            {"if": {"properties": {"type": {"const": kind}}},
             "then": {"$ref": f"#/$defs/{model.__name__}"}}
            for kind, model in channels.items()
        ],
    }


def _adjust_database(node: dict) -> None:
    props = node["properties"]
    props["url"]["pattern"] = r"(://|\$\{)"
    props["credentials"]["anyOf"] = [{"const": "anonymous"}, {"type": "null"}]
    node["allOf"] = [{"if": _present("credentials"), "then": _present("api_endpoint")}]


def _adjust_alert(node: dict) -> None:
    props = node["properties"]
    props["name"]["pattern"] = ALERT_NAME.pattern
    asset = next(b for b in props["asset"]["anyOf"] if b.get("type") == "string")
    asset["pattern"] = ASSET_KEY.pattern
    window = next(b for b in props["window"]["anyOf"] if b.get("type") == "string")
    window["examples"] = [*WINDOWS, "0 6 * * *"]
    # database and schedule may come from defaults (possibly in another file)
    node["required"] = [r for r in node["required"] if r not in ("database", "schedule")]
    node["allOf"] = [
        *({"if": _present(f), "then": _present("window")} for f in ("start", "lag")),
        {"if": {"required": ["notify_backfills"],
                "properties": {"notify_backfills": {"const": True}}},
         "then": _present("window")},
        {"not": {"allOf": [_present("window"), _present("asset")]}},
    ]


def _adjust_channel(node: dict, kind: str) -> None:
    props = node["properties"]
    ordered = {"type": props.pop("type")}  # the type first, `from:` where `sender` is
    for name, prop in props.items():
        ordered[name] = prop
        if name == "sender" and "from" not in props:  # the YAML writes `from:`
            ordered["from"] = copy.deepcopy(prop)
    node["properties"] = ordered
    if kind == "slack":
        node["anyOf"] = [
            {"required": ["webhook_url"], "not": {"required": ["token"]}},
            {"required": ["token", "channel"], "not": {"required": ["webhook_url"]}},
        ]


def _is_scalar_leaf(node: dict) -> bool:
    """A value a ``${VAR}`` may stand for: a number, boolean, word or patterned string."""
    if "$ref" in node or "anyOf" in node:
        return False
    kind = node.get("type")
    return ("enum" in node or "const" in node or kind in ("integer", "number", "boolean")
            or (kind == "string" and "pattern" in node))


_ENV = {"$ref": "#/$defs/EnvReference"}


def _allow_env(node: Any) -> None:
    """Let a ``${VAR}`` reference stand where a non-text value is expected (the loader expands
    it, then validates the value). Not for a channel's ``type``, which is read before that."""
    if not isinstance(node, dict):
        return
    for name, sub in node.get("properties", {}).items():
        if name != "type":
            _wrap(sub)
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            _wrap(node[key])


def _wrap(node: dict) -> None:
    if "anyOf" in node:
        if any(_is_scalar_leaf(b) or b.get("$ref") == "#/$defs/Duration" for b in node["anyOf"]):
            if _ENV not in node["anyOf"]:
                node["anyOf"].append(dict(_ENV))
        for branch in node["anyOf"]:
            if not _is_scalar_leaf(branch):
                _allow_env(branch)
        return
    if node.get("$ref") == "#/$defs/Duration":
        node.pop("$ref")
        node["anyOf"] = [{"$ref": "#/$defs/Duration"}, dict(_ENV)]
        return
    if _is_scalar_leaf(node):
        core = {k: node.pop(k) for k in list(node)
                if k not in ("description", "default", "examples")}
        node["anyOf"] = [core, dict(_ENV)]
        return
    _allow_env(node)


# ------------------------------------------------------------------------------------------------
# Markdown
# ------------------------------------------------------------------------------------------------
BATCH_RULE = """\
- `batch:` (an alert's or `defaults.batch`) is accepted and ignored, with a warning from
  `sentinel validate`: every scheduled alert is evaluated in grouped runs.
"""

COMBINATION_RULES = """\
What the loader checks beyond the type of each field (the JSON Schema checks the ones marked
*schema* too; the others need `sentinel validate`):

- `start`, `lag` and `notify_backfills: true` only apply to an alert with a `window:`; without
  one they are an error (*schema*).
- `window:` and `asset:` cannot be combined in one alert ("split it in two") (*schema*).
{batch}- `window:` does not replace `schedule:`: every alert needs a schedule (its own or
  `defaults.schedule`). The schedule decides when the alert runs; the window decides which period
  a run evaluates (the last complete one, `lag` after it ends).
- `database` and `schedule` are required, but may come from `defaults` in any file of the
  directory; the database must be defined under `databases:` in some file.
- Every channel named in `notify`, `owner` and `escalate.notify` must be defined under
  `channels:` in some file.
- `condition:` replaces the `status` column: with it the query's other columns are context.
- `escalate.after` greater than 1 without `repeat_interval` is a warning: only one notice
  (`firing`) is sent per episode, so the escalation would never happen.
- A database's `credentials` can only be `anonymous`, and only together with `api_endpoint`
  (*schema*); its `url` must be a SQLAlchemy URL or `bigquery://PROJECT[/DATASET]`.
- A `slack` channel takes `token` and `channel`, or `webhook_url`, not both (*schema*).
- `templates` keys are a part (`subject`, `body`, `html`, as far as the channel type renders it)
  optionally after a notice kind (`resolved.subject`); each template is parsed and rendered
  against a sample notice when the specs are loaded.
"""

CROSS_FILE_RULES = """\
- Every `*.yaml`/`*.yml` file under the specs directory (default `./alert_specs`, or
  `$SENTINEL_SPECS_DIR`) is read; the top level holds only `databases`, `channels`, `defaults`
  and `alerts`, and an unknown key anywhere is an error.
- Alert names are unique across all files; database and channel names too (letters, digits and
  underscores, starting with a letter, at most 63 characters).
- `defaults` may be split over files, but each key is set in one file only (or to the same
  value). An alert's own value wins; `notify` replaces the default list, `tags` are merged.
- A key written twice in one mapping is an error.
- One broken alert, database or channel is reported and left out; the rest still load.
"""

LIMITS = f"""\
A spec file is untrusted input: `sentinel validate` and the code location report a file or an
alert past one of these limits as a spec error (file, alert, field), and the rest still load.

| what | limit |
| --- | --- |
| size of one file | {yaml_lines.MAX_CHARS:,} bytes (5 MiB) |
| lists and mappings inside each other | {yaml_lines.MAX_DEPTH} levels |
| aliases (`*name`) in one file | {yaml_lines.MAX_ALIASES:,} uses |
| values in one file, each alias expanded | {yaml_lines.MAX_NODES:,} (an alias bomb stops here) |
| keys | plain values: a list or mapping as a key (`? [a, b]`) is an error |
| a duration (`repeat_interval`, `timeout`, `lag`) | {format_duration(MAX_DURATION)}; `.inf` and `.nan` are errors |
| `timezone` | {models.TIMEZONE_CHARS} characters (an IANA name) |
| `schedule`, `window` (cron) | {models.CRON_CHARS:,} characters |
| alert names | not one of sentinel's own: {", ".join(f"`{n}`" for n in (*RESERVED_NAMES, *OWN_SENSORS))}, nor `{DUE_PREFIX}*` (its grouped schedules) |
| a template's source | {template_sandbox.MAX_SOURCE:,} characters |
| a template's rendering | the limits of the template sandbox ([notifications.md](notifications.md#template-limits)): rendered with the sample notice of each kind when the specs are loaded |

A value quoted in an error message is cut after {EXCERPT_CHARS} characters
(`… [truncated, N chars]`), and an error message after {MESSAGE_CHARS:,}.
"""

ENV_RULES = """\
`${VAR}` and `${VAR:-default}` are replaced from the environment when the specs are loaded, in
every value except secrets: a database's `url` and `credentials_path`, and the secret settings of
channels (tokens, passwords, webhook URLs and secrets, header values) keep the reference and
reach Dagster as `dg.EnvVar`, so no secret is written into a run config. An unset variable
without a default is an error. In the JSON Schema a reference is accepted wherever a number,
boolean or fixed word is expected.
"""


def markdown_reference() -> str:
    """The spec reference page: every section and field with type, default and description."""
    schema = json_schema()
    defs = schema["$defs"]
    out = [
        "# Spec reference",
        "",
        "<!-- Generated from the models of sentinel_assets/spec by "
        "`python -m sentinel_assets.spec.reference`; do not edit by hand. -->",
        "",
        "The YAML contract of `sentinel_assets`, field by field. The same content as a JSON "
        f"Schema is [{SCHEMA_FILE}]({SCHEMA_FILE}) (`sentinel schema` prints it); with the YAML "
        "extension of an editor, a first line",
        "",
        "```yaml",
        f"# yaml-language-server: $schema=../docs/{SCHEMA_FILE}",
        "```",
        "",
        "in a file under `alert_specs/` gives completion and checks as you type. "
        "`sentinel validate` checks everything, including what a schema cannot: references "
        "between files, cron expressions, timezones, templates.",
        "",
        "## File",
        "",
        _first_line(SpecFile.__doc__),
        "",
        _table(schema, SpecFile),
        "",
        "Secrets and environment variables: " + ENV_RULES,
        "## databases",
        "",
        _first_line(DatabaseSpec.__doc__) + " A string value is short for `{url: ...}`.",
        "",
        _table(defs["DatabaseSpec"], DatabaseSpec),
        "",
        "## channels",
        "",
        "Each entry has a `type:`; the other settings depend on it. Delivery, retries and the "
        "message templates are described in [notifications.md](notifications.md).",
        "",
    ]
    for kind, model in channel_specs().items():
        out += [f"### type: {kind}", "", _first_line(model.__doc__), "",
                _table(defs[model.__name__], model), ""]
    out += [
        "## defaults",
        "",
        _first_line(DefaultsSpec.__doc__),
        "",
        _table(defs["DefaultsSpec"], DefaultsSpec),
        "",
        "## alerts",
        "",
        _first_line(AlertSpec.__doc__),
        "",
        _table(defs["AlertSpec"], AlertSpec),
        "",
        "### condition",
        "",
        _first_line(ConditionSpec.__doc__),
        "",
        _table(defs["ConditionSpec"], ConditionSpec),
        "",
        "### notify entries",
        "",
        _first_line(NotifyEntry.__doc__) + " Written `{channel: NAME, on: [KIND, ...]}` in "
        "`notify`, next to plain channel names.",
        "",
        _table(defs["NotifyEntry"], NotifyEntry),
        "",
        "### escalate",
        "",
        _first_line(EscalateSpec.__doc__),
        "",
        _table(defs["EscalateSpec"], EscalateSpec),
        "",
        "## Durations",
        "",
        defs["Duration"]["description"] + " Zero and negative durations are errors.",
        "",
        "## Combination rules",
        "",
        COMBINATION_RULES.format(
            batch=BATCH_RULE),
        "## Across files",
        "",
        CROSS_FILE_RULES,
        "## Limits",
        "",
        LIMITS,
    ]
    return "\n".join(out).rstrip() + "\n"


def _first_line(doc: str | None) -> str:
    text = " ".join((doc or "").split())
    return text.replace("``", "`")


def _table(node: dict, model: type[BaseModel]) -> str:
    rows = ["| field | type | default | description |", "| --- | --- | --- | --- |"]
    required = set(node.get("required", []))
    by_yaml_name = {_yaml_name(model, f): info for f, info in model.model_fields.items()}
    for name, prop in node["properties"].items():
        if name == "sender" and "from" in node["properties"]:
            continue  # accepted too, but documented as `from`
        info = by_yaml_name.get(name) or by_yaml_name.get("sender")
        default = _default(info, prop, name in required)
        rows.append(f"| `{name}` | {_cell(_type_of(prop))} | {_cell(default)} | "
                    f"{_cell(prop.get('description', ''))} |")
    return "\n".join(rows)


def _default(info: Any, prop: dict, required: bool) -> str:
    if info is None:
        return "—"
    if info.is_required():
        return "required" if required else "required (may come from `defaults`)"
    if info.default_factory is not None:
        value = info.default_factory()
    elif info.default is PydanticUndefined:
        return "—"
    else:
        value = info.default
    if value is None:
        return "—"
    if isinstance(value, timedelta):
        return f"`{format_duration(value)}`"
    return f"`{json.dumps(value)}`"


def _type_of(node: dict) -> str:
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        return {"Duration": "duration", "EnvReference": "",
                "DatabaseSpec": "[database](#databases)", "ConditionSpec": "[condition](#condition)",
                "NotifyEntry": "[notify entry](#notify-entries)",
                "EscalateSpec": "[escalate](#escalate)", "DefaultsSpec": "[defaults](#defaults)",
                "AlertSpec": "[alert](#alerts)"}.get(name, name)
    if "anyOf" in node:
        parts = [_type_of(b) for b in node["anyOf"] if b.get("type") != "null"]
        return " or ".join(dict.fromkeys(p for p in parts if p))
    if "const" in node:
        return f"`{json.dumps(node['const'])}`"
    if "enum" in node:
        return " | ".join(f"`{v}`" for v in node["enum"])
    kind = node.get("type")
    if isinstance(kind, list):
        return " or ".join(kind)
    if kind == "array":
        text = f"list of {_type_of(node.get('items', {}))}"
        return text + (f" (at least {node['minItems']})" if node.get("minItems") else "")
    if kind == "object":
        if node.get("required") == ["type"]:
            return "[channel](#channels)"
        value = node.get("additionalProperties")
        if isinstance(value, dict):
            return f"map of name to {_type_of(value)}"
        return "mapping"
    if kind == "string" and node.get("pattern") == DURATION_PATTERN:
        return "duration"
    if kind in ("integer", "number"):
        bounds = []
        if "minimum" in node:
            bounds.append(f"≥ {node['minimum']}")
        if "exclusiveMinimum" in node:
            bounds.append(f"> {node['exclusiveMinimum']}")
        if "maximum" in node:
            bounds.append(f"≤ {node['maximum']}")
        return kind + (f" ({', '.join(bounds)})" if bounds else "")
    return kind or "any"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


# ------------------------------------------------------------------------------------------------
# files
# ------------------------------------------------------------------------------------------------
def schema_text() -> str:
    """The JSON Schema as the text of the committed file."""
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"


def write_files(docs_dir: str | Path = DOCS_DIR) -> list[Path]:
    """Write ``spec-reference.md`` and ``sentinel-spec.schema.json`` into ``docs_dir``."""
    docs = Path(docs_dir)
    docs.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in ((REFERENCE_FILE, markdown_reference()), (SCHEMA_FILE, schema_text())):
        path = docs / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", default=str(DOCS_DIR), help="directory to write into")
    args = parser.parse_args(argv)
    for path in write_files(args.docs):
        print(f"wrote {path}")  # noqa: T201


if __name__ == "__main__":
    main()
