"""``sentinel_spec_reload`` on real spec files: when it asks the code server to reload, and when
it does not. The reload itself, through ``dagster code-server start``, the daemon and the
webserver, is in deploy/test_stack_e2e.py."""

from __future__ import annotations

import json
import os
import shutil
import time

import dagster as dg
import pytest

from sentinel_assets.orchestration.factory import build_sentinel_defs
from sentinel_assets.orchestration.reload import (
    SETTLE_SECONDS,
    SpecFiles,
    SpecReloadRefused,
    build_spec_reload_sensor,
)
from sentinel_assets.spec.loader import load_specs
from sentinel_assets_tests.helpers import write_spec_file

FIRST = """\
    databases:
      db: {{url: "sqlite:///{db}"}}
    alerts:
      - {{name: first, schedule: "* * * * *", database: db, query: "select 'OK' as status"}}
    """
SECOND = """\
    alerts:
      - {name: second, schedule: "* * * * *", database: db, query: "select 'OK' as status"}
    """


@pytest.fixture
def specs(tmp_path, monkeypatch):
    monkeypatch.setenv("SENTINEL_SPEC_CACHE", "off")
    monkeypatch.setenv("SENTINEL_CODE_SERVER_HOST", "127.0.0.1")
    monkeypatch.setenv("SENTINEL_CODE_SERVER_PORT", "4123")
    folder = tmp_path / "specs"
    write_spec_file(folder, "first.yaml", FIRST.format(db=tmp_path / "shop.db"))
    return folder


class Watch:
    """The sensor of the specs as loaded now, with the code-server reloads it asked for."""

    def __init__(self, folder, compile_check=lambda config: None):
        self.folder = folder
        self.reloads: list[tuple[str, int]] = []
        loaded = SpecFiles.of(folder)
        self.sensor = build_spec_reload_sensor(folder, loaded, load_specs(folder), compile_check,
                                               reload=lambda *server: self.reloads.append(server))
        self.cursor: str | None = None

    def tick(self) -> str | None:
        result = self.sensor.evaluate_tick(dg.build_sensor_context(cursor=self.cursor))
        self.cursor = result.cursor or self.cursor
        return result.skip_message


def settled(folder) -> None:
    """Date every file of ``folder`` back, as if written before the settling time."""
    old = time.time() - SETTLE_SECONDS - 1
    for path in folder.iterdir():
        os.utime(path, (old, old))


def test_the_code_location_of_a_specs_directory_has_the_reload_sensor(specs):
    repo = build_sentinel_defs(specs, job_prefix="alerts_").get_repository_def()
    sensor = repo.get_sensor_def("alerts_sentinel_spec_reload")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    result = sensor.evaluate_tick(dg.build_sensor_context())
    assert result.skip_message == "the spec files are as they were loaded"
    # an already loaded config has no directory to watch
    assert not build_sentinel_defs(load_specs(specs)).get_repository_def().has_sensor_def(
        "sentinel_spec_reload")


def test_an_added_file_is_reloaded_once_it_has_settled(specs):
    watch = Watch(specs)
    added = write_spec_file(specs, "second.yaml", SECOND)
    assert "waiting until they are complete" in watch.tick()
    assert watch.reloads == []
    # seen unchanged at the next tick (or older than the settling time): reload
    assert watch.tick() == "reloaded the code location: alerts added: second"
    assert watch.reloads == [("127.0.0.1", 4123)]
    added.unlink()  # back to what was loaded: nothing to do
    assert watch.tick() == "the spec files are as they were loaded"
    assert watch.reloads == [("127.0.0.1", 4123)]


def test_edited_and_removed_alerts_are_reloaded_and_a_broken_file_does_not_hold_them_back(specs):
    write_spec_file(specs, "second.yaml", SECOND)
    watch = Watch(specs)
    first = specs / "first.yaml"
    first.write_text(first.read_text().replace("select 'OK'", "select 'ALERT'"))
    (specs / "second.yaml").unlink()
    (specs / "broken.yaml").write_text("alerts: [\n")
    settled(specs)
    assert watch.tick() == ("reloaded the code location: alerts removed: second; changed: first; "
                            "1 spec error(s), reported by sentinel_spec_errors")
    assert len(watch.reloads) == 1


def test_a_change_that_leaves_the_alerts_as_they_were_is_not_reloaded(specs):
    watch = Watch(specs)
    first = specs / "first.yaml"
    first.write_text(first.read_text() + "# a comment at the end\n")
    settled(specs)
    assert watch.tick() == "the spec files changed, the alerts did not"
    assert watch.tick() == "the spec files changed, the alerts did not"
    assert json.loads(watch.cursor)["unchanged"] == SpecFiles.of(specs).digest
    assert watch.reloads == []


def test_a_vanished_directory_or_specs_that_do_not_compile_keep_the_loaded_alerts(specs):
    def refuse(config):
        if any(a.name == "second" for a in config.alerts):
            raise ValueError("duplicate check name")

    watch = Watch(specs, compile_check=refuse)
    write_spec_file(specs, "second.yaml", SECOND)
    settled(specs)
    with pytest.raises(SpecReloadRefused, match="alerts added: second.*do not compile.*duplicate"):
        watch.tick()
    shutil.rmtree(specs)
    with pytest.raises(SpecReloadRefused, match="is gone; the 1 loaded alerts keep running"):
        watch.tick()
    assert watch.reloads == []


def test_without_a_code_server_to_reload_the_sensor_says_so(specs, monkeypatch):
    monkeypatch.delenv("SENTINEL_CODE_SERVER_HOST")
    watch = Watch(specs)
    write_spec_file(specs, "second.yaml", SECOND)
    settled(specs)
    assert "name no code server to reload; reload the code location in the UI" in watch.tick()
    assert watch.reloads == []
