"""No fragment of a database password with un-encoded ``@`` reaches anything sentinel shows or
keeps: `run` output, the outbox, `status --output json`, `healthcheck --output json`, `/health`,
the Dagster event log and the state store. `validate` warns about such URLs without quoting them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from sentinel_assets.cli.main import main
from sentinel_assets_tests.helpers import free_port, write_spec_file

# long fragments: none occurs by chance in a binary file
PASSWORD = "Zq7Lm@Xv9Rt@Kw3Pn"
FRAGMENTS = PASSWORD.split("@")
SPECS = """\
    databases:
      shop: {url: "${ALERTS_DB_URL}"}
    channels:
      outbox: {type: log}
    alerts:
      - name: shop_orders_low
        schedule: "0 * * * *"
        database: shop
        notify: [outbox]
        owner: outbox
        query: SELECT 'OK' AS status
"""


def _leaks(text: str | bytes) -> list[str]:
    raw = text if isinstance(text, bytes) else text.encode()
    return [f for f in FRAGMENTS if f.encode() in raw]


def _sentinel(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sentinel_assets.cli.main", *args], env=env,
                          capture_output=True, text=True, timeout=300)


def _health_over_http(env: dict, specs: Path) -> str:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "sentinel_assets.cli.main", "metrics", "serve", "--port",
         str(port), "--specs", str(specs)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    try:
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=30) as r:
                    return r.read().decode()
            except urllib.error.HTTPError as exc:  # 503: unhealthy, with the report
                return exc.read().decode()
            except (urllib.error.URLError, ConnectionError):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(process.communicate(timeout=10)[1].decode()) from None
                time.sleep(0.2)
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture(params=["postgresql", "mariadb"])
def leaky_url(request) -> str:
    """A URL to the local server whose password holds an un-encoded @ (the login fails)."""
    if request.param == "postgresql":
        return f"postgresql+psycopg2://sentinel_nobody:{PASSWORD}@127.0.0.1:5432/postgres"
    return f"mysql+pymysql://sentinel_nobody:{PASSWORD}@127.0.0.1:3306/test"


def test_no_fragment_of_the_password_is_shown_or_stored(tmp_path, dagster_home, leaky_url):
    specs = tmp_path / "specs"
    write_spec_file(specs, "shop.yaml", SPECS)
    outbox = tmp_path / "outbox.jsonl"
    env = {**os.environ, "ALERTS_DB_URL": leaky_url, "SENTINEL_OUTBOX": str(outbox),
           "DAGSTER_HOME": str(dagster_home)}
    env.pop("SENTINEL_STATE_URL", None)  # the state store next to the instance

    ran = _sentinel("run", "--specs", str(specs), env=env)
    status = _sentinel("status", "--specs", str(specs), "--output", "json", env=env)
    health = _sentinel("healthcheck", "--specs", str(specs), "--output", "json", env=env)
    served = _health_over_http(env, specs)

    assert ran.returncode == 1 and "shop_orders_low: ERROR" in ran.stdout, ran.stderr
    (notice,) = [json.loads(line) for line in outbox.read_text().splitlines()]
    assert notice["kind"] == "error" and "sentinel_nobody" in notice["message"]
    assert json.loads(status.stdout)[0]["state"] == "ERROR"
    database = next(c for c in json.loads(health.stdout)["checks"] if c["name"] == "database:shop")
    assert database["status"] == "fail"
    assert json.loads(served)["status"] == "unhealthy"
    shown = {"run": ran.stdout + ran.stderr, "status": status.stdout + status.stderr,
             "healthcheck": health.stdout + health.stderr, "/health": served,
             "outbox": outbox.read_text()}
    assert {name: _leaks(text) for name, text in shown.items()} == dict.fromkeys(shown, [])
    # the Dagster event log (messages, metadata, check evaluations) through Dagster's API ...
    import dagster as dg
    from dagster._serdes import serialize_value

    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        runs = instance.get_runs()
        assert runs
        events = [serialize_value(entry) for run in runs for entry in instance.all_logs(run.run_id)]
    assert any("sentinel_nobody" in e for e in events)
    assert [e for e in events if _leaks(e)] == []
    # ... and every file sentinel and Dagster wrote: instance, state store, spec cache, outbox
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert dagster_home / "sentinel_state.db" in written
    assert [str(p) for p in written if _leaks(p.read_bytes())] == []


def test_validate_warns_about_unencoded_credentials_without_quoting_them(tmp_path, monkeypatch):
    monkeypatch.setenv("ALERTS_DB_URL", f"postgresql+psycopg2://alerts:{PASSWORD}@db/shop")
    write_spec_file(tmp_path, "shop.yaml", SPECS)
    write_spec_file(tmp_path, "team/literal.yaml", textwrap.dedent("""\
        databases:
          warehouse:
            url: "mysql+pymysql://loader:Ab1/cd Ef2#gh@db/wh"
          fine: {url: "postgresql+psycopg2://reader:p%40ss@db/shop"}
    """))

    result = CliRunner().invoke(main, ["validate", str(tmp_path), "--output", "json"])
    text = CliRunner().invoke(main, ["validate", str(tmp_path)]).output

    assert result.exit_code == 0, result.output
    warnings = json.loads(result.output)["warnings"]
    by_database = {(w["section"], w["message"].split(";")[0]): w for w in warnings}
    shop = by_database[("database 'shop'", "the password in the url holds un-encoded reserved "
                                           "characters ('@')")]
    assert (shop["file"], shop["line"], shop["field"]) == (str(tmp_path / "shop.yaml"), 2, "url")
    warehouse = by_database[("database 'warehouse'", "the password in the url holds un-encoded "
                                                     "reserved characters ('/', '#', space)")]
    assert warehouse["file"] == str(tmp_path / "team" / "literal.yaml")
    assert (warehouse["line"], warehouse["field"]) == (2, "url")
    assert ("database 'warehouse'", "the url holds a literal password") in by_database
    # encoded properly: only the literal-password warning
    assert [w["message"].split(";")[0] for w in warnings if w["section"] == "database 'fine'"] == [
        "the url holds a literal password"]
    assert "percent-encode them (@ as %40" in shop["message"]
    for secret in (*FRAGMENTS, "Ab1", "cd Ef2", "gh@db"):
        assert secret not in result.output and secret not in text
    assert "warning: " in text and "literal.yaml:2: database 'warehouse', field 'url'" in text
