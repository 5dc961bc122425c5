"""Hostile and mangled spec files never crash ``sentinel validate`` or the code location.

Mutations of the demo specs (types swapped, deep nesting, alias bombs, odd encodings, huge values
and numbers, control characters, duplicate keys, documents that are not a mapping), made with a
fixed seed, plus the cases of issue 14 by name. Every case is a directory with the bad file and a
good neighbour file (``zz_good.yaml``); one child process, with its address space limited to
``MEMORY_LIMIT``, runs ``sentinel validate --output json`` and ``load_specs`` on each and reports
back. The tests then check that nothing raised, that every problem is a ``SpecError`` with a file
and a bounded message, that no problem came from the loader's catch-all (an unexpected
exception), and that the good neighbour's alert still loaded.
"""

from __future__ import annotations

import copy
import datetime
import json
import os
import random
import resource
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import yaml

from sentinel_assets_tests.helpers import DEMO_SPECS, REPO_ROOT

SEED = 14
RANDOM_CASES = 260
MEMORY_LIMIT = 1 << 30  # address space of the child process
CHILD_TIMEOUT = 300  # seconds for every case together; a few seconds is usual
CASE_SECONDS = 10.0  # generous: a case takes milliseconds
MESSAGE_BOUND = 2_600  # characters of one error as printed (message, file, alert, field)
GOOD_ALERT = "zz_good_neighbour"
CATCH_ALL = "could not be read ("  # the loader's words for an exception it did not expect

GOOD_FILE = textwrap.dedent("""\
    databases:
      zz_good_db: {url: "sqlite:///zz_good.db"}
    channels:
      zz_good_out: {type: log}
    alerts:
      - name: zz_good_neighbour
        database: zz_good_db
        schedule: "0 9 * * *"
        timezone: UTC
        notify: [zz_good_out]
        owner: zz_good_out
        send_resolved: true
        repeat_interval: 4h
        timeout: 30s
        no_data: ok
        query: SELECT 'OK' AS status
    """)

ONE_ALERT = """\
databases:
  db: {{url: "sqlite:///fuzz.db"}}
channels:
  out: {{type: log}}
alerts:
  - name: {name}
    database: db
    schedule: "0 9 * * *"
    notify: [out]
    query: SELECT 'OK' AS status
{extra}"""


def one_alert(extra: str = "", name: str = "fuzzed") -> str:
    return ONE_ALERT.format(name=name, extra=extra)


def laughs(levels: int = 9, indent: str = "  ") -> str:
    """Anchors ``l0`` .. ``lN``, each a list of ten aliases of the one before: 10**N items."""
    rows = [f"{indent}l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    rows += [f"{indent}l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]"
             for i in range(1, levels + 1)]
    return "\n".join(rows) + "\n"


# -- the cases of issue 14, by name ---------------------------------------------------------------
NAMED: dict[str, str | bytes] = {
    "repeat_interval_1e308": one_alert("    repeat_interval: 1.0e+308\n"),
    "repeat_interval_huge_days": one_alert("    repeat_interval: 999999999999999d\n"),
    "repeat_interval_inf": one_alert("    repeat_interval: .inf\n"),
    "timeout_1e308": one_alert("    timeout: 1.0e+308\n"),
    "timeout_huge_days": one_alert("    timeout: 999999999999999d\n"),
    "timeout_inf": one_alert("    timeout: .inf\n"),
    "timeout_nan": one_alert("    timeout: .nan\n"),
    "defaults_timeout_inf": "defaults: {timeout: .inf, repeat_interval: 1.0e+308}\n",
    "nested_lists_1000": "alerts: " + "[" * 1000 + "]" * 1000 + "\n",
    "nested_maps_5000": "alerts: " + "{a: " * 5000 + "1" + "}" * 5000 + "\n",
    "nested_lists_100": "alerts: " + "[" * 100 + "]" * 100 + "\n",
    "complex_key": one_alert("    tags:\n      ? [a, b]\n      : c\n"),
    "long_timezone": one_alert(f"    timezone: {'x' * 100_000}\n"),
    "laughs_as_alerts": "x:\n" + laughs() + "alerts: *l9\n",
    "laughs_in_defaults_tags": "x:\n" + laughs() + "defaults:\n  tags: {team: *l9}\n",
    "laughs_in_templates": "x:\n" + laughs() + one_alert("    templates: {body: *l9}\n"),
    "laughs_by_merge_keys": "x:\n  m0: &m0 {a: 1, b: 2}\n" + "".join(
        f"  m{i}: &m{i} {{<<: [" + ", ".join([f"*m{i - 1}"] * 10) + "]}\n"
        for i in range(1, 9)) + "defaults:\n  tags: *m8\n",
    "alias_refers_to_itself": "x: &a [1, *a]\n",
    "template_nested_ranges": one_alert(
        "    templates:\n      body: \"{% for i in range(100000) %}{% for j in range(100000) %}x"
        "{% endfor %}{% endfor %}\"\n"),
    "template_string_times": one_alert(
        "    templates:\n      subject: \"{{ 'x' * 500000000 }}\"\n"),
    "reserved_sentinel_healthcheck": one_alert(name="sentinel_healthcheck"),
    "reserved_sentinel_retention": one_alert(name="sentinel_retention"),
    "reserved_sentinel_evaluate": one_alert(name="sentinel_evaluate"),
    "reserved_due_schedule": one_alert(name="sentinel_due_0123abcd"),
    "integer_of_5000_digits": one_alert(f"    for: {'9' * 5000}\n"),
    "impossible_date": one_alert("    start: 2026-13-45\n    window: daily\n"),
    "python_object_tag": "alerts: !!python/object/apply:os.system ['touch /tmp/sentinel_fuzz']\n",
    "file_of_6_mib": one_alert("    description: " + "x" * (6 * 1024 * 1024) + "\n"),
    "notify_of_50000_items": one_alert().replace(
        "notify: [out]", "notify: [" + ", ".join(["out"] * 50_000) + "]"),
    "utf8_bom": b"\xef\xbb\xbf" + one_alert().encode(),
    "utf16": one_alert().encode("utf-16"),
    "invalid_utf8": one_alert("    description: caf\xe9\n").encode("latin-1"),
    "nul_byte": one_alert("    description: a\x00b\n"),
    "two_documents": one_alert() + "---\n" + one_alert(name="second"),
    "list_document": "- a\n- b\n",
    "scalar_document": "just text\n",
    "empty_file": "",
}


# -- mutations of the demo specs -----------------------------------------------------------------
def _nested(depth: int, kind: str):
    value: object = 1
    for _ in range(depth):
        value = [value] if kind == "list" else {"a": value}
    return value


WEIRD_VALUES: list = [
    None, True, False, 0, -1, 2 ** 64, 10 ** 400, 1e308, -1e308, float("inf"), float("nan"), -0.0,
    "", " ", "x" * 100_000, "\u202e\x01\x7f\u2028", "${SENTINEL_FUZZ_UNSET}", "${", "${A:-${B}}",
    "999999999999999d", "1.0e+308", ".inf", "-5m", "0s", "@daily" * 500, "0 9 * * *",
    "sentinel_healthcheck", "Europe/Berlin" * 1000, "é" * 5000, "\U0001F600",
    "{{ 'x' * 500000000 }}", "{% for i in range(100000) %}x{% endfor %}", "{{ nope(",
    [], {}, [None], {"a": None}, list(range(5000)), {f"k{i}": i for i in range(3000)},
    _nested(30, "list"), _nested(30, "dict"), _nested(80, "list"), _nested(80, "dict"),
    datetime.date(2026, 1, 1), datetime.datetime(2026, 1, 1, 6, 0), b"\x00\xff",
]
CONTROL = [chr(c) for c in (*range(0, 9), 11, 12, *range(14, 32), 127, 0x85, 0xFFFE)]


def _paths(node, path=()):
    yield path
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, (*path, index))


def _replaced(doc, path, value):
    if not path:
        return value
    doc = copy.deepcopy(doc)
    node = doc
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return doc


def _dump(doc) -> str:
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return yaml.dump(doc, Dumper=dumper, sort_keys=False, allow_unicode=True, width=1 << 30)


def _text_mutation(rng: random.Random, text: str) -> str | bytes:
    lines = text.splitlines(keepends=True)
    i = rng.randrange(len(lines))
    kind = rng.choice(["control", "duplicate_line", "drop_line", "truncate", "swap_lines",
                       "indent", "bad_byte", "bom", "utf16", "anchor_alias", "tab"])
    if kind == "control":
        at = rng.randrange(len(text))
        return text[:at] + rng.choice(CONTROL) + text[at:]
    if kind == "duplicate_line":
        return "".join(lines[: i + 1] + [lines[i]] + lines[i + 1:])
    if kind == "drop_line":
        return "".join(lines[:i] + lines[i + 1:])
    if kind == "truncate":
        return text[: rng.randrange(len(text))]
    if kind == "swap_lines":
        j = rng.randrange(len(lines))
        lines[i], lines[j] = lines[j], lines[i]
        return "".join(lines)
    if kind == "indent":
        lines[i] = ("  " + lines[i]) if rng.random() < 0.5 else lines[i].lstrip()
        return "".join(lines)
    if kind == "bad_byte":
        data = bytearray(text.encode())
        data[rng.randrange(len(data))] = rng.randrange(0x80, 0x100)
        return bytes(data)
    if kind == "bom":
        return b"\xef\xbb\xbf" + text.encode()
    if kind == "utf16":
        return text.encode(rng.choice(["utf-16", "utf-16-le", "utf-32"]))
    if kind == "anchor_alias":
        # an anchor on one value, an alias of it somewhere else (often in a place it does not fit)
        j = rng.randrange(len(lines))
        lines[i] = lines[i].replace(": ", ": &fz ", 1)
        lines[j] = lines[j].replace(": ", ": *fz #", 1)
        return "".join(lines)
    lines[i] = lines[i].replace("  ", "\t", 1)
    return "".join(lines)


def fuzz_cases() -> dict[str, bytes]:
    """Every case by id: the named ones, then ``RANDOM_CASES`` mutations (fixed seed)."""
    rng = random.Random(SEED)
    base_text = (DEMO_SPECS / "demo.yaml").read_text(encoding="utf-8")
    base = yaml.safe_load(base_text)
    paths = list(_paths(base))
    cases = {name: text if isinstance(text, bytes) else text.encode("utf-8")
             for name, text in NAMED.items()}
    for n in range(RANDOM_CASES):
        roll = rng.random()
        if roll < 0.55:  # a value of the wrong type, size or shape somewhere
            path = rng.choice(paths)
            value = rng.choice(WEIRD_VALUES)
            if isinstance(value, bytes):
                value = value.decode("latin-1")
            text: str | bytes = _dump(_replaced(base, path, value))
            label = "value"
        elif roll < 0.65:  # a key of the wrong type or a strange name
            path = rng.choice([p for p in paths if p and isinstance(p[-1], str)])
            doc = copy.deepcopy(base)
            node = doc
            for part in path[:-1]:
                node = node[part]
            key = rng.choice([1, True, None, 1.5, "x" * 5000, "sentinel_retention", "", "on"])
            node[key] = node.pop(path[-1])
            text, label = _dump(doc), "key"
        else:  # the text itself: bytes, lines, indentation, anchors
            text, label = _text_mutation(rng, base_text), "text"
        cases[f"random_{n:03d}_{label}"] = text if isinstance(text, bytes) else text.encode()
    return cases


# -- the child process ----------------------------------------------------------------------------
def child_main(cases_dir: str, out_path: str, defs_cases: str) -> None:
    """Run every case directory under ``cases_dir``; write the results as JSON to ``out_path``.
    The cases named in ``defs_cases`` (comma-separated) are also compiled into Definitions."""
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    from click.testing import CliRunner

    from sentinel_assets.cli.main import main
    from sentinel_assets.spec.errors import SpecError
    from sentinel_assets.spec.loader import load_specs

    runner = CliRunner()
    results = {}
    for case in sorted(Path(cases_dir).iterdir()):
        started = time.process_time()
        result: dict = {"raised": None}
        try:
            invoked = runner.invoke(main, ["validate", str(case), "--output", "json"])
            result["validate_exit"] = invoked.exit_code
            if invoked.exception is not None and not isinstance(invoked.exception, SystemExit):
                result["raised"] = f"validate: {type(invoked.exception).__name__}: " \
                                   f"{str(invoked.exception)[:300]}"
            else:
                summary = json.loads(invoked.stdout)
                result["validate_errors"] = len(summary["errors"])
            config = load_specs(case)
            result["alerts"] = [a.name for a in config.alerts]
            result["errors"] = [
                {"is_spec_error": isinstance(e, SpecError), "file": e.file, "alert": e.alert,
                 "field": e.field, "section": e.section, "line": e.line, "warning": e.warning,
                 "message": e.message[:5000], "printed": len(str(e))}
                for e in config.errors]
            if case.name in defs_cases.split(","):
                result["defs"] = _compile(case)
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            result["raised"] = f"{type(exc).__name__}: {str(exc)[:300]}"
        result["cpu_seconds"] = time.process_time() - started
        results[case.name] = result
    results["__maxrss_kib__"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    Path(out_path).write_text(json.dumps(results))


def _compile(case: Path) -> dict:
    """What ``dagster definitions validate`` checks, in process: build the Definitions of the
    directory and validate that they load."""
    import logging

    import dagster as dg

    from sentinel_assets.names import SPEC_ERRORS_SENSOR
    from sentinel_assets.orchestration.factory import build_sentinel_defs

    logged: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: logged.append(record.getMessage())  # type: ignore[method-assign]
    logging.getLogger("sentinel_assets").addHandler(handler)
    try:
        defs = build_sentinel_defs(case)
        dg.Definitions.validate_loadable(defs)
        repo = defs.get_repository_def()
        sensor = repo.get_sensor_def(SPEC_ERRORS_SENSOR)
        return {"jobs": sorted(j.name for j in repo.get_all_jobs()),
                "sensor_description": sensor.description or "",
                "logged_chars": sum(len(m) for m in logged)}
    finally:
        logging.getLogger("sentinel_assets").removeHandler(handler)


# -- the tests ----------------------------------------------------------------------------------
DEFS_CASES = ("laughs_as_alerts", "reserved_sentinel_healthcheck", "reserved_sentinel_retention")


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> dict:
    """Every case, run once in a child process with limited memory."""
    root = tmp_path_factory.mktemp("spec_fuzz")
    cases_dir = root / "cases"
    for name, data in fuzz_cases().items():
        folder = cases_dir / name
        folder.mkdir(parents=True)
        (folder / "bad.yaml").write_bytes(data)
        (folder / "zz_good.yaml").write_text(GOOD_FILE, encoding="utf-8")
    out = root / "results.json"
    env = {**os.environ, "SENTINEL_SPEC_CACHE": "off", "DAGSTER_HOME": str(root),
           "PYTHONPATH": str(REPO_ROOT)}
    code = ("import sys; from sentinel_assets_tests.spec.test_spec_fuzz import child_main; "
            "child_main(*sys.argv[1:])")
    done = subprocess.run(
        [sys.executable, "-c", code, str(cases_dir), str(out), ",".join(DEFS_CASES)],
        cwd=root, env=env, timeout=CHILD_TIMEOUT,
        capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-5000:]
    return json.loads(out.read_text())


def test_the_cases_are_a_few_hundred_and_the_same_every_time():
    first, again = fuzz_cases(), fuzz_cases()
    assert first == again
    assert len(first) >= 280
    assert set(NAMED) <= set(first)


def test_no_case_raises_and_every_error_is_a_bounded_spec_error(results):
    problems = []
    for name, result in results.items():
        if name.startswith("__"):
            continue
        if result["raised"]:
            problems.append(f"{name}: raised {result['raised']}")
            continue
        if result["validate_exit"] not in (0, 1):
            problems.append(f"{name}: validate exited {result['validate_exit']}")
        for error in result["errors"]:
            if not error["is_spec_error"] or not error["file"]:
                problems.append(f"{name}: not a SpecError with a file: {error}")
            if CATCH_ALL in error["message"]:
                problems.append(f"{name}: an unexpected exception: {error['message'][:300]}")
            if error["printed"] > MESSAGE_BOUND:
                problems.append(f"{name}: an error of {error['printed']:,} characters")
    assert problems == []


def test_a_good_alert_next_to_a_bad_file_still_loads(results):
    missing = [name for name, result in results.items()
               if not name.startswith("__") and GOOD_ALERT not in result["alerts"]]
    about_good_file = [(name, e["message"][:200]) for name, result in results.items()
                       if not name.startswith("__") for e in result["errors"]
                       if e["file"].endswith("zz_good.yaml")]
    assert missing == []
    assert about_good_file == []


def test_every_case_stays_within_the_time_and_memory_budget(results):
    slow = {name: round(r["cpu_seconds"], 2) for name, r in results.items()
            if not name.startswith("__") and r["cpu_seconds"] > CASE_SECONDS}
    assert slow == {}
    assert results["__maxrss_kib__"] * 1024 < MEMORY_LIMIT


def test_mutations_are_reported_not_swallowed(results):
    """Most mutations break something, and say so."""
    random_cases = [r for name, r in results.items() if name.startswith("random_")]
    reported = [r for r in random_cases if any(not e["warning"] for e in r["errors"])]
    assert len(reported) > len(random_cases) // 2


# -- the cases of issue 14, one by one -------------------------------------------------------------
def errors_of(results: dict, case: str) -> list[dict]:
    result = results[case]
    assert result["raised"] is None
    assert GOOD_ALERT in result["alerts"]
    return [e for e in result["errors"] if not e["warning"]]


@pytest.mark.parametrize("case, field", [
    ("repeat_interval_1e308", "repeat_interval"),
    ("repeat_interval_huge_days", "repeat_interval"),
    ("repeat_interval_inf", "repeat_interval"),
    ("timeout_1e308", "timeout"),
    ("timeout_huge_days", "timeout"),
    ("timeout_inf", "timeout"),
])
def test_durations_too_long_for_a_timedelta_are_spec_errors(results, case, field):
    errors = errors_of(results, case)
    assert [(e["alert"], e["field"]) for e in errors] == [("fuzzed", field)]
    assert "a duration can be at most 3650d" in errors[0]["message"]


def test_nan_and_infinite_defaults_are_spec_errors(results):
    assert "expected a duration" in errors_of(results, "timeout_nan")[0]["message"]
    errors = errors_of(results, "defaults_timeout_inf")
    assert sorted((e["section"], e["field"]) for e in errors) == [
        ("defaults", "repeat_interval"), ("defaults", "timeout")]


@pytest.mark.parametrize("case", ["nested_lists_1000", "nested_maps_5000", "nested_lists_100"])
def test_deep_nesting_is_a_spec_error_not_a_recursion_error(results, case):
    errors = errors_of(results, case)
    assert len(errors) == 1 and errors[0]["file"].endswith("bad.yaml")
    assert "nest" in errors[0]["message"] and "the file was not loaded" in errors[0]["message"]


def test_a_complex_mapping_key_is_a_spec_error(results):
    (error,) = errors_of(results, "complex_key")
    assert error["line"] == 12
    assert "a key is a list or mapping" in error["message"]


def test_a_timezone_of_100000_characters_is_a_short_spec_error(results):
    (error,) = errors_of(results, "long_timezone")
    assert (error["alert"], error["field"]) == ("fuzzed", "timezone")
    assert "unknown timezone 'xxxx" in error["message"]
    assert "[truncated, 100,000 chars]" in error["message"]
    assert error["printed"] < 500


@pytest.mark.parametrize("case", ["laughs_as_alerts", "laughs_in_defaults_tags",
                                  "laughs_in_templates", "laughs_by_merge_keys"])
def test_an_alias_bomb_stops_before_it_expands(results, case):
    (error,) = errors_of(results, case)
    assert error["file"].endswith("bad.yaml")
    assert "more than 500,000 values once its aliases (*name) are expanded" in error["message"]
    assert error["printed"] < 500
    assert results[case]["cpu_seconds"] < CASE_SECONDS


def test_an_alias_inside_itself_is_a_spec_error(results):
    (error,) = errors_of(results, "alias_refers_to_itself")
    assert "an alias (*name) refers to a list or mapping that contains it" in error["message"]


@pytest.mark.parametrize("case, words", [
    ("template_nested_ranges", "range() of 100,000 items; at most 10,000"),
    ("template_string_times", "the repeated value would be longer than 65,536 characters"),
])
def test_a_template_bomb_is_refused_when_specs_are_validated(results, case, words):
    (error,) = errors_of(results, case)
    assert error["alert"] == "fuzzed" and error["field"] in ("templates.body", "templates.subject")
    assert "goes past a limit" in error["message"] and words in error["message"]


@pytest.mark.parametrize("case, name", [
    ("reserved_sentinel_healthcheck", "sentinel_healthcheck"),
    ("reserved_sentinel_retention", "sentinel_retention"),
    ("reserved_sentinel_evaluate", "sentinel_evaluate"),
    ("reserved_due_schedule", "sentinel_due_0123abcd"),
])
def test_a_reserved_alert_name_is_refused(results, case, name):
    (error,) = errors_of(results, case)
    assert (error["alert"], error["field"]) == (name, "name")
    assert "is reserved" in error["message"]


@pytest.mark.parametrize("case", ["reserved_sentinel_healthcheck", "reserved_sentinel_retention"])
def test_a_reserved_name_leaves_the_definitions_loadable(results, case):
    defs = results[case]["defs"]
    assert GOOD_ALERT in defs["jobs"]
    assert "sentinel_healthcheck" in defs["jobs"] and "sentinel_retention" in defs["jobs"]
    assert "is reserved" in defs["sensor_description"]


def test_definitions_with_an_alias_bomb_load_fast_with_a_bounded_message(results):
    """``dagster definitions validate`` once wrote a 1.4 GB log for this file."""
    defs = results["laughs_as_alerts"]["defs"]
    assert GOOD_ALERT in defs["jobs"]
    assert "aliases (*name) are expanded" in defs["sensor_description"]
    assert len(defs["sensor_description"]) < 2_000
    assert defs["logged_chars"] < 2_000


@pytest.mark.parametrize("case, words", [
    ("integer_of_5000_digits", "a value cannot be read"),
    ("impossible_date", "a value cannot be read"),
    ("python_object_tag", "invalid YAML"),
    ("file_of_6_mib", "at most 5,242,880 (5 MiB)"),
    ("invalid_utf8", "cannot read the file"),
    ("two_documents", "invalid YAML"),
    ("list_document", "expected a mapping"),
    ("scalar_document", "expected a mapping"),
])
def test_unreadable_files_are_one_error_each(results, case, words):
    (error,) = errors_of(results, case)
    assert error["file"].endswith("bad.yaml") and words in error["message"]


def test_an_encoding_with_a_byte_order_mark_is_read(results):
    assert errors_of(results, "utf8_bom") == []
    assert "fuzzed" in results["utf8_bom"]["alerts"]
