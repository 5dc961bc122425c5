"""The package's shape: layers that follow the flow, no import cycles, an honest pure core."""

import json
import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "sentinel_assets"


def test_the_import_linter_contracts_hold():
    result = subprocess.run([str(Path(sys.executable).parent / "lint-imports")], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def _cycles(graph) -> list[set[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []
    counter = [0]

    def visit(module):
        index[module] = low[module] = counter[0]
        counter[0] += 1
        stack.append(module)
        on_stack.add(module)
        for other in graph.find_modules_directly_imported_by(module):
            if other not in index:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in on_stack:
                low[module] = min(low[module], index[other])
        if low[module] == index[module]:
            component = set()
            while True:
                other = stack.pop()
                on_stack.discard(other)
                component.add(other)
                if other == module:
                    break
            if len(component) > 1:
                found.append(component)

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return found


def test_no_module_imports_itself_through_others_even_inside_functions():
    graph = grimp.build_graph("sentinel_assets", cache_dir=None)  # counts imports in functions
    assert _cycles(graph) == []


def test_the_package_top_level_holds_at_most_eight_modules():
    modules = [p.name for p in PACKAGE.glob("*.py")]
    assert len(modules) <= 8, modules


def _fresh_import(code: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def test_importing_the_pure_core_loads_neither_dagster_nor_sqlalchemy():
    loaded = _fresh_import(
        "import json, sys\n"
        "import sentinel_assets.core.judging, sentinel_assets.core.lifecycle\n"
        "import sentinel_assets.core.routing, sentinel_assets.core.silences\n"
        "import sentinel_assets.core.messages, sentinel_assets.names\n"
        "print(json.dumps({m: m in sys.modules for m in ('dagster', 'sqlalchemy')}))")
    assert loaded == {"dagster": False, "sqlalchemy": False}


def test_the_package_root_exports_its_api_lazily():
    loaded = _fresh_import(
        "import json, sys, sentinel_assets\n"
        "before = 'dagster' in sys.modules\n"
        "defs = sentinel_assets.build_sentinel_defs\n"
        "print(json.dumps({'before': before, 'after': 'dagster' in sys.modules,\n"
        "                  'all': sentinel_assets.__all__}))")
    assert loaded["before"] is False and loaded["after"] is True
    assert {"build_sentinel_defs", "SentinelAlerts", "SqlDatabase", "BigQueryDatabase",
            "LogChannel", "EmailChannel", "SlackChannel", "WebhookChannel",
            "SentinelStateStore", "load_specs", "evaluate_alert"} <= set(loaded["all"])


def test_every_public_name_resolves():
    import sentinel_assets

    for name in sentinel_assets.__all__:
        assert getattr(sentinel_assets, name) is not None, name
