"""Spec files read in worker processes give exactly what reading them one by one gives."""

from __future__ import annotations

import os
import pickle
import shutil
import sys
import types

import pytest

from sentinel_assets.spec import parallel_read
from sentinel_assets.spec.loader import load_specs
from sentinel_assets.spec.yaml_lines import LineDict, load_yaml
from sentinel_assets_tests.helpers import DEMO_SPECS, TESTS_DIR, write_spec_file
from sentinel_assets_tests.spec.test_compat import SMTP_ENV

SHARED = """\
databases:
  demo: {url: "sqlite:///demo.db"}
channels:
  outbox: {type: log}
defaults:
  database: demo
  notify: [outbox]
"""

ALERTS = """\
alerts:
  - name: {name}_a
    schedule: "0 9 * * *"
    query: SELECT 'OK' AS status
  - name: {name}_b
    schedule: "*/5 * * * *"
    query: SELECT 'ALERT' AS status
    notify: [nowhere]
"""

# a second SQL Sentinel file: the same database URL and notify entries as alerts.yaml (shared
# across files), a name that collides with one there, and a notify entry that cannot be mapped
MORE_SQLSENTINEL = """\
database:
  url: "sqlite:///sample_data.db"
alerts:
  - name: "Low Daily Revenue"
    query: SELECT 'OK' AS status
    schedule: "0 9 * * *"
  - name: "Nightly check"
    query: SELECT 'OK' AS status
    schedule: "0 3 * * *"
    notify:
      - channel: email
        recipients: ["finance@example.com", "cfo@example.com"]
        subject: "Revenue Alert: {alert_name} is {status} ({actual_value} < {threshold})"
      - channel: pager
"""


@pytest.fixture
def env(monkeypatch):
    for name, value in SMTP_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SENTINEL_SPEC_CACHE", "off")


@pytest.fixture
def mixed(tmp_path, env):
    """A directory with every kind of file the reader tells apart."""
    folder = tmp_path / "specs"
    write_spec_file(folder, "a_shared.yaml", SHARED)
    write_spec_file(folder, "b_alerts.yaml", ALERTS.format(name="first"))
    write_spec_file(folder, "c_broken.yaml", "alerts:\n  - name: x\n    query: [SELECT 1\n")
    write_spec_file(folder, "d_twice.yaml", "alerts: []\nchannels: {}\nalerts: []\n")
    shutil.copy(TESTS_DIR / "data" / "sqlsentinel" / "alerts.yaml", folder / "e_sqlsentinel.yaml")
    write_spec_file(folder, "f_more_sqlsentinel.yaml", MORE_SQLSENTINEL)
    write_spec_file(folder, "g_unknown_key.yaml", "alert: []\n" + ALERTS.format(name="second"))
    write_spec_file(folder, "h_list.yaml", "- just\n- a list\n")
    write_spec_file(folder, "i_empty.yaml", "")
    write_spec_file(folder, "sub/j_more.yml", ALERTS.format(name="third"))
    return folder


@pytest.fixture
def pool_calls(monkeypatch):
    """Every directory is read in the pool; the list of the files each pool read."""
    calls: list[list] = []
    real = parallel_read.read_in_pool

    def counted(files):
        calls.append(list(files))
        return real(files)

    monkeypatch.setattr(parallel_read, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(parallel_read, "main_runs_in_workers", lambda: False)
    monkeypatch.setattr(parallel_read, "read_in_pool", counted)
    return calls


def sequential(folder, monkeypatch):
    with monkeypatch.context() as m:
        m.setattr(parallel_read, "PARALLEL_MIN_BYTES", 10**15)
        return load_specs(folder)


def assert_same(config, expected):
    assert [a.model_dump() for a in config.alerts] == [a.model_dump() for a in expected.alerts]
    assert [str(e) for e in config.errors] == [str(e) for e in expected.errors]
    assert config.errors == expected.errors
    assert config.compat_files == expected.compat_files
    assert config.model_dump() == expected.model_dump()


def same_tree(a, b) -> bool:
    """Equal values, and equal lines, key lines and duplicates in every LineDict."""
    if type(a) is not type(b):
        return False
    if isinstance(a, LineDict):
        if (a.line, a.key_lines, a.duplicates) != (b.line, b.key_lines, b.duplicates):
            return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same_tree(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same_tree(x, y) for x, y in zip(a, b))
    return a == b


# -- pickling ----------------------------------------------------------------------------------
def test_line_dicts_pickle_with_their_lines_key_lines_and_duplicates():
    doc = load_yaml("alerts:\n  - name: x\n    tags: {a: 1, a: 2}\n    notify: [{channel: c}]\n"
                    "defaults: &d {timezone: UTC}\nother: *d\n", duplicates="record")
    tags = doc["alerts"][0]["tags"]
    assert tags.duplicates == [("a", 3, 3)] and tags.line == 3

    back = pickle.loads(pickle.dumps(doc, protocol=pickle.HIGHEST_PROTOCOL))

    assert same_tree(back, doc)
    assert back["alerts"][0]["tags"].duplicates == [("a", 3, 3)]
    assert back["other"] is back["defaults"]  # an alias stays one object
    assert not same_tree(back, load_yaml("alerts: []\n"))


# -- the same config ---------------------------------------------------------------------------
def test_the_pool_gives_the_alerts_errors_and_compat_files_of_the_sequential_read(
        mixed, monkeypatch, pool_calls):
    expected = sequential(mixed, monkeypatch)
    assert pool_calls == []

    config = load_specs(mixed)

    assert len(pool_calls) == 1 and len(pool_calls[0]) == 10
    assert_same(config, expected)
    # what the directory holds, so that the comparison compares something
    messages = [e.message for e in config.errors]
    assert any(m.startswith("invalid YAML: ") for m in messages)
    assert any(m.startswith("duplicate key 'alerts' (first at line 1)") for m in messages)
    assert any(m.startswith("unknown top-level key 'alert'") for m in messages)
    assert any(m.startswith("expected a mapping with databases") for m in messages)
    assert any("is already used at" in m for m in messages)  # across the two SQL Sentinel files
    assert any(m.startswith("unknown channel type 'pager'") for m in messages)
    assert [f["file"] for f in config.compat_files] == [str(mixed / "e_sqlsentinel.yaml"),
                                                        str(mixed / "f_more_sqlsentinel.yaml")]
    assert {a.name for a in config.alerts} >= {"first_a", "second_a", "third_a",
                                               "low_daily_revenue"}
    assert list(config.databases) == ["demo", "e_sqlsentinel"]


def test_the_pool_reads_a_generated_directory_like_the_sequential_read(
        tmp_path, monkeypatch, env, pool_calls):
    folder = tmp_path / "specs"
    write_spec_file(folder, "a_shared.yaml", SHARED)
    for i in range(4):
        write_spec_file(folder, f"alerts_{i}.yaml", ALERTS.format(name=f"n{i}"))
    expected = sequential(folder, monkeypatch)

    config = load_specs(folder)

    assert len(pool_calls) == 1
    assert len(config.alerts) == 4
    assert_same(config, expected)


def test_an_exception_while_reading_one_file_is_an_error_of_that_file_only(
        mixed, monkeypatch, pool_calls):
    real = parallel_read.load_yaml

    def load(text, **kwargs):
        if "Nightly check" in text:
            raise RuntimeError("boom")
        return real(text, **kwargs)

    monkeypatch.setattr(parallel_read, "load_yaml", load)
    # the pool's workers import the module afresh: here the workers' work, in this process
    monkeypatch.setattr(parallel_read, "read_in_pool",
                        lambda files: [parallel_read.read_one(str(p)) for p in files])
    expected = sequential(mixed, monkeypatch)

    config = load_specs(mixed)

    assert_same(config, expected)
    [error] = [e for e in config.errors if e.file.endswith("f_more_sqlsentinel.yaml")]
    assert error.message == "could not be read (RuntimeError: boom); it was left out"


# -- when there is no pool ---------------------------------------------------------------------
def _die(name):
    os._exit(3)


def test_a_worker_that_dies_leaves_the_reading_to_this_process(mixed, monkeypatch, pool_calls):
    expected = sequential(mixed, monkeypatch)
    monkeypatch.setattr(parallel_read, "read_one", _die)

    config = load_specs(mixed)

    assert len(pool_calls) == 1
    assert_same(config, expected)


def test_a_pool_that_cannot_start_leaves_the_reading_to_this_process(
        mixed, monkeypatch, pool_calls):
    expected = sequential(mixed, monkeypatch)

    def no_processes(*args, **kwargs):
        raise OSError("no more processes")

    monkeypatch.setattr("concurrent.futures.ProcessPoolExecutor", no_processes)

    config = load_specs(mixed)

    assert len(pool_calls) == 1
    assert_same(config, expected)


def test_small_directories_and_single_files_are_read_without_a_pool(tmp_path, monkeypatch, env):
    calls = []
    monkeypatch.setattr(parallel_read, "read_in_pool", lambda files: calls.append(files))
    monkeypatch.setattr(parallel_read, "main_runs_in_workers", lambda: False)

    demo = load_specs(DEMO_SPECS)
    big = write_spec_file(tmp_path / "one", "big.yaml",
                          SHARED + ALERTS.format(name="x") + "#" * 2_000_000)
    one = load_specs(big.parent)

    assert calls == []
    assert demo.alerts and [a.name for a in one.alerts] == ["x_a"]


def test_no_pool_where_workers_would_run_the_main_script_again(tmp_path, monkeypatch):
    files = [write_spec_file(tmp_path, f"{i}.yaml", "#" * 700_000) for i in range(2)]
    monkeypatch.setattr(os, "cpu_count", lambda: 2)

    def main(spec_name=None, file=None):
        module = types.ModuleType("__main__")
        module.__spec__ = types.SimpleNamespace(name=spec_name) if spec_name else None
        if file:
            module.__file__ = file
        monkeypatch.setitem(sys.modules, "__main__", module)

    main()  # python -c, an interactive session
    assert not parallel_read.main_runs_in_workers() and parallel_read.worth_a_pool(files)
    main("dagster.__main__", "/venv/lib/dagster/__main__.py")  # python -m dagster
    assert not parallel_read.main_runs_in_workers() and parallel_read.worth_a_pool(files)
    main(file="/venv/bin/sentinel")  # a console script, python script.py
    assert parallel_read.main_runs_in_workers() and not parallel_read.worth_a_pool(files)
    main("my_script", "/somewhere/my_script.py")  # python -m my_script
    assert parallel_read.main_runs_in_workers() and not parallel_read.worth_a_pool(files)
    main()
    assert not parallel_read.worth_a_pool(files[:1])
    monkeypatch.setattr(os, "cpu_count", lambda: 1)
    assert not parallel_read.worth_a_pool(files)
