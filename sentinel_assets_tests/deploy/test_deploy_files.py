"""The deployment files agree with each other: Dockerfile, docker-compose.yaml, scripts/stack.sh,
deploy/dagster.yaml, workspace.stack.yaml, requirements.lock, .env.example and docs/scale-out.md.

No Docker engine runs here, so compose and the image are checked by parsing them against
``SERVICES``, the one table of what each service runs; the native stack (checked the same way)
is what test_stack_e2e.py starts.
"""

from __future__ import annotations

import ast
import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest
import tomllib
import yaml
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from sentinel_assets_tests.helpers import REPO_ROOT

ROOT = REPO_ROOT
HOST, PORT = "{host}", "{port}"


@dataclass(frozen=True)
class Service:
    """What one service runs: its command (``{host}``/``{port}`` filled in per deployment), the
    port it listens on and the variable that publishes that port, and how readiness is checked."""

    argv: tuple[str, ...]
    port: int | None = None
    port_var: str | None = None
    ready: tuple[str, ...] | None = None


SERVICES = {
    "code-server": Service(
        ("dagster", "code-server", "start", "-m", "sentinel_assets.definitions", "-h", HOST,
         "-p", PORT),
        4000, "SENTINEL_CODE_SERVER_PORT", ("dagster", "api", "grpc-health-check", "-p", PORT)),
    "webserver": Service(
        ("dagster-webserver", "-h", HOST, "-p", PORT, "-w", "workspace.stack.yaml"),
        3000, "SENTINEL_WEBSERVER_PORT"),
    "daemon": Service(("dagster-daemon", "run", "-w", "workspace.stack.yaml"),
                      ready=("dagster-daemon", "liveness-check")),
    "exporter": Service(("sentinel", "metrics", "serve", "--host", HOST, "--port", PORT),
                        9464, "SENTINEL_METRICS_PORT"),
}
WORKSPACE = "workspace.stack.yaml"
# set by the operating system, not by a deployment
# the terminal's own (the CLI prints in colour only on a terminal without NO_COLOR)
OS_VARIABLES = {"USER", "HOME", "PATH", "TERM", "NO_COLOR"}


def fill(argv: tuple[str, ...], host: str, port: int | str | None) -> list[str]:
    return [host if a == HOST else str(port) if a == PORT else a for a in argv]


# -- parsers ------------------------------------------------------------------------------------------
def dockerfile(path: Path = ROOT / "Dockerfile") -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs; continuation lines joined, comments dropped."""
    instructions, current = [], ""
    for line in path.read_text().splitlines():
        if line.strip().startswith("#") or not line.strip():
            continue
        current += line.rstrip()
        if current.endswith("\\"):
            current = current[:-1] + " "
            continue
        keyword, _, rest = current.strip().partition(" ")
        instructions.append((keyword.upper(), " ".join(rest.split())))
        current = ""
    return instructions


def final_stage(instructions: list[tuple[str, str]]) -> list[tuple[str, str]]:
    last_from = max(i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM")
    return instructions[last_from:]


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yaml").read_text())


@dataclass
class StackScript:
    """What scripts/stack.sh runs, with its shell variables resolved to SERVICES' placeholders."""

    services: list[str]
    started: dict[str, list[str]]
    waited: dict[str, list[str]]
    defaults: dict[str, tuple[str, str]]  # shell variable -> (environment variable, default)
    text: str


def stack_script() -> StackScript:
    text = (ROOT / "scripts" / "stack.sh").read_text()
    defaults = {m[0]: (m[1], m[2]) for m in
                re.findall(r'^(\w+)="\$\{(\w+):-([^}]*)\}"$', text, flags=re.M)}
    port_of = {shell: env for shell, (env, _) in defaults.items()}
    services = re.search(r"^SERVICES=\(([^)]*)\)", text, flags=re.M).group(1).split()

    def resolve(word: str) -> str:
        if word.startswith("$BIN/"):
            return word.removeprefix("$BIN/")
        if word == "$HOST":
            return HOST
        if word.startswith("$") and word[1:] in port_of:
            return f"${port_of[word[1:]]}"  # the environment variable behind it
        return word

    started, waited = {}, {}
    for line in text.splitlines():
        if not line.strip().startswith(("start ", "wait_for ")):
            continue
        words = shlex.split(line.strip())
        if words[0] == "start":
            started[words[1]] = [resolve(w) for w in words[2:]]
        elif words[2] != "http_ok":
            waited[words[1]] = [resolve(w) for w in words[2:]]
    return StackScript(services, started, waited, defaults, text)


def port_variables_of_script(script: StackScript) -> dict[str, str]:
    """environment variable -> default, for the ports the script listens on."""
    return {env: default for env, default in script.defaults.values() if env.endswith("_PORT")}


# -- one table, three deployments ----------------------------------------------------------------
def test_compose_and_the_native_stack_run_the_same_services():
    # the services of an optional profile (monitoring: test_monitoring.py) are not the stack's
    services = {name for name, service in compose()["services"].items()
                if not service.get("profiles")}
    assert services == {"postgres", *SERVICES}
    assert stack_script().services == list(SERVICES)


@pytest.mark.parametrize("name", list(SERVICES))
def test_compose_runs_each_service_with_the_tables_command_and_port(name):
    spec, service = SERVICES[name], compose()["services"][name]
    assert service["build"] == "."  # the Dockerfile's image
    assert service["command"] == fill(spec.argv, "0.0.0.0", spec.port)
    if spec.ready:
        assert service["healthcheck"]["test"] == ["CMD", *fill(spec.ready, "0.0.0.0", spec.port)]
    published = service.get("ports", [])
    if name == "code-server":
        assert published == []  # reached inside the compose network only
    elif spec.port:
        assert published == [f"${{{spec.port_var}:-{spec.port}}}:{spec.port}"]


@pytest.mark.parametrize("name", list(SERVICES))
def test_the_native_stack_runs_each_service_with_the_tables_command_and_port(name):
    spec, script = SERVICES[name], stack_script()
    # natively the port is a variable: the one the table names, with the table's default
    expected = fill(spec.argv, HOST, f"${spec.port_var}")
    assert script.started[name] == expected
    if spec.ready:
        assert script.waited[name] == fill(spec.ready, HOST, f"${spec.port_var}")
    if spec.port:
        assert port_variables_of_script(script)[spec.port_var] == str(spec.port)


def test_services_wait_for_what_they_need():
    services = compose()["services"]
    assert services["postgres"]["healthcheck"]["test"][1].startswith("pg_isready")
    for name in SERVICES:
        assert services[name]["depends_on"]["postgres"] == {"condition": "service_healthy"}
    for name in ("webserver", "daemon"):
        assert services[name]["depends_on"]["code-server"] == {"condition": "service_healthy"}
    script = stack_script().text
    # the same order natively: PostgreSQL ready, then the code server, then the rest
    order = [script.index(s) for s in ("ensure_database\n", "start code-server",
                                        "wait_for code-server", "start webserver")]
    assert order == sorted(order)
    assert "pg_isready" in script


def test_compose_keeps_postgres_data_and_mounts_the_alert_specs():
    config = compose()
    postgres = config["services"]["postgres"]
    assert "postgres_data:/var/lib/postgresql/data" in postgres["volumes"]
    assert "postgres_data" in config["volumes"]
    specs_dir = dict(dockerfile_env())["SENTINEL_SPECS_DIR"]
    for name in SERVICES:
        volumes = config["services"][name]["volumes"]
        assert f"./alert_specs:{specs_dir}:ro" in volumes
        # dagster.yaml and the workspace come from the image, never from a mount
        assert not any(v.split(":")[1].endswith((".yaml", "/home")) for v in volumes)


def test_both_deployments_use_the_same_dagster_yaml_and_workspace():
    env = dict(dockerfile_env())
    copies = [args for keyword, args in final_stage(dockerfile()) if keyword == "COPY"]
    assert f"deploy/dagster.yaml {env['DAGSTER_HOME']}/dagster.yaml" in copies
    assert f"{WORKSPACE} ./{WORKSPACE}" in copies
    script = stack_script().text
    # deploy/dagster.yaml unless SENTINEL_RUN_LAUNCHER=celery (test_celery_files.py)
    assert 'ln -sfn "$INSTANCE" "$DAGSTER_HOME/dagster.yaml"' in script
    assert 'INSTANCE="${SENTINEL_STACK_INSTANCE:-$ROOT/deploy/$INSTANCE_NAME}"' in script
    assert "default) INSTANCE_NAME=dagster.yaml ;;" in script
    assert 'export DAGSTER_HOME="$STACK_DIR/dagster_home"' in script
    # workspace.stack.yaml finds the code server from two variables both deployments set
    workspace = yaml.safe_load((ROOT / WORKSPACE).read_text())
    grpc = workspace["load_from"][0]["grpc_server"]
    assert grpc["host"] == {"env": "SENTINEL_CODE_SERVER_HOST"}
    assert grpc["port"] == {"env": "SENTINEL_CODE_SERVER_PORT"}
    compose_env = compose()["x-sentinel-env"]
    assert compose_env["SENTINEL_CODE_SERVER_HOST"] == "code-server"
    assert compose_env["SENTINEL_CODE_SERVER_PORT"] == str(SERVICES["code-server"].port)
    assert 'export SENTINEL_CODE_SERVER_HOST="$HOST"' in script
    assert 'export SENTINEL_CODE_SERVER_PORT="$CODE_SERVER_PORT"' in script


def test_workspace_files_pass_dagsters_schema(monkeypatch):
    from dagster._config import process_config
    from dagster._core.workspace.config_schema import WORKSPACE_CONFIG_SCHEMA

    monkeypatch.setenv("SENTINEL_CODE_SERVER_HOST", "code-server")
    monkeypatch.setenv("SENTINEL_CODE_SERVER_PORT", "4000")
    for name in ("workspace.yaml", WORKSPACE):
        config = yaml.safe_load((ROOT / name).read_text())
        result = process_config(WORKSPACE_CONFIG_SCHEMA, config)
        assert result.success, (name, result.errors)


# -- the image ----------------------------------------------------------------------------------
def dockerfile_env() -> list[tuple[str, str]]:
    pairs = []
    for keyword, args in final_stage(dockerfile()):
        if keyword == "ENV":
            pairs += [tuple(item.split("=", 1)) for item in shlex.split(args)]
    return pairs


def test_image_is_multi_stage_on_slim_python_and_pinned_by_the_lock_file():
    instructions = dockerfile()
    stages = [args for keyword, args in instructions if keyword == "FROM"]
    assert len(stages) >= 2
    arg_defaults = dict(a.split("=", 1) for k, a in instructions if k == "ARG" and "=" in a)
    assert re.fullmatch(r"python:3\.11-slim(-\w+)?", arg_defaults["PYTHON_IMAGE"])
    assert all(s.startswith("${PYTHON_IMAGE} AS ") for s in stages)
    runs = " ".join(args for keyword, args in instructions if keyword == "RUN")
    assert "pip install --no-deps -r requirements.lock" in runs
    assert "pip check" in runs
    assert any(k == "COPY" and a.startswith("--from=build ") for k, a in final_stage(instructions))


def test_image_runs_as_a_non_root_user():
    stage = final_stage(dockerfile())
    users = [args for keyword, args in stage if keyword == "USER"]
    assert users, "the final stage sets no USER: the container would run as root"
    arg_defaults = dict(a.split("=", 1) for k, a in dockerfile() if k == "ARG" and "=" in a)
    user = re.sub(r"\$\{(\w+)\}", lambda m: arg_defaults[m.group(1)], users[-1]).split(":")[0]
    assert user not in ("root", "0")
    assert int(user) >= 1000
    created = " ".join(args for keyword, args in stage if keyword == "RUN")
    assert "useradd --system --uid ${SENTINEL_UID}" in created


def test_image_healthcheck_is_sentinel_healthcheck_and_default_command_is_the_code_server():
    stage = dict((keyword, args) for keyword, args in final_stage(dockerfile()))
    healthcheck = stage["HEALTHCHECK"]
    options, _, command = healthcheck.partition("CMD ")
    assert json.loads(command)[:2] == ["sentinel", "healthcheck"]
    assert "--start-period=" in options
    spec = SERVICES["code-server"]
    assert json.loads(stage["CMD"]) == fill(spec.argv, "0.0.0.0", spec.port)
    exposed = {int(p) for p in stage["EXPOSE"].split()}
    assert exposed == {s.port for s in SERVICES.values() if s.port}


def test_dockerignore_keeps_secrets_and_the_venv_out_of_the_build_context():
    ignored = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")]
    assert {".env", ".venv", ".git", ".stack", "sentinel_assets_tests"} <= set(ignored)
    needed = ["requirements.lock", "pyproject.toml", "sentinel_assets", "deploy", WORKSPACE,
              "alert_specs"]
    assert not set(needed) & set(ignored)


# -- requirements.lock ------------------------------------------------------------------------------
# Checked against pyproject.toml and the Dockerfile only: nothing here asks a package index or
# looks at the venv, so a new release of a dependency cannot break these tests. Refresh the lock
# with `.venv/bin/python scripts/lock_requirements.py`.
LOCK = ROOT / "requirements.lock"


def lock_lines() -> list[str]:
    return [line.strip() for line in LOCK.read_text().splitlines()
            if line.strip() and not line.strip().startswith("#")]


def lock_pins() -> dict[str, Version]:
    """Each pinned distribution (PEP 503 normalised name) and its version."""
    pins: dict[str, Version] = {}
    for line in lock_lines():
        req = Requirement(line)
        (spec,) = req.specifier
        pins[canonicalize_name(req.name)] = Version(spec.version)
    return pins


def runtime_dependencies() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [Requirement(text) for text in project["dependencies"]]


def test_every_line_of_requirements_lock_is_one_exact_pin():
    lines = lock_lines()
    assert lines, "requirements.lock pins nothing"
    names = []
    for line in lines:
        try:
            req = Requirement(line)
        except InvalidRequirement as exc:
            pytest.fail(f"requirements.lock: {line!r} is not a requirement ({exc})")
        specs = list(req.specifier)
        assert len(specs) == 1 and specs[0].operator == "==" and "*" not in specs[0].version, (
            f"requirements.lock: {line!r} is not name==version")
        Version(specs[0].version)  # a real version, not a wildcard or a legacy string
        assert not req.extras and req.marker is None and req.url is None, (
            f"requirements.lock: {line!r} has extras, a marker or a URL")
        names.append(canonicalize_name(req.name))
    duplicates = sorted({name for name in names if names.count(name) > 1})
    assert not duplicates, f"requirements.lock pins these more than once: {duplicates}"
    assert canonicalize_name("sentinel_assets") not in names, "the project itself is not locked"


@pytest.mark.parametrize("requirement", runtime_dependencies(), ids=str)
def test_requirements_lock_pins_each_runtime_dependency_within_its_range(requirement):
    if requirement.marker and not requirement.marker.evaluate(
            {"python_version": "3.11", "sys_platform": "linux", "platform_system": "Linux"}):
        pytest.skip(f"{requirement} does not apply to the image (Python 3.11, Linux)")
    pins = lock_pins()
    name = canonicalize_name(requirement.name)
    assert name in pins, (
        f"{requirement.name} (pyproject.toml) is not pinned in requirements.lock: "
        "run .venv/bin/python scripts/lock_requirements.py")
    assert requirement.specifier.contains(pins[name], prereleases=True), (
        f"requirements.lock pins {name}=={pins[name]}, outside {requirement} of pyproject.toml")


def test_image_installs_its_dependencies_from_requirements_lock_only():
    instructions = dockerfile()
    build = instructions[:max(i for i, (k, _) in enumerate(instructions) if k == "FROM")]
    copied = next(i for i, (k, a) in enumerate(build) if k == "COPY" and "requirements.lock" in a)
    installs = [(i, command.strip()) for i, (k, a) in enumerate(build) if k == "RUN"
                for command in a.split("&&") if "pip install" in command]
    from_lock = [(i, c) for i, c in installs if "-r requirements.lock" in c]
    assert from_lock, "the Dockerfile does not `pip install -r requirements.lock`"
    assert all(i > copied and "--no-deps" in c for i, c in from_lock), (
        "requirements.lock must be copied first and installed with --no-deps (nothing resolved)")
    for _, command in installs:
        targets = [w for w in shlex.split(command.split("pip install", 1)[1])
                   if not w.startswith("-") and w != "requirements.lock"]
        for target in targets:
            pinned = re.fullmatch(r"[A-Za-z0-9._-]+==\$\{\w+\}", target)
            own_wheel = target.endswith(".whl") and "--no-deps" in command
            assert pinned or own_wheel, (
                f"`{command}` installs {target!r}, which is neither pinned nor from the lock")


# -- the instance -------------------------------------------------------------------------------
def instance_config(tmp_path: Path, monkeypatch, config: dict) -> dict:
    """``config`` as $DAGSTER_HOME/dagster.yaml, validated by Dagster's instance schema."""
    from dagster._core.instance.config import dagster_instance_config

    monkeypatch.setenv("DAGSTER_POSTGRES_URL", "postgresql+psycopg2://u@127.0.0.1:5432/dagster")
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(config))
    validated, _ = dagster_instance_config(str(tmp_path))
    return validated


def production_instance() -> dict:
    return yaml.safe_load((ROOT / "deploy" / "dagster.yaml").read_text())


def test_production_instance_passes_the_schema_and_holds_the_sentinel_settings(tmp_path,
                                                                               monkeypatch):
    config = instance_config(tmp_path, monkeypatch, production_instance())
    assert config["storage"]["postgres"]["postgres_url"] == {"env": "DAGSTER_POSTGRES_URL"}
    coordinator = config["run_coordinator"]
    assert coordinator["class"] == "QueuedRunCoordinator"
    limits = {limit["key"]: limit for limit in coordinator["config"]["tag_concurrency_limits"]}
    assert limits["sentinel/database"]["value"] == {"applyLimitPerUniqueValue": True}
    assert limits["sentinel/alert"]["value"] == {"applyLimitPerUniqueValue": True}
    assert limits["sentinel/alert"]["limit"] == 1
    monitoring = config["run_monitoring"]
    assert monitoring["enabled"] is True
    assert monitoring["start_timeout_seconds"] > 0 and monitoring["cancel_timeout_seconds"] > 0
    assert monitoring["max_runtime_seconds"] > 0  # the dagster/max_runtime default
    assert config["retention"]["schedule"]["purge_after_days"] > 0


# -- .env.example -------------------------------------------------------------------------------
def listed_variables() -> set[str]:
    text = (ROOT / ".env.example").read_text()
    return set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", text, flags=re.M))


def _env_refs(node) -> set[str]:
    """``{env: NAME}`` values anywhere in a parsed YAML document."""
    if isinstance(node, dict):
        found = {node["env"]} if set(node) == {"env"} and isinstance(node["env"], str) else set()
        return found.union(*(_env_refs(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_env_refs(v) for v in node))
    return set()


def _code_variables(path: Path) -> set[str]:
    """Names read through os.environ / os.getenv / dg.EnvVar in one module (constants resolved)."""
    tree = ast.parse(path.read_text())
    constants = {t.id: node.value.value for node in tree.body if isinstance(node, ast.Assign)
                 for t in node.targets if isinstance(t, ast.Name)
                 and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)}

    def name_of(arg) -> str | None:
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            return arg.value
        if isinstance(arg, ast.Name):
            return constants.get(arg.id)
        return None

    def is_environ(node) -> bool:  # os.environ (a WSGI ``environ`` argument is not it)
        return isinstance(node, ast.Attribute) and node.attr == "environ" and \
            isinstance(node.value, ast.Name) and node.value.id == "os"

    found = set()
    for node in ast.walk(tree):
        arg = None
        if isinstance(node, ast.Call) and node.args:
            func = node.func
            if isinstance(func, ast.Attribute) and func.attr in ("get", "setdefault", "pop") \
                    and is_environ(func.value):
                arg = node.args[0]
            elif isinstance(func, ast.Attribute) and func.attr in ("getenv", "EnvVar") and \
                    isinstance(func.value, ast.Name) and func.value.id in ("os", "dg", "dagster"):
                arg = node.args[0]
            elif isinstance(func, ast.Name) and func.id in ("getenv", "EnvVar"):
                arg = node.args[0]
        elif isinstance(node, ast.Subscript) and is_environ(node.value):
            arg = node.slice
        name = name_of(arg) if arg is not None else None
        if name and re.fullmatch(r"[A-Z][A-Z0-9_]*", name):
            found.add(name)
    return found


def used_variables() -> dict[str, set[str]]:
    compose_text = re.sub(r"\$\$", "", (ROOT / "docker-compose.yaml").read_text())
    specs = "".join(p.read_text() for p in sorted((ROOT / "alert_specs").glob("*.y*ml")))
    return {
        "docker-compose.yaml": set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", compose_text)),
        "dagster.yaml": _env_refs(production_instance()),
        WORKSPACE: _env_refs(yaml.safe_load((ROOT / WORKSPACE).read_text())),
        "sentinel_assets/": set().union(
            *(_code_variables(p) for p in (ROOT / "sentinel_assets").rglob("*.py"))) - OS_VARIABLES,
        "scripts/stack.sh": {env for env, _ in stack_script().defaults.values()},
        "alert_specs/": set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", specs)),
        "Dockerfile": {name for name, _ in dockerfile_env() if name.startswith(("SENTINEL_",
                                                                                 "DAGSTER_"))},
    }


def test_env_example_lists_every_variable_the_deployment_reads():
    listed = listed_variables()
    missing = {where: sorted(names - listed) for where, names in used_variables().items()
               if names - listed}
    assert not missing, f"add these to .env.example: {missing}"


def test_variable_scan_finds_the_variables_the_package_is_known_to_read():
    # guards the scan itself: a variable read through a module constant is found too
    code = used_variables()["sentinel_assets/"]
    assert {"SENTINEL_STATE_URL", "SENTINEL_SPECS_DIR", "SENTINEL_OUTBOX", "SENTINEL_WEBSERVER_URL",
            "SENTINEL_RETENTION_DAYS", "SENTINEL_PUSHGATEWAY_URL", "DAGSTER_HOME"} <= code


# -- docs/scale-out.md ------------------------------------------------------------------------
def scale_out_snippets() -> dict[str, str]:
    text = (ROOT / "docs" / "scale-out.md").read_text()
    return dict(re.findall(r"<!-- check: ([\w -]+?) -->\n```\w+\n(.*?)```", text, flags=re.S))


SENTINEL_SETTINGS = ("storage", "run_coordinator", "retention", "schedules", "sensors")


@pytest.mark.parametrize("name,launcher", [
    ("instance docker", "dagster_docker.DockerRunLauncher"),
    ("instance kubernetes", "dagster_k8s.K8sRunLauncher"),
    ("instance celery", "sentinel_assets.orchestration.celery_launcher.SentinelCeleryRunLauncher"),
])
def test_scale_out_instances_pass_the_launchers_schemas_and_keep_the_sentinel_settings(
    name, launcher, tmp_path, monkeypatch
):
    from dagster._config import process_config
    from dagster._serdes import ConfigurableClassData

    snippet = yaml.safe_load(scale_out_snippets()[name])
    merged = {**production_instance(), **snippet}
    config = instance_config(tmp_path, monkeypatch, merged)
    for key in SENTINEL_SETTINGS:
        assert config[key] == production_instance()[key]
    launcher_config = snippet["run_launcher"]
    module, cls_name = launcher.rsplit(".", 1)
    assert (launcher_config["module"], launcher_config["class"]) == (module, cls_name)
    cls = getattr(__import__(module, fromlist=[cls_name]), cls_name)
    monkeypatch.setenv("CELERY_BROKER_URL", "pyamqp://guest@127.0.0.1:5672//")
    monkeypatch.setenv("SENTINEL_CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
    monkeypatch.setenv("SENTINEL_CELERY_BACKEND_URL", "redis://127.0.0.1:6379/0")
    result = process_config(cls.config_type(), launcher_config["config"])
    assert result.success, result.errors
    if name != "instance kubernetes":  # K8sRunLauncher loads the cluster config when built
        data = ConfigurableClassData(module, cls_name, yaml.safe_dump(launcher_config["config"]))
        assert isinstance(data.rehydrate(as_type=cls), cls)


@pytest.fixture
def demo_specs(tmp_path, monkeypatch):
    from sentinel_assets_tests.demo_project import make_demo

    specs, _ = make_demo(tmp_path, monkeypatch)
    monkeypatch.setenv("SENTINEL_SPECS_DIR", str(specs))
    return specs


@pytest.mark.parametrize("executor,module", [
    ("docker_executor", "dagster_docker"),
    ("k8s_job_executor", "dagster_k8s"),
    ("celery_executor", "dagster_celery"),
])
def test_scale_out_executor_run_configs_validate_on_an_alert_job(executor, module, demo_specs,
                                                                 monkeypatch):
    from sentinel_assets.orchestration.factory import build_sentinel_defs

    monkeypatch.setenv("CELERY_BROKER_URL", "pyamqp://guest@127.0.0.1:5672//")
    executor_def = getattr(__import__(module, fromlist=[executor]), executor)
    defs = dg.Definitions.merge(build_sentinel_defs(demo_specs, executor=None),
                                dg.Definitions(executor=executor_def))
    job = defs.get_job_def("unshipped_orders")
    assert job.executor_def is executor_def
    run_config = yaml.safe_load(scale_out_snippets()[f"run-config {executor}"])
    dg.validate_run_config(job, run_config)


def test_scale_out_celery_definitions_snippet_puts_every_alert_job_on_celery(demo_specs,
                                                                             monkeypatch):
    monkeypatch.setenv("CELERY_BROKER_URL", "pyamqp://guest@127.0.0.1:5672//")
    namespace: dict = {}
    exec(compile(scale_out_snippets()["definitions celery_executor"], "scale-out.md", "exec"),
         namespace)
    defs = namespace["defs"]
    alert_jobs = [job for job in defs.get_repository_def().get_all_jobs()
                  if "sentinel/alert" in job.tags]
    assert alert_jobs
    assert {job.executor_def.name for job in alert_jobs} == {"celery"}
    run_config = yaml.safe_load(scale_out_snippets()["run-config celery_executor"])
    dg.validate_run_config(alert_jobs[0], run_config)
