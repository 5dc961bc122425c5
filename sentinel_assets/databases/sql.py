"""SQLAlchemy database resource for SQLite, PostgreSQL and MySQL/MariaDB.

Queries run in a read-only transaction where the backend supports it, with a timeout the server
enforces (PostgreSQL ``statement_timeout``, MariaDB ``max_statement_time``, MySQL
``max_execution_time``, SQLite a progress handler), and engines are reused within a process.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Mapping

import dagster as dg
import sqlalchemy as sa
from pydantic import Field

from sentinel_assets.databases.errors import QueryError, QueryTimeout
from sentinel_assets.env_vars import expand
from sentinel_assets.query_result import QueryResult

_engines: dict[str, sa.Engine] = {}
_engines_lock = threading.Lock()


def get_engine(url: str) -> sa.Engine:
    """One engine per URL per process (connection pools are reused across evaluations)."""
    with _engines_lock:
        engine = _engines.get(url)
        if engine is None:
            kwargs: dict[str, Any] = {"pool_pre_ping": True}
            if url.startswith("sqlite"):
                kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
            elif url.startswith(("postgresql", "mysql", "mariadb")):
                kwargs["connect_args"] = {"connect_timeout": 10}
            engine = sa.create_engine(url, **kwargs)
            _engines[url] = engine
        return engine


def dispose_engines() -> None:
    """Close every pooled connection (tests, forks)."""
    with _engines_lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


class SqlDatabase(dg.ConfigurableResource):
    """A database that alert queries run against, through SQLAlchemy.

    Example:
        .. code-block:: python

            db = SqlDatabase(url="sqlite:///demo/demo.db")
            result = db.query("SELECT 'OK' AS status", timeout=5)
            assert result.rows == (("OK",),)
    """

    url: str = Field(description="SQLAlchemy URL; ${VAR} references are resolved at run time.")
    read_only: bool = Field(
        default=True, description="Run queries in a read-only transaction where supported."
    )

    def resolved_url(self) -> str:
        return expand(self.url)

    def query(
        self,
        sql: str,
        params: Mapping[str, Any] | None = None,
        *,
        timeout: float = 60.0,
        max_rows: int = 1000,
        labels: Mapping[str, str] | None = None,
    ) -> QueryResult:
        """Run ``sql`` with bound ``params``; raise ``QueryError``/``QueryTimeout`` on failure."""
        url = self.resolved_url()
        secret = sa.make_url(url).password
        started = time.perf_counter()
        try:
            engine = get_engine(url)
            with engine.connect() as conn:
                with _guard(conn, engine.dialect.name, timeout, self.read_only):
                    cursor = conn.execute(sa.text(sql), dict(params or {}))
                    if not cursor.returns_rows:
                        raise QueryError("the statement returned no result set; an alert query "
                                         "must be a SELECT")
                    columns = tuple(cursor.keys())
                    fetched = cursor.fetchmany(max_rows + 1)
                conn.rollback()
        except QueryError:
            raise
        except Exception as exc:  # noqa: BLE001 - every driver error becomes a QueryError
            elapsed = time.perf_counter() - started
            message = _describe(exc, secret)
            if _is_timeout(exc, message) or (elapsed >= timeout and "interrupt" in message.lower()):
                raise QueryTimeout(f"query timed out after {timeout:g}s and was cancelled "
                                   f"({message})") from None
            raise QueryError(message) from None
        rows = tuple(tuple(r) for r in fetched[:max_rows])
        return QueryResult(
            columns=columns,
            rows=rows,
            duration_ms=(time.perf_counter() - started) * 1000,
            truncated=len(fetched) > max_rows,
        )

    def ping(self) -> float:
        """Connect and run a trivial query; returns the latency in milliseconds."""
        return self.query("SELECT 1 AS ok", timeout=10).duration_ms


class _guard:
    """Read-only transaction and server-side timeout for one query, undone afterwards."""

    def __init__(self, conn: sa.Connection, dialect: str, timeout: float, read_only: bool):
        self.conn, self.dialect, self.timeout, self.read_only = conn, dialect, timeout, read_only
        self.raw = None

    def __enter__(self):
        conn, ms = self.conn, max(1, int(self.timeout * 1000))
        if self.dialect == "sqlite":
            self.raw = conn.connection.dbapi_connection
            deadline = time.monotonic() + self.timeout
            self.raw.set_progress_handler(lambda: 1 if time.monotonic() > deadline else 0, 10_000)
            if self.read_only:
                conn.exec_driver_sql("PRAGMA query_only = ON")
        elif self.dialect == "postgresql":
            if self.read_only:
                conn.exec_driver_sql("SET TRANSACTION READ ONLY")
            conn.exec_driver_sql(f"SET LOCAL statement_timeout = {ms}")
        elif self.dialect in ("mysql", "mariadb"):
            if getattr(conn.dialect, "is_mariadb", False):
                conn.exec_driver_sql(f"SET SESSION max_statement_time = {self.timeout:.3f}")
            else:
                conn.exec_driver_sql(f"SET SESSION max_execution_time = {ms}")
            if self.read_only:
                conn.exec_driver_sql("SET TRANSACTION READ ONLY")
        return self

    def __exit__(self, *exc_info):
        if self.dialect == "sqlite" and self.raw is not None:
            self.raw.set_progress_handler(None, 0)
            if self.read_only:
                try:
                    self.conn.rollback()
                    self.conn.exec_driver_sql("PRAGMA query_only = OFF")
                except Exception:  # noqa: BLE001 - the connection is discarded by the pool then
                    self.conn.invalidate()
        return False


_TIMEOUT_MARKERS = (
    "canceling statement due to statement timeout",  # PostgreSQL
    "max_statement_time exceeded",  # MariaDB
    "maximum statement execution time exceeded",  # MySQL
    "(3024,",
    "(1969,",
)


def _is_timeout(exc: BaseException, message: str) -> bool:
    lowered = message.lower()
    if any(marker in lowered for marker in _TIMEOUT_MARKERS):
        return True
    orig = getattr(exc, "orig", None)
    return type(orig).__name__ == "OperationalError" and str(orig).strip() == "interrupted"


def _describe(exc: BaseException, secret: str | None) -> str:
    """The driver's own words, without SQLAlchemy's boilerplate and without the password."""
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip()
    text = text.split("\n[SQL:")[0].split("\n(Background on this error")[0].strip()
    if secret:
        text = text.replace(secret, "***")
    return f"{type(orig or exc).__name__}: {text}"
