"""SQLAlchemy database resource for SQLite, PostgreSQL and MySQL/MariaDB.

Each query is checked first: exactly one read statement (``spec.sql_guard``). It then runs in a
read-only transaction where the backend supports it, with a timeout the server enforces
(PostgreSQL ``statement_timeout``, MariaDB ``max_statement_time``, MySQL ``max_execution_time``,
SQLite a progress handler), and its rows are streamed: at most ``max_rows + 1`` of them are
fetched. The drivers cannot run a second statement: PostgreSQL queries go through psycopg 3 as
a server-side cursor, declared over the extended protocol, which refuses ``SELECT 1; DELETE ...``
(psycopg2's simple protocol runs both, from a named cursor too); MySQL/MariaDB connections never
have ``CLIENT.MULTI_STATEMENTS``. Engines are reused within a process.
"""

from __future__ import annotations

import datetime
import os
import re
import threading
import time
import urllib.parse
from typing import Any, Mapping

import dagster as dg
import sqlalchemy as sa
from pydantic import Field

from sentinel_assets.core.query_result import QueryResult
from sentinel_assets.core.redaction import (
    MASK,
    encode_password_at,
    password_forms,
    redact,
    url_password,
)
from sentinel_assets.databases.errors import QueryError, QueryRefused, QueryTimeout
from sentinel_assets.spec.env_vars import expand
from sentinel_assets.spec.sql_guard import check_query, dialect_for

_engines: dict[tuple[str, bool], sa.Engine] = {}
_engines_lock = threading.Lock()


def get_engine(url: str, read_only: bool = True) -> sa.Engine:
    """One engine per URL (and access mode) per process: connection pools are reused across
    evaluations.

    A password's un-encoded ``@`` is encoded first (``encode_password_at``). A SQLite file is
    opened as a URI with ``mode=ro`` (``mode=rw`` when writes are allowed): a missing file is
    a ``QueryError`` "database file not found", never a new empty database.
    """
    key = (url, read_only or not url.startswith("sqlite"))  # only SQLite opens files by mode
    with _engines_lock:
        engine = _engines.get(key)
        if engine is None:
            kwargs: dict[str, Any] = {"pool_pre_ping": True}
            target: str | sa.URL = encode_password_at(url)
            if url.startswith("sqlite"):
                kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
                target = _sqlite_url(target, read_only)
            elif url.startswith(("postgresql", "mysql", "mariadb")):
                kwargs["connect_args"] = {"connect_timeout": 10}
            engine = sa.create_engine(_one_statement_driver(target), **kwargs)
            sa.event.listen(engine, "do_connect", _no_multi_statements)
            _engines[key] = engine
        return engine


def _sqlite_url(url: str, read_only: bool) -> str | sa.URL:
    """A SQLite file URL as a URI that opens the file without creating it; ``:memory:`` and
    URLs that are URIs already are left as they are."""
    parsed = sa.make_url(url)
    path = parsed.database or ""
    if path in ("", ":memory:") or path.startswith("file:") or parsed.query.get("uri"):
        return url
    if not os.path.isfile(path):
        raise QueryError(f"database file not found: {os.path.abspath(path)}")
    return parsed.set(database=f"file:{urllib.parse.quote(path)}").update_query_dict(
        {"mode": "ro" if read_only else "rw", "uri": "true"})


def _one_statement_driver(url: str | sa.URL) -> str | sa.URL:
    """PostgreSQL through psycopg 3 where the URL names psycopg2 (or no driver): its server-side
    cursors are declared over the extended protocol, one statement per call."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() == "psycopg2":
        return parsed.set(drivername="postgresql+psycopg")
    return url


_MULTI_STATEMENTS = 1 << 16  # CLIENT.MULTI_STATEMENTS of the MySQL protocol


def _no_multi_statements(dialect, _record, _cargs, cparams) -> None:
    """Never let a MySQL/MariaDB connection run several statements per call, whatever
    ``client_flag`` the URL asks for (pymysql leaves it off by default)."""
    if dialect.name in ("mysql", "mariadb") and "client_flag" in cparams:
        cparams["client_flag"] = int(cparams["client_flag"]) & ~_MULTI_STATEMENTS


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
        maximum_bytes_billed: int | None = None,
    ) -> QueryResult:
        """Check that ``sql`` is one read statement, then run it (``execute_unchecked``).

        Raises:
            QueryRefused: ``sql`` is not exactly one read statement; nothing was sent.
            QueryTimeout, QueryError: as ``execute_unchecked``.
        """
        try:
            url: str | None = self.resolved_url()
        except ValueError:  # an unset ${VAR}: execute_unchecked says so
            url = None
        refuse_unless_one_read(sql, url)
        return self.execute_unchecked(sql, params, timeout=timeout, max_rows=max_rows)

    def execute_unchecked(
        self,
        sql: str,
        params: Mapping[str, Any] | None = None,
        *,
        timeout: float = 60.0,
        max_rows: int = 1000,
        labels: Mapping[str, str] | None = None,
        maximum_bytes_billed: int | None = None,
    ) -> QueryResult:
        """Run ``sql`` with bound ``params`` (``:name``) and return at most ``max_rows`` rows,
        without the statement check of ``query``: for sentinel's own statements and for tests
        that show what the layers beneath the check still stop. Alert queries go through
        ``query``.

        Args:
            sql: one SELECT statement.
            params: values for the ``:name`` placeholders; they are bound, never formatted in.
            timeout: seconds the server lets the statement run before cancelling it.
            max_rows: rows returned at most; one more is fetched, so ``truncated`` says whether
                the query returned more (judging makes that an ERROR). The rest is never read.
            labels: reserved for backends that tag queries (BigQuery job labels).
            maximum_bytes_billed: BigQuery only; ignored here.

        Raises:
            QueryTimeout: the statement ran longer than ``timeout``.
            QueryError: anything else failed; the message is the driver's, without credentials.
        """
        started = time.perf_counter()
        secret: str | None = None
        ran = 0.0
        try:
            url = self.resolved_url()
            secret = _password(url)
            engine = get_engine(url, self.read_only)
            with engine.connect() as conn:
                with _guard(conn, engine.dialect.name, timeout, self.read_only, max_rows + 1):
                    began = time.perf_counter()
                    try:
                        columns, fetched = _fetch(conn, sql, _bind(params, engine.dialect.name),
                                                  max_rows + 1)
                    finally:
                        ran = time.perf_counter() - began
        except QueryError:
            raise
        except Exception as exc:  # noqa: BLE001 - every driver error becomes a QueryError
            message = _describe(exc, secret)
            if _is_timeout(exc, message) or (ran >= timeout and "interrupt" in message.lower()):
                raise QueryTimeout(f"query timed out after {timeout:g}s and was cancelled "
                                   f"({message})") from None
            raise QueryError(message) from None
        if ran >= timeout:
            # MariaDB's max_statement_time may stop a statement without an error (SLEEP returns
            # 1, BENCHMARK 0): whatever it returned then is not the query's answer.
            raise QueryTimeout(f"query timed out after {timeout:g}s: it ran for {ran:.1f}s and "
                               "the server stopped it, so its result is discarded")
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


def refuse_unless_one_read(sql: str, url: str | None) -> None:
    """Raise ``QueryRefused`` unless ``sql`` is one read statement in the dialect of ``url``
    (of any dialect sentinel knows when the URL is not known)."""
    refusal = check_query(sql, dialect_for(url) if url else None)
    if refusal is not None:
        raise QueryRefused(str(refusal))


def _fetch(conn: sa.Connection, sql: str, params: dict[str, Any],
           limit: int) -> tuple[tuple[str, ...], list]:
    """The columns and at most ``limit`` rows, streamed from the server and fetched in one batch.

    ``stream_results`` makes the driver use a server-side cursor (PostgreSQL: ``DECLARE``,
    through the extended protocol; MySQL/MariaDB: an unbuffered cursor, on a session that also
    has ``sql_select_limit``), and SQLite steps through a result anyway: the rows past the limit
    are never buffered, converted or judged.
    """
    options = {"stream_results": True, "yield_per": limit}
    result = conn.execute(sa.text(sql), params, execution_options=options)
    try:
        if not result.returns_rows:
            raise QueryError("the statement returned no result set; an alert query must be a "
                             "SELECT")
        return tuple(result.keys()), result.fetchmany(limit)
    finally:
        result.close()


def _bind(params: Mapping[str, Any] | None, dialect: str) -> dict[str, Any]:
    """SQLite has no datetime type: a window bound arrives as ISO text in the window's own zone,
    'YYYY-MM-DD' at midnight and 'YYYY-MM-DD HH:MM:SS' otherwise, so that it compares correctly
    with dates and datetimes stored as ISO text ('2026-10-05' >= '2026-10-05 00:00:00' is false)."""
    bound = dict(params or {})
    if dialect == "sqlite":
        for key, value in bound.items():
            if isinstance(value, datetime.datetime):
                naive = value.replace(tzinfo=None)
                midnight = naive.time() == datetime.time(0)
                bound[key] = naive.date().isoformat() if midnight else naive.isoformat(sep=" ")
    return bound


class _guard:
    """Read-only mode and server-side timeout for one query, undone before the pool gets it back.

    The settings are session-wide (not just for the current transaction) so that a ``COMMIT``
    inside the query text cannot leave a read-write transaction without a timeout behind it; the
    engine is shared by every resource with the same URL, so ``__exit__`` resets them, and a
    connection that cannot be reset is discarded.
    """

    def __init__(self, conn: sa.Connection, dialect: str, timeout: float, read_only: bool,
                 row_limit: int | None = None):
        self.conn, self.dialect, self.timeout, self.read_only = conn, dialect, timeout, read_only
        self.row_limit = row_limit
        self.raw = None
        self.is_mariadb = bool(getattr(conn.dialect, "is_mariadb", False))

    def __enter__(self):
        conn, ms = self.conn, max(1, int(self.timeout * 1000))
        if self.dialect == "sqlite":
            self.raw = conn.connection.dbapi_connection
            deadline = time.monotonic() + self.timeout
            self.raw.set_progress_handler(lambda: 1 if time.monotonic() > deadline else 0, 10_000)
            conn.exec_driver_sql(f"PRAGMA query_only = {'ON' if self.read_only else 'OFF'}")
        elif self.dialect == "postgresql":
            access = "READ ONLY" if self.read_only else "READ WRITE"
            conn.exec_driver_sql(f"SET TRANSACTION {access}")
            # for transactions after a COMMIT inside the query text, too
            conn.exec_driver_sql(f"SET SESSION CHARACTERISTICS AS TRANSACTION {access}")
            conn.exec_driver_sql(f"SET SESSION statement_timeout = {ms}")
        elif self.dialect in ("mysql", "mariadb"):
            if self.is_mariadb:
                conn.exec_driver_sql(f"SET SESSION max_statement_time = {self.timeout:.3f}")
            else:
                conn.exec_driver_sql(f"SET SESSION max_execution_time = {ms}")
            # SESSION, not the next transaction only: DDL commits implicitly and would escape it
            mode = "READ ONLY" if self.read_only else "READ WRITE"
            conn.exec_driver_sql(f"SET SESSION TRANSACTION {mode}")
            if self.row_limit:  # the server sends no more rows than are read (no drain on close)
                conn.exec_driver_sql(f"SET SESSION sql_select_limit = {int(self.row_limit)}")
        return self

    def __exit__(self, *exc_info):
        try:
            self.conn.rollback()
            if self.dialect == "sqlite" and self.raw is not None:
                self.raw.set_progress_handler(None, 0)
                self.conn.exec_driver_sql("PRAGMA query_only = OFF")
            elif self.dialect == "postgresql":
                self.conn.exec_driver_sql("RESET statement_timeout")
                self.conn.exec_driver_sql("RESET default_transaction_read_only")
            elif self.dialect in ("mysql", "mariadb"):
                variable = "max_statement_time" if self.is_mariadb else "max_execution_time"
                self.conn.exec_driver_sql(f"SET SESSION {variable} = DEFAULT")
                self.conn.exec_driver_sql("SET SESSION TRANSACTION READ WRITE")
                self.conn.exec_driver_sql("SET SESSION sql_select_limit = DEFAULT")
            self.conn.commit()
        except Exception:  # noqa: BLE001 - a connection we cannot reset must not be reused
            self.conn.invalidate()
        return False


def _password(url: str) -> str | None:
    """The URL's whole password as written (read from the raw text, so an un-encoded ``@`` or
    ``/`` stays inside it), or a ``QueryError`` that quotes no part of an unparsable URL."""
    try:
        sa.make_url(encode_password_at(url))
        return url_password(url)
    except (ValueError, sa.exc.ArgumentError):
        raise QueryError(
            "the database URL could not be parsed; expected dialect+driver://user:password@host"
            ":port/database, with special characters in the user or password (@ : / % #) "
            "URL-encoded, e.g. @ as %40"
        ) from None


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


_CURSOR = re.compile(r'DECLARE "[^"]+" (?:NO SCROLL )?CURSOR (?:WITHOUT HOLD )?FOR ')


def _without_cursor(text: str) -> str:
    """PostgreSQL quotes the statement it failed on; the query, not the DECLARE that wraps it
    (whose cursor name changes with every call), with the caret under the same character."""
    lines = text.split("\n")
    for i, line in enumerate(lines):
        found = _CURSOR.search(line) if line.startswith("LINE ") else None
        if found is None:
            continue
        lines[i] = line[:found.start()] + line[found.end():]
        width = found.end() - found.start()
        if i + 1 < len(lines) and lines[i + 1][:width].strip() == "":
            lines[i + 1] = lines[i + 1][width:]
    return "\n".join(lines)


def _describe(exc: BaseException, secret: str | None) -> str:
    """The driver's own words, without SQLAlchemy's boilerplate and without the password."""
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip()
    text = text.split("\n[SQL:")[0].split("\n(Background on this error")[0].strip()
    text = _without_cursor(text)
    for form in password_forms(secret):
        text = text.replace(form, MASK)
    return redact(f"{type(orig or exc).__name__}: {text}")
