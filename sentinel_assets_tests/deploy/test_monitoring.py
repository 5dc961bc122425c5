"""The monitoring profile (deploy/monitoring/, docs/monitoring.md): promtool accepts the Prometheus
configuration and the rules and passes the rules' unit tests; compose's ``monitoring`` profile
and scripts/stack.sh mount and run those files; and, end to end, the real Prometheus of Debian's
``prometheus`` package, started with the native stack's command line and configuration, scrapes a
real ``sentinel metrics serve``: every query of the dashboard and every rule returns data, and
each rule fires for what it is meant to catch (and only for that).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import dagster as dg
import pytest
import yaml

from sentinel_assets_tests.deploy.test_deploy_files import SERVICES, compose, stack_script
from sentinel_assets_tests.helpers import REPO_ROOT, free_port, write_specs
from sentinel_assets_tests.processes import background

ROOT = REPO_ROOT
MONITORING = ROOT / "deploy" / "monitoring"
PROMETHEUS_YML = MONITORING / "prometheus.yml"
RULES = MONITORING / "rules" / "sentinel.rules.yml"
RULE_TESTS = MONITORING / "rules" / "sentinel.rules.test.yml"
GRAFANA = MONITORING / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "sentinel.json"
STACK = ROOT / "scripts" / "stack.sh"
# Grafana's variables in the dashboard's queries, as Grafana fills them for "All" alerts
VARIABLES = {"$__rate_interval": "1m", "$alert": ".*"}
DEADLINE = 60  # seconds for a process to answer or for Prometheus to see what the test made


def tool(name: str) -> str:
    """A binary of Debian's prometheus package; missing is a failure, never a skip."""
    path = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else None)
    if path is None:
        pytest.fail(f"{name} is not installed; run `make test-deps` (Debian package 'prometheus')",
                    pytrace=False)
    return path


def promtool(*args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run([tool("promtool"), *map(str, args)], capture_output=True, text=True,
                          timeout=120)


def rules() -> list[dict]:
    return [rule for group in yaml.safe_load(RULES.read_text())["groups"]
            for rule in group["rules"]]


def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def dashboard_panels() -> list[dict]:
    found = []
    for panel in dashboard()["panels"]:
        found += [panel, *panel.get("panels", [])]
    return [p for p in found if p.get("targets")]


def dashboard_queries() -> dict[str, str]:
    """'panel title/refId' -> the PromQL with Grafana's variables filled in."""
    queries = {}
    for panel in dashboard_panels():
        for target in panel["targets"]:
            expr = target["expr"]
            for name, value in VARIABLES.items():
                expr = expr.replace(name, value)
            assert "$" not in expr, f"{panel['title']}: unknown variable in {target['expr']}"
            queries[f"{panel['title']}/{target['refId']}"] = expr
    return queries


def native_config(metrics_port: int) -> dict:
    """What ``scripts/stack.sh up`` gives Prometheus with SENTINEL_MONITORING=1."""
    env = {**os.environ, "SENTINEL_METRICS_PORT": str(metrics_port)}
    printed = subprocess.run([str(STACK), "prometheus-config"], env=env, capture_output=True,
                             text=True, timeout=60, check=True)
    return yaml.safe_load(printed.stdout)


# -- promtool -----------------------------------------------------------------------------------
def test_prometheus_configuration_passes_promtool():
    checked = promtool("check", "config", PROMETHEUS_YML)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 4 rules found" in checked.stdout  # the rule file was found and read


def test_native_configuration_is_the_compose_one_with_the_local_exporter(tmp_path):
    port = free_port()
    native = native_config(port)
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(native))
    checked = promtool("check", "config", tmp_path / "prometheus.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    shipped = yaml.safe_load(PROMETHEUS_YML.read_text())
    (scrape,) = native["scrape_configs"]
    assert scrape["static_configs"] == [{"targets": [f"127.0.0.1:{port}"]}]
    assert native["rule_files"] == [str(RULES)]
    # nothing else differs
    scrape.pop("static_configs")
    shipped_scrape = shipped["scrape_configs"][0]
    shipped_scrape.pop("static_configs")
    assert scrape == shipped_scrape and native["global"] == shipped["global"]


def test_rules_pass_promtool_check():
    checked = promtool("check", "rules", RULES)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    names = {rule["alert"] for rule in rules()}
    assert names == {"SentinelExporterDown", "SentinelDaemonHeartbeatStale",
                     "SentinelAlertNotEvaluated", "SentinelDeliveryFailuresRising"}


def test_rules_unit_tests_pass_and_cover_each_rule_firing_and_not_firing():
    checked = promtool("test", "rules", RULE_TESTS)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    cases: dict[str, set[bool]] = {}
    for test in yaml.safe_load(RULE_TESTS.read_text())["tests"]:
        for case in test.get("alert_rule_test", []):
            cases.setdefault(case["alertname"], set()).add(bool(case.get("exp_alerts")))
    assert cases == {rule["alert"]: {True, False} for rule in rules()}


def test_rules_and_dashboard_use_only_metrics_the_exporter_serves():
    from sentinel_assets.observe import metrics

    served = set(re.findall(r"``(sentinel_\w+?)(?:\{|``)", metrics.__doc__))
    assert len(served) >= 8  # the docstring's list was read

    def used(exprs: list[str]) -> set[str]:
        return {name for expr in exprs for name in re.findall(r"\bsentinel_\w+", expr)}

    in_rules = used([r["expr"] for r in rules()])
    on_dashboard = used(list(dashboard_queries().values()))
    assert in_rules <= served, in_rules - served
    assert on_dashboard == served  # and the dashboard shows every one of them


# -- compose and the native stack ------------------------------------------------------------------
def _mounts(service: dict) -> dict[str, str]:
    """container path -> repository path of the service's bind mounts."""
    found = {}
    for volume in service["volumes"]:
        source, target, *_ = volume.split(":")
        if source.startswith("./"):
            assert (ROOT / source).exists(), f"{source} is mounted but does not exist"
            found[target] = source
    return found


def test_compose_monitoring_profile_runs_prometheus_and_grafana_only_when_asked():
    services = compose()["services"]
    profiled = {name: s["profiles"] for name, s in services.items()
                if "monitoring" in s.get("profiles", [])}
    assert profiled == {"prometheus": ["monitoring"], "grafana": ["monitoring"]}
    for name in ("prometheus", "grafana"):
        (published,) = services[name]["ports"]
        assert published.startswith("127.0.0.1:")  # no authentication: loopback only


def test_compose_prometheus_mounts_the_configuration_and_scrapes_the_exporter():
    service = compose()["services"]["prometheus"]
    mounts = _mounts(service)
    flags = dict(a.lstrip("-").split("=", 1) for a in service["command"])
    config_path = flags["config.file"]
    assert mounts[config_path] == "./deploy/monitoring/prometheus.yml"
    config = yaml.safe_load(PROMETHEUS_YML.read_text())
    # rule files resolve next to the mounted configuration, onto the mounted rules folder
    for rule_file in config["rule_files"]:
        in_container = Path(config_path).parent / rule_file
        assert mounts[str(in_container.parent)] == "./deploy/monitoring/rules"
        assert (MONITORING / rule_file).is_file()
    (scrape,) = config["scrape_configs"]
    assert scrape["job_name"] == "sentinel"
    exporter = SERVICES["exporter"]
    assert scrape["static_configs"] == [{"targets": [f"exporter:{exporter.port}"]}]
    assert compose()["services"]["exporter"]["command"][-1] == str(exporter.port)
    assert service["depends_on"] == ["exporter"]


def test_compose_grafana_provisions_the_datasource_and_the_dashboard():
    service = compose()["services"]["grafana"]
    mounts = _mounts(service)
    assert mounts["/etc/grafana/provisioning"] == "./deploy/monitoring/grafana/provisioning"
    provisioning = GRAFANA / "provisioning"
    (source,) = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())[
        "datasources"]
    assert source["type"] == "prometheus" and source["url"] == "http://prometheus:9090"
    assert source["jsonData"]["timeInterval"] == \
        yaml.safe_load(PROMETHEUS_YML.read_text())["global"]["scrape_interval"]
    (provider,) = yaml.safe_load((provisioning / "dashboards" / "sentinel.yml").read_text())[
        "providers"]
    dashboards_dir = provider["options"]["path"]
    assert mounts[dashboards_dir] == "./deploy/monitoring/grafana/dashboards"
    assert service["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"] == \
        f"{dashboards_dir}/{DASHBOARD.name}"
    # every panel asks the dashboard's data source variable, a Prometheus one
    variables = {v["name"]: v for v in dashboard()["templating"]["list"]}
    assert variables["datasource"]["query"] == "prometheus"
    for panel in dashboard_panels():
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}


def test_native_stack_starts_prometheus_only_with_sentinel_monitoring():
    script = stack_script()
    assert "prometheus" not in script.services  # not one of the compose stack's services
    assert script.started["prometheus"][0] == "prometheus"  # Debian's binary, from PATH
    assert script.defaults["MONITORING"] == ("SENTINEL_MONITORING", "0")
    assert script.defaults["PROMETHEUS_PORT"] == ("SENTINEL_PROMETHEUS_PORT", "9090")
    assert re.search(r'if \[\[ "\$MONITORING" == 1 \]\]; then\n\s+start_monitoring', script.text)
    # down stops it like every other service
    assert re.search(r"for name in prometheus exporter daemon webserver .*code-server.*; do",
                     script.text)


# -- the real Prometheus over a real exporter -------------------------------------------------------
@dataclass
class Monitored:
    prometheus: str
    exporter: str
    dead_target: str
    alerts: list[str]
    daemons: set[str]


def _http_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def _wait(what: str, check, logs: list[Path], deadline: float = DEADLINE, fail: bool = True):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        found = check()
        if found:
            return found
        time.sleep(0.5)
    if not fail:  # the tests tell what is missing
        return None
    tails = "\n".join(f"--- {p.name} ---\n" + "\n".join(p.read_text().splitlines()[-20:])
                      for p in logs if p.exists())
    pytest.fail(f"{what} within {deadline}s\n{tails}")


def query(base: str, expr: str) -> list[dict]:
    answer = _http_json(f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
    assert answer["status"] == "success", answer
    return answer["data"]["result"]


def active_alerts(base: str) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for alert in _http_json(f"{base}/api/v1/alerts")["data"]["alerts"]:
        found.setdefault(alert["labels"]["alertname"], []).append(alert["labels"])
    return found


SPECS = """
databases:
  shop: {{url: "sqlite:///{db}"}}
channels:
  outbox: {{type: log}}
  team: {{type: log, path: "{tmp}/team.jsonl"}}
  pager: {{type: log, path: "{tmp}/pager.jsonl"}}
defaults: {{database: shop, owner: outbox, notify: [team]}}
alerts:
  - name: revenue_low
    schedule: "*/5 * * * *"
    query: SELECT amount AS total FROM revenue
    condition: {{column: total, op: "<", threshold: 1000}}
  - name: broken_query
    schedule: "*/30 * * * *"
    query: SELECT status FROM no_such_table
  - name: late_alert
    schedule: "0 * * * *"
    query: SELECT amount AS total FROM revenue
    condition: {{column: total, op: ">", threshold: 1000}}
  - name: paged_a
    schedule: "0 * * * *"
    notify: [pager]
    query: SELECT 'ALERT' AS status
  - name: paged_b
    schedule: "0 * * * *"
    notify: [pager]
    query: SELECT 'ALERT' AS status
"""


@pytest.fixture(scope="module")
def monitored(tmp_path_factory):
    """Evaluations in a Dagster instance and a state store; ``sentinel metrics serve`` over them;
    Prometheus as ``SENTINEL_MONITORING=1 scripts/stack.sh up`` starts it (scraping every second,
    plus a second exporter target that is down), until every rule has become active."""
    from sentinel_assets.orchestration.factory import build_sentinel_defs
    from sentinel_assets_tests.health_helpers import evaluate_at

    tmp = tmp_path_factory.mktemp("monitoring")
    with sqlite3.connect(tmp / "shop.db") as conn:
        conn.execute("CREATE TABLE revenue (amount INTEGER)")
        conn.execute("INSERT INTO revenue VALUES (500)")
    home = tmp / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    stack_dir = tmp / "stack"
    (stack_dir / "logs").mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DAGSTER_", "SENTINEL_"))}
    env.update({"DAGSTER_HOME": str(home), "SENTINEL_STATE_URL": f"sqlite:///{tmp / 'state.db'}",
                "SENTINEL_OUTBOX": str(tmp / "outbox.jsonl")})
    with contextlib.ExitStack() as stack, pytest.MonkeyPatch.context() as patch:
        for key in [k for k in os.environ if k.startswith(("DAGSTER_", "SENTINEL_"))]:
            patch.delenv(key)
        for key, value in env.items():
            patch.setenv(key, value)
        config = write_specs(tmp / "specs", SPECS.format(db=tmp / "shop.db", tmp=tmp))
        defs = build_sentinel_defs(config)
        with dg.DagsterInstance.get() as instance:
            daemons = set(instance.get_required_daemon_types())
            assert defs.get_job_def("revenue_low").execute_in_process(instance=instance).success
            defs.get_job_def("broken_query").execute_in_process(instance=instance,
                                                                raise_on_error=False)
        now = datetime.now(timezone.utc)
        evaluate_at(config, "late_alert", now - timedelta(days=1))  # 24 of its hourly ticks ago
        evaluate_at(config, "paged_a", now)  # no channel given: its notice's delivery fails

        exporter_port, prometheus_port, dead_port = free_port(), free_port(), free_port()
        exporter_log, prometheus_log = stack_dir / "logs" / "exporter.log", \
            stack_dir / "logs" / "prometheus.log"
        logs = [exporter_log, prometheus_log]
        sentinel = Path(sys.executable).parent / "sentinel"
        stack.enter_context(background(
            [str(sentinel), "metrics", "serve", "--host", "127.0.0.1", "--port",
             str(exporter_port), "--specs", str(tmp / "specs")],
            cwd=tmp, env=env, log=exporter_log))
        exporter = f"http://127.0.0.1:{exporter_port}/metrics"
        _wait("the exporter did not answer", lambda: _answers(exporter), logs)

        config_yml = native_config(exporter_port)
        config_yml["global"].update(scrape_interval="1s", evaluation_interval="1s")
        config_yml["scrape_configs"][0]["static_configs"][0]["targets"].append(
            f"127.0.0.1:{dead_port}")  # a second exporter, down
        (stack_dir / "prometheus.yml").write_text(yaml.safe_dump(config_yml))
        values = {"$STACK_DIR": str(stack_dir), "$HOST": "127.0.0.1",
                  "$PROMETHEUS_PORT": str(prometheus_port)}
        argv = [re.sub(r"\$\w+", lambda m: values[m.group(0)], word)
                for word in stack_script().started["prometheus"]]
        argv[0] = tool("prometheus")
        stack.enter_context(background(argv, cwd=tmp, env=env, log=prometheus_log))
        base = f"http://127.0.0.1:{prometheus_port}"
        _wait("Prometheus was not ready", lambda: _answers(f"{base}/-/ready"), logs)
        live = f'up{{job="sentinel", instance="127.0.0.1:{exporter_port}"}} == 1'
        _wait("Prometheus did not scrape the exporter", lambda: query(base, live), logs)
        # one more failed notice to pager while Prometheus watches: failures rising
        evaluate_at(config, "paged_b", datetime.now(timezone.utc))
        wanted = {rule["alert"] for rule in rules()}
        _wait("", lambda: wanted <= set(active_alerts(base)), logs, fail=False)
        yield Monitored(base, exporter, f"127.0.0.1:{dead_port}",
                        [a.name for a in config.alerts], daemons)


@pytest.mark.slow
def test_every_dashboard_query_returns_data(monitored):
    empty = [name for name, expr in dashboard_queries().items()
             if not query(monitored.prometheus, expr)]
    assert empty == [], f"these dashboard queries return nothing: {empty}"


@pytest.mark.slow
def test_the_dashboards_alert_variable_lists_the_alerts(monitored):
    (variable,) = [v for v in dashboard()["templating"]["list"] if v["name"] == "alert"]
    metric = re.fullmatch(r"label_values\((.+), alert\)", variable["definition"]).group(1)
    answer = _http_json(f"{monitored.prometheus}/api/v1/label/alert/values?"
                        + urllib.parse.urlencode({"match[]": metric}))
    assert sorted(answer["data"]) == sorted(monitored.alerts)


@pytest.mark.slow
def test_every_rule_query_returns_data_and_prometheus_evaluates_the_rules(monitored):
    for rule in rules():
        assert query(monitored.prometheus, rule["expr"]), f"{rule['alert']}: no data"
    groups = _http_json(f"{monitored.prometheus}/api/v1/rules")["data"]["groups"]
    loaded = {r["name"]: r for g in groups for r in g["rules"]}
    assert set(loaded) == {rule["alert"] for rule in rules()}
    assert {name: r["health"] for name, r in loaded.items() if r["health"] != "ok"} == {}


@pytest.mark.slow
def test_each_rule_fires_for_what_it_catches_and_nothing_else(monitored):
    active = active_alerts(monitored.prometheus)
    assert set(active) == {rule["alert"] for rule in rules()}
    assert [a["instance"] for a in active["SentinelExporterDown"]] == [monitored.dead_target]
    # no daemon runs here: every daemon the instance needs is stale
    assert {a["daemon"] for a in active["SentinelDaemonHeartbeatStale"]} == monitored.daemons
    # late_alert was last evaluated a day ago; the others just now
    assert [a["alert"] for a in active["SentinelAlertNotEvaluated"]] == ["late_alert"]
    # pager's failed notices went from 1 to 2; team's and outbox's deliveries all succeeded
    assert [a["channel"] for a in active["SentinelDeliveryFailuresRising"]] == ["pager"]
    for labels in [a for alerts in active.values() for a in alerts]:
        assert labels["job"] == "sentinel" and labels["severity"] in ("warning", "critical")


def test_rule_and_dashboard_queries_are_valid_promql(tmp_path):
    """promtool parses every dashboard query too (as a recording rule), variables filled in."""
    recorded = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:query_{i}", "expr": expr}
        for i, expr in enumerate(dashboard_queries().values())]}]}
    path = tmp_path / "dashboard.rules.yml"
    path.write_text(yaml.safe_dump(recorded))
    checked = promtool("check", "rules", path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
