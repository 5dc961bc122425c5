"""Shared fixtures: fresh PostgreSQL and MariaDB databases per test session, Dagster instances.

With ``CI=true`` a test that needs a service fails when the service is absent instead of being
skipped.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

PG_ADMIN_URL = os.environ.get(
    "SENTINEL_TEST_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
)
MARIADB_ADMIN_URL = os.environ.get(
    "SENTINEL_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test"
)


def _service_missing(name: str, exc: Exception):
    message = f"{name} is not reachable ({type(exc).__name__}: {exc})"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{message}; CI=true, so this is a failure, not a skip", pytrace=False)
    pytest.skip(message)


def _fresh_database(admin_url: str, name: str, service: str):
    try:
        engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
    except Exception as exc:  # noqa: BLE001
        _service_missing(service, exc)
    url = sa.make_url(admin_url).set(database=name)
    return engine, url.render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def pg_url():
    """A fresh PostgreSQL database for this test session (dropped afterwards)."""
    name = f"sentinel_test_{uuid.uuid4().hex[:10]}"
    engine, url = _fresh_database(PG_ADMIN_URL, name, "PostgreSQL")
    yield url
    from sentinel_assets.databases.sql import dispose_engines

    dispose_engines()
    with engine.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    engine.dispose()


@pytest.fixture(scope="session")
def pg_url_factory():
    """Make more fresh PostgreSQL databases (each dropped at the end of the session)."""
    made = []

    def make() -> str:
        name = f"sentinel_test_{uuid.uuid4().hex[:10]}"
        engine, url = _fresh_database(PG_ADMIN_URL, name, "PostgreSQL")
        made.append((engine, name))
        return url

    yield make
    for engine, name in made:
        with engine.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        engine.dispose()


@pytest.fixture(scope="session")
def mariadb_url():
    """A fresh MariaDB database for this test session (dropped afterwards)."""
    name = f"sentinel_test_{uuid.uuid4().hex[:10]}"
    engine, url = _fresh_database(MARIADB_ADMIN_URL, name, "MariaDB")
    yield url
    from sentinel_assets.databases.sql import dispose_engines

    dispose_engines()
    with engine.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
    engine.dispose()


@pytest.fixture
def dagster_home(tmp_path, monkeypatch) -> Path:
    """A persistent SQLite Dagster instance in a temp dir, set as DAGSTER_HOME."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home


@pytest.fixture
def pg_instance(pg_url_factory, tmp_path):
    """A DagsterInstance whose run/event/schedule storage is dagster-postgres on a fresh DB."""
    import dagster as dg

    url = pg_url_factory()
    overrides = {"storage": {"postgres": {"postgres_url": url}}, "telemetry": {"enabled": False}}
    with dg.instance_for_test(overrides=overrides, temp_dir=str(tmp_path)) as instance:
        yield instance


@pytest.fixture
def outbox(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "outbox.jsonl"
    monkeypatch.setenv("SENTINEL_OUTBOX", str(path))
    return path


@pytest.fixture(autouse=True)
def _outbox_in_tmp(tmp_path, monkeypatch) -> None:
    """A log channel without a path writes to ``$SENTINEL_OUTBOX``, else ``.sentinel/outbox.jsonl``
    under the current folder: the checkout, where a test's notices would end up in the outbox
    ``make demo`` shows afterwards. Every test gets its own (the ``outbox`` fixture's path)."""
    monkeypatch.setenv("SENTINEL_OUTBOX", str(tmp_path / "outbox.jsonl"))


@pytest.fixture
def state_url(tmp_path, monkeypatch) -> str:
    """A fresh SQLite state store, also exported as SENTINEL_STATE_URL."""
    url = f"sqlite:///{tmp_path / 'state.db'}"
    monkeypatch.setenv("SENTINEL_STATE_URL", url)
    return url


@pytest.fixture(autouse=True)
def _reset_dagster_defs_state_storage():
    """Dagster 1.13's ``DagsterInstance.__exit__`` disposes the instance without resetting the
    defs-state-storage context variable that ``__enter__`` set, so a later test that builds a
    repository would reach the disposed instance ("undefined DagsterInstance weakref")."""
    yield
    from dagster._core.storage.defs_state.base import _current_storage

    _current_storage.set(None)
