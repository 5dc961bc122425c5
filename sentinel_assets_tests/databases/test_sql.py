"""SqlDatabase against real SQLite, PostgreSQL and MariaDB: results, bound parameters, server-side
timeouts, read-only transactions, pooled engines and error messages."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import traceback
import urllib.parse
from dataclasses import dataclass

import pytest
import sqlalchemy as sa

from sentinel_assets.databases import QueryError, QueryRefused, QueryTimeout
from sentinel_assets.databases.sql import SqlDatabase, get_engine

BACKENDS = ["sqlite", "postgresql", "mariadb"]

# one statement per backend that runs for seconds unless the timeout stops it
SLOW_QUERY = {
    "sqlite": (
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 2000000000) "
        "SELECT COUNT(*) AS n FROM c"
    ),
    "postgresql": "SELECT pg_sleep(5) AS slept",
    "mariadb": "SELECT SLEEP(5) AS slept",
}

ORDERS = [
    (1, "Ada", decimal.Decimal("12.50"), dt.date(2024, 1, 2)),
    (2, "O'Brien", decimal.Decimal("7.25"), dt.date(2024, 1, 3)),
    (3, "Grace", decimal.Decimal("100.00"), dt.date(2024, 1, 4)),
]


@dataclass(frozen=True)
class Backend:
    kind: str
    url: str

    def count(self, table: str = "sqltest_orders") -> int:
        """Row count seen by a separate, committed connection (not through SqlDatabase)."""
        engine = sa.create_engine(self.url)
        try:
            with engine.connect() as conn:
                return conn.exec_driver_sql(f"SELECT COUNT(*) FROM {table}").scalar()
        finally:
            engine.dispose()

    def has_table(self, table: str) -> bool:
        engine = sa.create_engine(self.url)
        try:
            return sa.inspect(engine).has_table(table)
        finally:
            engine.dispose()


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request, tmp_path_factory) -> Backend:
    """A database of each kind holding the tables ``sqltest_orders`` and ``sqltest_scratch``."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'alerts.db'}"
    elif request.param == "postgresql":
        url = request.getfixturevalue("pg_url")
    else:
        url = request.getfixturevalue("mariadb_url")
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE sqltest_orders (id INTEGER PRIMARY KEY, customer VARCHAR(50), "
            "amount DECIMAL(10, 2), ordered_on DATE)"
        )
        conn.exec_driver_sql("CREATE TABLE sqltest_scratch (id INTEGER, note VARCHAR(50))")
        conn.execute(
            sa.text("INSERT INTO sqltest_orders VALUES (:id, :customer, :amount, :ordered_on)"),
            [
                {"id": i, "customer": who, "amount": str(amount), "ordered_on": day.isoformat()}
                for i, who, amount, day in ORDERS
            ],
        )
    yield Backend(request.param, url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE IF EXISTS sqltest_orders")
        conn.exec_driver_sql("DROP TABLE IF EXISTS sqltest_scratch")
        conn.exec_driver_sql("DROP TABLE IF EXISTS sqltest_created")
    engine.dispose()


def _session_id(db: SqlDatabase, kind: str):
    """The server-side id of the pooled connection a query ran on (None for SQLite)."""
    sql = {"postgresql": "SELECT pg_backend_pid() AS id", "mariadb": "SELECT CONNECTION_ID() AS id"}
    return db.query(sql[kind], timeout=10).rows[0][0] if kind in sql else None


# -- results --------------------------------------------------------------------------------------
def test_query_returns_columns_rows_and_plain_records(backend):
    db = SqlDatabase(url=backend.url)

    result = db.query(
        "SELECT id, customer, amount, ordered_on FROM sqltest_orders ORDER BY id", timeout=10
    )

    assert result.columns == ("id", "customer", "amount", "ordered_on")
    assert [row[0] for row in result.rows] == [1, 2, 3]
    assert result.truncated is False
    assert result.duration_ms > 0
    if backend.kind != "sqlite":  # SQLite has no DECIMAL or DATE storage classes
        assert result.rows[0][2] == decimal.Decimal("12.50")
        assert result.rows[0][3] == dt.date(2024, 1, 2)
    records = result.records()
    assert records[0] == {"id": 1, "customer": "Ada", "amount": 12.5, "ordered_on": "2024-01-02"}
    assert records[2]["amount"] == 100
    json.dumps(records)  # plain values only


def test_max_rows_cuts_the_result_and_says_so(backend):
    db = SqlDatabase(url=backend.url)
    sql = "SELECT id FROM sqltest_orders ORDER BY id"

    cut = db.query(sql, timeout=10, max_rows=2)
    whole = db.query(sql, timeout=10, max_rows=3)

    assert cut.rows == ((1,), (2,)) and cut.truncated is True
    assert len(whole.rows) == 3 and whole.truncated is False


# -- bound parameters -----------------------------------------------------------------------------
def test_bound_parameters_are_compared_as_values(backend):
    db = SqlDatabase(url=backend.url)
    sql = "SELECT COUNT(*) AS n FROM sqltest_orders WHERE customer = :customer"

    assert db.query(sql, {"customer": "O'Brien"}, timeout=10).rows[0][0] == 1
    assert db.query(sql, {"customer": "x' OR '1'='1"}, timeout=10).rows[0][0] == 0
    assert db.query("SELECT :text AS echoed", {"text": "a'; DROP TABLE sqltest_orders; --"},
                    timeout=10).rows[0][0] == "a'; DROP TABLE sqltest_orders; --"
    assert backend.count() == len(ORDERS)


def test_date_parameters_bind_on_every_backend(backend):
    db = SqlDatabase(url=backend.url)

    result = db.query(
        "SELECT COUNT(*) AS n FROM sqltest_orders WHERE ordered_on >= :start AND ordered_on < :end",
        {"start": dt.date(2024, 1, 3), "end": dt.date(2024, 1, 4)},
        timeout=10,
    )

    assert result.rows[0][0] == 1


# -- timeouts -------------------------------------------------------------------------------------
def test_slow_query_is_cancelled_by_the_timeout(backend):
    db = SqlDatabase(url=backend.url)

    with pytest.raises(QueryTimeout) as caught:
        db.query(SLOW_QUERY[backend.kind], timeout=0.5)

    assert "timed out after 0.5s" in str(caught.value)
    assert db.query("SELECT 1 AS ok", timeout=10).rows == ((1,),)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT SLEEP(5) AS slept",  # MariaDB 10.11 interrupts SLEEP with error 1969
        "SELECT BENCHMARK(2000000000, MD5('sentinel')) AS spun",  # interrupted, returns 0
    ],
    ids=["sleep", "benchmark"],
)
def test_mariadb_statement_stopped_by_max_statement_time_is_a_timeout(mariadb_url, sql):
    db = SqlDatabase(url=mariadb_url)

    with pytest.raises(QueryTimeout) as caught:
        db.query(sql, timeout=0.5)

    assert "timed out after 0.5s" in str(caught.value)
    assert db.query("SELECT 1 AS ok", timeout=10).rows == ((1,),)


def test_timeout_is_not_raised_for_a_query_that_finishes_in_time(backend):
    db = SqlDatabase(url=backend.url)

    assert db.query("SELECT COUNT(*) AS n FROM sqltest_orders", timeout=30).rows == ((3,),)


# -- read-only ------------------------------------------------------------------------------------
WRITES = {
    "insert": "INSERT INTO sqltest_orders (id, customer) VALUES (99, 'Mallory')",
    "update": "UPDATE sqltest_orders SET amount = 0",
    "delete": "DELETE FROM sqltest_orders",
    "create": "CREATE TABLE sqltest_created (id INTEGER)",
}


@pytest.mark.parametrize("statement", list(WRITES), ids=list(WRITES))
def test_write_through_query_fails_and_changes_nothing(backend, statement):
    db = SqlDatabase(url=backend.url)

    with pytest.raises(QueryRefused):
        db.query(WRITES[statement], timeout=10)
    # and past the statement check, the read-only transaction stops it
    with pytest.raises(QueryError) as caught:
        db.execute_unchecked(WRITES[statement], timeout=10)

    assert not isinstance(caught.value, (QueryTimeout, QueryRefused))
    assert backend.count() == len(ORDERS)
    assert db.query("SELECT SUM(amount) AS total FROM sqltest_orders", timeout=10).records() == [
        {"total": 119.75}
    ]
    assert not backend.has_table("sqltest_created")


def test_write_returning_rows_is_refused_in_read_only_mode(backend):
    db = SqlDatabase(url=backend.url)
    sql = "INSERT INTO sqltest_scratch (note) VALUES ('x') RETURNING note"

    with pytest.raises(QueryRefused):
        db.query(sql, timeout=10)
    with pytest.raises(QueryError):
        db.execute_unchecked(sql, timeout=10)

    assert backend.count("sqltest_scratch") == 0


def test_postgres_commit_in_the_query_text_does_not_open_a_writable_transaction(pg_url):
    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE sqltest_commit (id INTEGER)")
    db = SqlDatabase(url=pg_url)
    sql = "COMMIT; INSERT INTO sqltest_commit VALUES (1); SELECT 1 AS ok"
    try:
        with pytest.raises(QueryRefused):
            db.query(sql, timeout=10)
        with pytest.raises(QueryError):  # the extended protocol: one statement per call
            db.execute_unchecked(sql, timeout=10)
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT COUNT(*) FROM sqltest_commit").scalar() == 0
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE sqltest_commit")
        engine.dispose()


def test_query_never_commits_even_when_writes_are_allowed(backend):
    writer = SqlDatabase(url=backend.url, read_only=False)
    sql = "INSERT INTO sqltest_scratch (note) VALUES ('x') RETURNING note"

    with pytest.raises(QueryRefused):
        writer.query(sql, timeout=10)
    if backend.kind == "postgresql":  # a server-side cursor holds a read, never an INSERT
        with pytest.raises(QueryError):
            writer.execute_unchecked(sql, timeout=10)
    else:
        assert writer.execute_unchecked(sql, timeout=10).rows == (("x",),)

    assert backend.count("sqltest_scratch") == 0


def test_read_only_and_timeout_settings_do_not_leak_into_the_pooled_connection(backend):
    reader = SqlDatabase(url=backend.url)
    writer = SqlDatabase(url=backend.url, read_only=False)
    with pytest.raises(QueryError):
        reader.execute_unchecked(WRITES["delete"], timeout=10)
    with pytest.raises(QueryTimeout):
        reader.query(SLOW_QUERY[backend.kind], timeout=0.5)
    session = _session_id(reader, backend.kind)

    # same engine, same pooled connection, opposite settings
    if backend.kind != "postgresql":  # a PostgreSQL cursor cannot hold an INSERT at all
        assert writer.execute_unchecked(
            "INSERT INTO sqltest_scratch (note) VALUES ('ok') RETURNING note", timeout=10
        ).rows == (("ok",),)
    settings = {
        "sqlite": "SELECT query_only AS read_only FROM pragma_query_only",
        "postgresql": "SELECT current_setting('transaction_read_only') AS read_only, "
        "current_setting('statement_timeout') AS timeout",
        "mariadb": "SELECT @@tx_read_only AS read_only, @@max_statement_time AS timeout",
    }[backend.kind]
    seen = writer.query(settings, timeout=30).records()[0]
    assert seen["read_only"] in (0, "off")
    if backend.kind == "postgresql":
        assert seen["timeout"] == "30s"
    if backend.kind == "mariadb":
        assert seen["timeout"] == 30
    assert _session_id(writer, backend.kind) == session
    # and back again: the reader is read-only on the connection the writer used
    with pytest.raises(QueryError):
        reader.execute_unchecked(WRITES["delete"], timeout=10)
    assert backend.count() == len(ORDERS)
    assert backend.count("sqltest_scratch") == 0


# -- engines --------------------------------------------------------------------------------------
def test_engine_is_reused_for_the_same_url(backend):
    first, second = SqlDatabase(url=backend.url), SqlDatabase(url=backend.url)
    first.query("SELECT 1 AS ok", timeout=10)
    engine = get_engine(backend.url)
    pooled = engine.pool.checkedin()

    for db in (first, second, first, second):
        db.query("SELECT 1 AS ok", timeout=10)

    assert get_engine(second.resolved_url()) is engine
    assert engine.pool.checkedin() == pooled >= 1


# -- errors ---------------------------------------------------------------------------------------
def test_what_is_not_a_select_is_refused_before_it_reaches_the_database(backend):
    db = SqlDatabase(url=backend.url)

    with pytest.raises(QueryRefused) as caught:
        db.query("SELEC 1", timeout=10)

    assert str(caught.value) == ("an alert query must be one SELECT statement; found SELEC at "
                                 "line 1 of the query")


def test_syntax_error_is_the_drivers_message_without_sqlalchemy_boilerplate(backend):
    db = SqlDatabase(url=backend.url)

    with pytest.raises(QueryError) as caught:  # the statement check reads it; no server does
        db.query("SELECT 1 QUALIFY 1 = 1", timeout=10)

    message = str(caught.value)
    assert not isinstance(caught.value, QueryRefused)
    assert "syntax" in message.lower()
    assert "DECLARE" not in message  # PostgreSQL's cursor around the query is not the user's
    for boilerplate in ("[SQL:", "Background on this error", "sqlalche.me", "sqlalchemy"):
        assert boilerplate not in message
    assert db.query("SELECT 1 AS ok", timeout=10).rows == ((1,),)


def test_missing_table_names_the_table(backend):
    db = SqlDatabase(url=backend.url)

    with pytest.raises(QueryError) as caught:
        db.query("SELECT * FROM sqltest_no_such_table", timeout=10)

    assert "sqltest_no_such_table" in str(caught.value)


PASSWORD = "s3cret-P@ss:w/rd"  # characters that must be URL-encoded


DRIVERS = {"postgresql": "postgresql+psycopg2", "mariadb": "mysql+pymysql"}


def _url(kind: str, *, user: str, port: int, database: str) -> str:
    url = sa.URL.create(DRIVERS[kind], username=user, password=PASSWORD, host="127.0.0.1",
                        port=port, database=database)
    return url.render_as_string(hide_password=False)


def _assert_password_hidden(exc: BaseException) -> None:
    rendered = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    for form in (PASSWORD, urllib.parse.quote(PASSWORD, safe="")):
        assert form not in str(exc)
        assert form not in rendered
    assert "s3cret" not in rendered


@pytest.mark.parametrize("kind", ["postgresql", "mariadb"])
def test_unreachable_server_error_does_not_contain_the_password(kind, monkeypatch):
    monkeypatch.setenv("SENTINEL_TEST_DB_PASSWORD", urllib.parse.quote(PASSWORD, safe=""))
    literal = SqlDatabase(url=_url(kind, user="sentinel", port=1, database="alerts"))
    from_env = SqlDatabase(
        url=DRIVERS[kind] + "://sentinel:${SENTINEL_TEST_DB_PASSWORD}@127.0.0.1:1/alerts"
    )

    for db in (literal, from_env):
        with pytest.raises(QueryError) as caught:
            db.query("SELECT 1 AS ok", timeout=10)
        assert "127.0.0.1" in str(caught.value)
        _assert_password_hidden(caught.value)


def test_postgres_unknown_user_error_names_the_user_not_the_password(pg_url):
    database = sa.make_url(pg_url).database
    db = SqlDatabase(url=_url("postgresql", user="sentinel_nobody", port=5432, database=database))

    with pytest.raises(QueryError) as caught:
        db.query("SELECT 1 AS ok", timeout=10)

    assert "sentinel_nobody" in str(caught.value)
    _assert_password_hidden(caught.value)


def test_mariadb_wrong_password_error_does_not_contain_it(mariadb_url):
    database = sa.make_url(mariadb_url).database
    db = SqlDatabase(url=_url("mariadb", user="root", port=3306, database=database))

    with pytest.raises(QueryError) as caught:
        db.query("SELECT 1 AS ok", timeout=10)

    assert "Access denied" in str(caught.value)
    _assert_password_hidden(caught.value)


def test_password_that_breaks_the_url_gives_a_hint_and_no_part_of_it(monkeypatch):
    monkeypatch.setenv("SENTINEL_TEST_DB_PASSWORD", PASSWORD)  # not URL-encoded
    db = SqlDatabase(url="postgresql+psycopg2://sentinel:${SENTINEL_TEST_DB_PASSWORD}@127.0.0.1/a")

    with pytest.raises(QueryError) as caught:
        db.query("SELECT 1 AS ok", timeout=10)

    assert "URL-encoded" in str(caught.value)
    _assert_password_hidden(caught.value)
    for fragment in PASSWORD.replace("@", ":").replace("/", ":").split(":"):
        assert f"'{fragment}'" not in str(caught.value)
