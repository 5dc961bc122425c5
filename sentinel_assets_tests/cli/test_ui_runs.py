"""Runs started the README's ways show on their job's page in the UI.

The job page (its Runs tab, latest-run badge and the jobs list's sparklines) asks the webserver's
GraphQL for ``pipelineOrError(...).runs``, which Dagster filters by the hidden
``.dagster/repository`` tag. Runs started outside the UI have no origin to take it from, so the
stock location's jobs carry it themselves; this checks it through a real webserver.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from sentinel_assets.names import CODE_LOCATION
from sentinel_assets_tests.demo_project import make_demo
from sentinel_assets_tests.helpers import free_port, graphql
from sentinel_assets_tests.processes import background

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[2]

JOB_RUNS = """
query JobRuns($job: String!, $location: String!) {
  pipelineOrError(params: {pipelineName: $job, repositoryName: "__repository__",
                           repositoryLocationName: $location}) {
    __typename
    ... on Pipeline { runs(limit: 20) { runId status tags { key value } } }
  }
}
"""


def _wait_until_up(base: str, proc: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()[-3000:]
        try:
            answer = graphql(base, JOB_RUNS, {"job": "unshipped_orders", "location": CODE_LOCATION})
            if answer.get("data", {}).get("pipelineOrError", {}).get("__typename") == "Pipeline":
                return
        except OSError:
            pass
        time.sleep(1)
    raise AssertionError("webserver did not load the location:\n" + log.read_text()[-3000:])


def test_runs_from_the_cli_and_dagster_job_execute_are_listed_on_the_job_page(
        tmp_path, monkeypatch, dagster_home, outbox, state_url):
    make_demo(tmp_path, monkeypatch)
    env = dict(os.environ)
    # the README's two ways besides the UI
    sentinel = subprocess.run([str(BIN / "sentinel"), "run", "unshipped_orders"], cwd=tmp_path,
                              env=env, capture_output=True, text=True, timeout=180)
    assert "unshipped_orders: ALERT" in sentinel.stdout, sentinel.stdout + sentinel.stderr
    execute = subprocess.run(
        [str(BIN / "dagster"), "job", "execute", "-m", "sentinel_assets.definitions",
         "-j", "unshipped_orders"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180)
    assert execute.returncode == 0, execute.stdout + execute.stderr

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "webserver.log"
    # the repository's own workspace file, as `make dev` loads it
    with background([str(BIN / "dagster-webserver"), "-w", str(ROOT / "workspace.yaml"),
                     "-h", "127.0.0.1", "-p", str(port)], cwd=ROOT, env=env, log=log) as proc:
        _wait_until_up(base, proc, log)
        answer = graphql(base, JOB_RUNS, {"job": "unshipped_orders", "location": CODE_LOCATION})
    runs = answer["data"]["pipelineOrError"]["runs"]
    assert len(runs) == 2, answer
    for run in runs:
        tags = {t["key"]: t["value"] for t in run["tags"]}
        assert tags["sentinel/alert"] == "unshipped_orders"
        assert run["status"] == "SUCCESS"


def test_every_workspace_names_the_location_as_the_jobs_tag_it():
    import yaml

    for name in ("workspace.yaml", "workspace.stack.yaml"):
        entry = yaml.safe_load((ROOT / name).read_text())["load_from"][0]
        (target,) = entry.values()
        assert target["location_name"] == CODE_LOCATION, name
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["dg"]["project"]
    assert project["code_location_name"] == CODE_LOCATION
