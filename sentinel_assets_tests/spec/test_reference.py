"""The spec reference and JSON Schema generated from the models: up to date, complete, and in
agreement with the loader (what the loader accepts validates; what it rejects does not)."""

from __future__ import annotations

import copy
import datetime as dt
import json
import textwrap
from pathlib import Path

import jsonschema
import pytest
import yaml
from click.testing import CliRunner

from sentinel_assets.cli.main import main as cli
from sentinel_assets.spec import reference
from sentinel_assets.spec.loader import load_specs
from sentinel_assets.spec.models import SentinelConfig
from sentinel_assets.spec.yaml_lines import load_yaml

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
SPECS = ROOT / "alert_specs"


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = reference.json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _as_json(value):
    """A YAML document as an editor sees it: dates are strings (YAML 1.2 has no timestamps)."""
    if isinstance(value, dict):
        return {str(k): _as_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_json(v) for v in value]
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return value


def _errors(validator, doc) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator.iter_errors(_as_json(doc))]


# -- (a) the committed files are what the models generate ----------------------------------------
def test_committed_reference_is_up_to_date():
    committed = (DOCS / reference.REFERENCE_FILE).read_text(encoding="utf-8")
    assert committed == reference.markdown_reference(), (
        "docs/spec-reference.md is out of date: run python -m sentinel_assets.spec.reference")


def test_committed_schema_is_up_to_date():
    committed = (DOCS / reference.SCHEMA_FILE).read_text(encoding="utf-8")
    assert committed == reference.schema_text(), (
        "docs/sentinel-spec.schema.json is out of date: run "
        "python -m sentinel_assets.spec.reference")


def test_module_main_writes_both_files(tmp_path, capsys):
    reference.main(["--docs", str(tmp_path)])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [reference.REFERENCE_FILE, reference.SCHEMA_FILE])
    assert (tmp_path / reference.SCHEMA_FILE).read_text() == reference.schema_text()
    assert (tmp_path / reference.REFERENCE_FILE).read_text() == reference.markdown_reference()
    assert "wrote" in capsys.readouterr().out


def test_schema_header():
    schema = reference.json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["title"]
    assert set(schema["properties"]) == {"databases", "channels", "defaults", "alerts"}
    assert schema["additionalProperties"] is False


# -- (b) every field is described -----------------------------------------------------------------
def test_every_model_field_has_a_description():
    missing = [f"{model.__name__}.{name}"
               for model in [*reference.spec_models(), SentinelConfig]
               for name, info in model.model_fields.items()
               if not (info.description or "").strip()]
    assert missing == []


def test_every_schema_property_has_a_description():
    schema = reference.json_schema()
    nodes = {"<file>": schema, **schema["$defs"]}
    missing = [f"{where}.{name}" for where, node in nodes.items()
               for name, prop in node.get("properties", {}).items()
               if not prop.get("description")]
    assert missing == []


def test_reference_lists_every_section_and_field():
    page = reference.markdown_reference()
    for heading in ("## databases", "## channels", "## defaults", "## alerts",
                    "## Combination rules", "### condition", "### escalate"):
        assert heading in page
    for kind in reference.channel_specs():
        assert f"### type: {kind}" in page
    for model in reference.spec_models():
        for name, info in model.model_fields.items():
            shown = "from" if name == "sender" else (info.alias or name)
            assert f"| `{shown}` |" in page, f"{model.__name__}.{name} is not in the reference"
    assert "`asset:` cannot be combined" in page or "`window:` and `asset:` cannot" in page


# -- (c) the schema accepts what the loader accepts, and rejects what it rejects -------------------
def test_every_alert_spec_file_validates(validator):
    files = sorted(p for p in SPECS.rglob("*") if p.suffix in (".yaml", ".yml"))
    assert files
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert text.startswith(f"# yaml-language-server: $schema=../docs/{reference.SCHEMA_FILE}")
        assert _errors(validator, load_yaml(text)) == [], path
    assert load_specs(SPECS).errors == []  # the comment line changes nothing for the loader


def test_yaml_language_server_path_points_at_the_schema():
    first = (SPECS / "demo.yaml").read_text(encoding="utf-8").splitlines()[0]
    target = (SPECS / first.split("$schema=", 1)[1]).resolve()
    assert target == (DOCS / reference.SCHEMA_FILE).resolve() and target.is_file()


VALID = textwrap.dedent("""\
    databases:
      main: "sqlite:///demo.db"
      warehouse:
        url: "${WAREHOUSE_URL:-sqlite:///wh.db}"
    channels:
      outbox: {type: log}
      mail:
        type: email
        to: [oncall@example.com]
        from: sentinel@example.com
        smtp_host: localhost
        smtp_port: "${SMTP_PORT:-2525}"
      chat: {type: slack, webhook_url: "${SLACK_URL:-https://hooks.example.com/x}"}
      hook: {type: webhook, url: "https://example.com/hook", headers: {X-Team: data}}
    defaults:
      database: main
      schedule: "*/5 * * * *"
      notify: outbox
      repeat_interval: 4h
      timeout: 30
      tags: {priority: 1, paging: true}
    alerts:
      - name: plain
        query: SELECT 'OK' AS status
      - name: routed
        database: warehouse
        query: SELECT 1 AS n
        condition: {column: n, op: ">", threshold: 0}
        notify: [outbox, {channel: chat, on: resolved}, {channel: hook, on: [firing, error]}]
        owner: mail
        for: "${FOR_COUNT:-2}"
        repeat_interval: 1h30m
        timeout: 2.5
        escalate: {after: 1, notify: mail}
        no_data: alert
      - name: windowed
        query: SELECT 'OK' AS status
        window: daily
        start: 2026-01-01
        lag: 2h
        notify_backfills: true
      - name: checked
        query: SELECT 'OK' AS status
        asset: analytics/orders
        severity: warn
      - name: batched
        query: SELECT 'OK' AS status
""")


def _load_dir(tmp_path: Path, doc: dict):
    folder = tmp_path / "specs"
    folder.mkdir(exist_ok=True)
    (folder / "spec.yaml").write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return load_specs(folder)


def test_loader_forms_validate(validator, tmp_path):
    doc = load_yaml(VALID)
    assert _errors(validator, doc) == []
    config = _load_dir(tmp_path, _as_json(doc))
    assert [str(e) for e in config.errors] == []
    assert len(config.alerts) == 5


def test_an_empty_file_validates(validator):
    assert _errors(validator, None) == []
    assert _errors(validator, {"alerts": None}) == []


def _parent(doc: dict, path: list):
    """The mapping holding ``path[-1]``; in a list of alerts, a key is an alert's name."""
    node = doc
    for key in path[:-1]:
        node = next(a for a in node if a["name"] == key) if isinstance(node, list) else node[key]
    return node


def _set(path: list, value):
    def change(doc: dict) -> None:
        _parent(doc, path)[path[-1]] = value
    return change


def _drop(path: list):
    def change(doc: dict) -> None:
        del _parent(doc, path)[path[-1]]
    return change


BROKEN = {
    "unknown top-level key": _set(["alert"], []),
    "unknown alert key": _set(["alerts", "plain", "notfiy"], "outbox"),
    "bad alert name": _set(["alerts", "plain", "name"], "Plain-Alert"),
    "duration without unit or with a bad one": _set(["alerts", "plain", "repeat_interval"], "4x"),
    "zero duration": _set(["alerts", "plain", "timeout"], "0s"),
    "for below 1": _set(["alerts", "plain", "for"], 0),
    "unknown notice kind": _set(["alerts", "routed", "notify"], [{"channel": "chat",
                                                                  "on": ["fired"]}]),
    "unknown no_data": _set(["alerts", "plain", "no_data"], "maybe"),
    "condition op": _set(["alerts", "routed", "condition"], {"column": "n", "op": "=~",
                                                             "threshold": 1}),
    "window and asset": _set(["alerts", "checked", "window"], "daily"),
    "start without window": _set(["alerts", "plain", "start"], "2026-01-01"),
    "lag without window": _set(["alerts", "plain", "lag"], "1h"),
    "notify_backfills without window": _set(["alerts", "plain", "notify_backfills"], True),
    "unknown channel type": _set(["channels", "outbox"], {"type": "pager"}),
    "slack with token and webhook_url": _set(["channels", "chat", "token"], "xoxb-1"),
    "email without recipients": _drop(["channels", "mail", "to"]),
    "bad database name": _set(["databases", "1st"], "sqlite:///x.db"),
    "anonymous credentials without api_endpoint": _set(
        ["databases", "warehouse", "credentials"], "anonymous"),
    "defaults with an unknown key": _set(["defaults", "severity"], "warn"),
    "escalate without channels": _set(["alerts", "routed", "escalate"], {"after": 1,
                                                                         "notify": []}),
    "max_rows too large": _set(["alerts", "plain", "max_rows"], 1_000_000),
}


@pytest.mark.parametrize("change", list(BROKEN.values()), ids=list(BROKEN))
def test_broken_documents_are_rejected_by_schema_and_loader(validator, tmp_path, change):
    doc = copy.deepcopy(_as_json(load_yaml(VALID)))
    change(doc)
    assert _errors(validator, doc), "the schema accepted it"
    assert [e for e in _load_dir(tmp_path, doc).errors if not e.warning], \
        "the loader accepted it"


# -- sentinel schema ------------------------------------------------------------------------------
def test_cli_schema_prints_the_schema():
    result = CliRunner().invoke(cli, ["schema"], catch_exceptions=False)
    assert result.exit_code == 0
    assert json.loads(result.output) == reference.json_schema()
    assert result.output == reference.schema_text()


def test_cli_schema_writes_a_file(tmp_path):
    out = tmp_path / "schema.json"
    result = CliRunner().invoke(cli, ["schema", "--out", str(out)], catch_exceptions=False)
    assert result.exit_code == 0
    assert out.read_text(encoding="utf-8") == reference.schema_text()
