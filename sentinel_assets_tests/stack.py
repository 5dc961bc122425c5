"""The native stack (``scripts/stack.sh``) in tests: its environment on free ports and a fresh
PostgreSQL database, ``up``/``down``, its logs, and what ``down`` left behind.

test_stack_e2e.py (the default launcher) and test_celery.py (the Celery deployment) both use it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa

from sentinel_assets_tests.helpers import REPO_ROOT, free_port

STACK = REPO_ROOT / "scripts" / "stack.sh"


def stack_env(tmp_path: Path, pg_url: str, specs: Path, **extra: str) -> dict[str, str]:
    """The environment of a stack in ``tmp_path/stack`` on free ports, its storage (and state
    store) the database of ``pg_url``, its specs ``specs``; ``extra`` is added as it is."""
    url = sa.make_url(pg_url)
    # nothing of the caller's Dagster or sentinel settings leaks in
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DAGSTER_", "SENTINEL_"))}
    env.update({
        "SENTINEL_STACK_DIR": str(tmp_path / "stack"),
        "SENTINEL_STACK_BIN": str(Path(sys.executable).parent),
        "SENTINEL_STACK_PG_HOST": url.host or "127.0.0.1",
        "SENTINEL_STACK_PG_PORT": str(url.port or 5432),
        "SENTINEL_STACK_PG_USER": url.username or "postgres",
        "SENTINEL_STACK_DB": url.database,
        "SENTINEL_WEBSERVER_PORT": str(free_port()),
        "SENTINEL_CODE_SERVER_PORT": str(free_port()),
        "SENTINEL_METRICS_PORT": str(free_port()),
        "SENTINEL_SPECS_DIR": str(specs),
        "SENTINEL_OUTBOX": str(tmp_path / "outbox.jsonl"),
    })
    env.update(extra)
    return env


def run_stack(command: str, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run([str(STACK), command], cwd=REPO_ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


def stack_logs(stack_dir: Path, lines: int = 25) -> str:
    """The end of every service's log, for a failure message."""
    parts = []
    for log in sorted((stack_dir / "logs").glob("*.log")):
        parts.append(f"--- {log.name} (end) ---\n"
                     + "\n".join(log.read_text(errors="replace").splitlines()[-lines:]))
    return "\n".join(parts)


def kill_leftovers(stack_dir: Path) -> list[str]:
    """After ``down``: SIGKILL any process group the script started that is still there."""
    left = []
    for pid_file in (stack_dir / "pids").glob("*.pid"):
        pid = int(pid_file.read_text())
        try:
            if os.getpgid(pid) == pid:
                os.killpg(pid, signal.SIGKILL)
                left.append(pid_file.stem)
        except ProcessLookupError:
            pass
    return left
