"""The Celery deployment's files agree with the rest: deploy/dagster.celery.yaml is
deploy/dagster.yaml with another launcher, the workers' settings pass dagster-celery's schema,
compose's celery profile runs the native stack's worker command, and the image holds both files.
No Docker engine runs here; test_celery.py runs the native stack with real workers.
"""

from __future__ import annotations

import yaml

from sentinel_assets_tests.deploy.test_deploy_files import (
    ROOT,
    compose,
    dockerfile,
    dockerfile_env,
    final_stage,
    instance_config,
    production_instance,
    scale_out_snippets,
    stack_script,
)

CELERY_SECTIONS = ("run_launcher", "run_monitoring", "run_retries")
WORKER_SETTINGS = ROOT / "deploy" / "celery-worker.yaml"


def celery_instance() -> dict:
    return yaml.safe_load((ROOT / "deploy" / "dagster.celery.yaml").read_text())


def test_the_celery_instance_is_the_production_one_but_for_launcher_monitoring_and_retries():
    celery, production = celery_instance(), production_instance()
    assert set(celery) - set(CELERY_SECTIONS) == set(production) - set(CELERY_SECTIONS)
    for key in set(production) - set(CELERY_SECTIONS):
        assert celery[key] == production[key], f"{key} differs from deploy/dagster.yaml"


def test_the_celery_instance_passes_the_schema_resumes_and_retries(tmp_path, monkeypatch):
    from dagster._serdes import ConfigurableClassData

    from sentinel_assets.orchestration.celery_launcher import SentinelCeleryRunLauncher

    monkeypatch.setenv("SENTINEL_CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
    monkeypatch.setenv("SENTINEL_CELERY_BACKEND_URL", "redis://127.0.0.1:6379/1")
    config = instance_config(tmp_path, monkeypatch, celery_instance())
    monitoring = config["run_monitoring"]
    assert monitoring["enabled"] and monitoring["max_resume_run_attempts"] >= 1
    assert 0 < monitoring["poll_interval_seconds"] < monitoring["start_timeout_seconds"]
    assert config["run_retries"]["enabled"] is True
    launcher = config["run_launcher"]
    data = ConfigurableClassData(launcher["module"], launcher["class"],
                                 yaml.safe_dump(launcher["config"]))
    built = data.rehydrate(as_type=SentinelCeleryRunLauncher)
    assert built.supports_resume_run and built.supports_check_run_worker_health
    assert built.celery.conf.broker_url == "redis://127.0.0.1:6379/0"
    assert built.default_queue == "dagster"


def test_the_docs_show_the_celery_instances_own_sections():
    snippet = yaml.safe_load(scale_out_snippets()["instance celery"])
    assert snippet == {key: celery_instance()[key] for key in CELERY_SECTIONS}


def test_the_workers_settings_pass_dagster_celerys_schema(monkeypatch):
    from dagster_celery.cli import get_validated_config

    monkeypatch.setenv("SENTINEL_CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
    monkeypatch.setenv("SENTINEL_CELERY_BACKEND_URL", "redis://127.0.0.1:6379/1")
    config = get_validated_config(str(WORKER_SETTINGS))
    assert (config["broker"], config["backend"]) == ("redis://127.0.0.1:6379/0",
                                                     "redis://127.0.0.1:6379/1")
    assert config["config_source"]["worker_disable_prefetch"] is True
    # the same variables as the run launcher's
    launcher = celery_instance()["run_launcher"]["config"]
    raw = yaml.safe_load(WORKER_SETTINGS.read_text())["execution"]["config"]
    assert (raw["broker"], raw["backend"]) == (launcher["broker"], launcher["backend"])


def _native_worker_command() -> list[str]:
    script = stack_script()
    words = script.started["worker-$i"]
    assert words[:2] == ["env", "PATH=$BIN:$PATH"]
    return words[2:]


def test_compose_runs_the_native_stacks_worker_command_in_the_celery_profile():
    services = compose()["services"]
    worker, redis = services["worker"], services["redis"]
    assert worker["profiles"] == redis["profiles"] == ["celery"]
    assert worker["build"] == "."  # the one image
    native = _native_worker_command()
    # natively each worker has a name of its own; compose's replicas get unique default names
    name = native.index("-n")
    assert native[name + 1] == "sentinel-worker-$i"
    del native[name:name + 2]
    defaults = {shell: default for shell, (_, default) in stack_script().defaults.items()}
    assert defaults["CELERY_QUEUES"] == "dagster" and defaults["CELERY_CONCURRENCY"] == "2"
    workdir = next(a for k, a in final_stage(dockerfile()) if k == "WORKDIR")
    # the same variables with the same defaults, the image's copy of the worker settings
    expected = [{"$ROOT/deploy/celery-worker.yaml": f"{workdir}/celery-worker.yaml",
                 "$SENTINEL_CELERY_QUEUES": "${SENTINEL_CELERY_QUEUES:-dagster}",
                 "$SENTINEL_CELERY_CONCURRENCY": "${SENTINEL_CELERY_CONCURRENCY:-2}"}.get(w, w)
                for w in native]
    assert worker["command"] == expected
    assert worker["depends_on"]["redis"] == {"condition": "service_healthy"}
    assert worker["depends_on"]["postgres"] == {"condition": "service_healthy"}
    assert worker["environment"] == services["daemon"]["environment"]
    assert worker["volumes"] == services["daemon"]["volumes"]
    # Redis keeps its queue across restarts
    assert "--appendonly" in redis["command"] and "yes" in redis["command"]
    assert any(v.endswith(":/data") for v in redis["volumes"])


def test_every_sentinel_service_reads_the_instance_the_launcher_variable_picks():
    env = compose()["x-sentinel-env"]
    image_home = dict(dockerfile_env())["DAGSTER_HOME"]
    assert env["DAGSTER_HOME"] == f"${{SENTINEL_DAGSTER_HOME:-{image_home}}}"
    assert env["SENTINEL_CELERY_BROKER_URL"].endswith(":-redis://redis:6379/0}")
    copies = [args for keyword, args in final_stage(dockerfile()) if keyword == "COPY"]
    assert "deploy/dagster.celery.yaml /opt/dagster/celery/dagster.yaml" in copies
    assert "deploy/celery-worker.yaml ./celery-worker.yaml" in copies
    runs = " ".join(args for keyword, args in final_stage(dockerfile()) if keyword == "RUN")
    # runs on workers write their compute logs where the webserver reads them
    assert f"ln -s {image_home}/storage /opt/dagster/celery/storage" in runs


def test_the_native_stack_picks_the_celery_instance_and_starts_workers_after_the_daemon():
    script = stack_script()
    assert "celery) INSTANCE_NAME=dagster.celery.yaml ;;" in script.text
    text = script.text
    order = [text.index(s) for s in ("ensure_redis\n", "wait_for daemon", "start_workers\n")]
    assert order == sorted(order)
    assert script.defaults["RUN_LAUNCHER"] == ("SENTINEL_RUN_LAUNCHER", "default")
    assert script.defaults["CELERY_WORKERS"] == ("SENTINEL_CELERY_WORKERS", "2")
    # `down` stops the workers, and a Redis only when `up` started it (its pid file)
    assert "$(worker_names) code-server redis; do" in text


def test_every_sentinel_job_runs_in_process_as_a_celery_workers_process_must(tmp_path,
                                                                            monkeypatch):
    # a Celery worker's pool process is daemonic: a run there may start no step subprocess
    # (the multiprocess executor failed the healthcheck with "daemonic processes are not
    # allowed to have children")
    import dagster as dg

    from sentinel_assets.orchestration.factory import build_sentinel_defs
    from sentinel_assets_tests.demo_project import make_demo

    specs, _ = make_demo(tmp_path, monkeypatch)
    jobs = build_sentinel_defs(specs).get_repository_def().get_all_jobs()
    names = {job.name for job in jobs}
    assert {"sentinel_evaluate", "sentinel_healthcheck", "sentinel_retention"} <= names
    assert {job.name: job.executor_def for job in jobs if not job.name.startswith("__")} == {
        name: dg.in_process_executor for name in names if not name.startswith("__")}


def test_the_code_locations_own_asset_job_runs_in_process_too(tmp_path, monkeypatch):
    # "Execute" on a check in the UI runs the asset job Dagster makes itself; the code location
    # is loaded in a process of its own, as a worker loads it
    import os
    import subprocess
    import sys

    from sentinel_assets_tests.demo_project import make_demo

    specs, _ = make_demo(tmp_path, monkeypatch)
    code = ("import dagster as dg\n"
            "from sentinel_assets.definitions import defs\n"
            "jobs = [j for j in defs().get_repository_def().get_all_jobs()"
            " if j.name.startswith('__ASSET_JOB')]\n"
            "print(len(jobs), all(j.executor_def is dg.in_process_executor for j in jobs))\n")
    env = dict(os.environ, SENTINEL_SPECS_DIR=str(specs), DAGSTER_HOME=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    count, in_process = out.stdout.split()[-2:]
    assert int(count) >= 1 and in_process == "True", out.stdout


def test_every_container_shares_the_parsed_spec_cache():
    # the code server parses the specs once; run workers and Celery workers in other containers
    # read the same cache entries instead of parsing 10,000 alerts at their first run
    doc = compose()
    cache = doc["x-sentinel-env"]["SENTINEL_SPEC_CACHE_DIR"]
    for name in ("code-server", "daemon", "worker"):
        mounts = [v.split(":")[1] for v in doc["services"][name]["volumes"] if v.count(":") >= 1]
        assert any(cache.startswith(m.rstrip("/") + "/") for m in mounts), (name, mounts)
        assert doc["services"][name]["environment"]["SENTINEL_SPEC_CACHE_DIR"] == cache
