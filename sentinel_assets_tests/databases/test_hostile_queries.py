"""Hostile alert queries against the real PostgreSQL, MariaDB and SQLite (and the fake BigQuery):
each is refused by the statement check with a clear error, the data and files are unchanged
afterwards, and the layers beneath the check (one statement per driver call, the read-only
transaction, the server-side timeout) still hold where the check is bypassed. Results larger than
``max_rows`` are an ERROR, read without buffering the rest."""

from __future__ import annotations

import tracemalloc
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from sentinel_assets.core.judging import ERROR, JudgeRules, judge
from sentinel_assets.databases import QueryError, QueryRefused, QueryTimeout
from sentinel_assets.databases.bigquery import BigQueryDatabase, close_clients
from sentinel_assets.databases.sql import SqlDatabase, get_engine
from sentinel_assets.engine.evaluation import evaluate_alert
from sentinel_assets.spec.models import AlertSpec
from sentinel_assets.state.store import StateStore
from sentinel_assets_tests.fake_bigquery import FakeBigQuery

ROWS = [(1, "Ada", 10), (2, "Grace", 20), (3, "Edsger", 30)]


@dataclass(frozen=True)
class Target:
    kind: str
    url: str
    table: str

    def snapshot(self, table: str | None = None) -> list[tuple]:
        """Every row of ``table``, read by a connection of its own (not through SqlDatabase)."""
        engine = sa.create_engine(self.url)
        try:
            with engine.connect() as conn:
                return [tuple(r) for r in conn.exec_driver_sql(
                    f"SELECT * FROM {table or self.table} ORDER BY 1")]
        finally:
            engine.dispose()

    def has_table(self, table: str) -> bool:
        engine = sa.create_engine(self.url)
        try:
            return sa.inspect(engine).has_table(table)
        finally:
            engine.dispose()

    def sql(self, text: str) -> str:
        return text.replace("{t}", self.table)


def _target(request, tmp_path_factory, kind: str) -> Target:
    if kind == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('hostile') / 'alerts.db'}"
    elif kind == "postgresql":
        url = request.getfixturevalue("pg_url")
    else:
        url = request.getfixturevalue("mariadb_url")
    table = f"hostile_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, name VARCHAR(20), "
                             "amount INTEGER)")
        conn.execute(sa.text(f"INSERT INTO {table} VALUES (:id, :name, :amount)"),
                     [{"id": i, "name": n, "amount": a} for i, n, a in ROWS])
    engine.dispose()
    return Target(kind, url, table)


@pytest.fixture(scope="module")
def pg(request, tmp_path_factory) -> Target:
    return _target(request, tmp_path_factory, "postgresql")


@pytest.fixture(scope="module")
def maria(request, tmp_path_factory) -> Target:
    return _target(request, tmp_path_factory, "mariadb")


@pytest.fixture(scope="module")
def lite(request, tmp_path_factory) -> Target:
    return _target(request, tmp_path_factory, "sqlite")


@pytest.fixture(scope="module", params=["sqlite", "postgresql", "mariadb"])
def target(request, tmp_path_factory) -> Target:
    return _target(request, tmp_path_factory, request.param)


def _refused(target: Target, sql: str, *words: str) -> str:
    """Run ``sql`` as an alert query: refused with a clear message, the table as it was."""
    with pytest.raises(QueryRefused) as caught:
        SqlDatabase(url=target.url).query(target.sql(sql), timeout=2)
    message = str(caught.value)
    assert message.startswith("an alert query must be one SELECT statement; found ")
    for word in words:
        assert word in message
    assert target.snapshot() == ROWS
    return message


def _marker(name: str) -> Path:
    return Path("/tmp") / f"sentinel_hostile_{uuid.uuid4().hex[:10]}_{name}"


# -- PostgreSQL -----------------------------------------------------------------------------------
PG_ESCAPES = {
    "commit-begin-read-write": "COMMIT; BEGIN READ WRITE; DELETE FROM {t} WHERE id = 1; COMMIT; "
                               "SELECT 'OK' AS status",
    "session-read-write": "SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE; COMMIT; "
                          "UPDATE {t} SET amount = 0",
}


@pytest.mark.parametrize("sql", list(PG_ESCAPES.values()), ids=list(PG_ESCAPES))
def test_postgres_writes_past_the_read_only_transaction_are_refused(pg, sql):
    _refused(pg, sql, "statements")


@pytest.mark.parametrize("sql", [*PG_ESCAPES.values(), "SELECT 'OK' AS status; DELETE FROM {t}"],
                         ids=[*PG_ESCAPES, "select-then-delete"])
def test_postgres_driver_runs_one_statement_per_call_when_the_check_is_bypassed(pg, sql):
    with pytest.raises(QueryError) as caught:
        SqlDatabase(url=pg.url).execute_unchecked(pg.sql(sql), timeout=2)

    # the cursor's DECLARE holds one statement, sent through the extended protocol
    message = str(caught.value)
    assert ("cannot insert multiple commands into a prepared statement" in message
            or "syntax error" in message)
    assert not isinstance(caught.value, QueryTimeout)
    assert pg.snapshot() == ROWS
    if sql.startswith("SELECT"):
        assert "cannot insert multiple commands into a prepared statement" in message


def test_postgres_copy_to_a_file_and_to_a_program_is_refused(pg):
    out, touched = _marker("out.csv"), _marker("touched")
    for sql in (f"COPY {{t}} TO '{out}'", f"COPY (SELECT 1) TO PROGRAM 'touch {touched}'"):
        _refused(pg, sql, "found COPY")
        with pytest.raises(QueryError):  # a cursor holds a SELECT, never a COPY
            SqlDatabase(url=pg.url).execute_unchecked(pg.sql(sql), timeout=2)

    assert not out.exists() and not touched.exists()


def test_postgres_timeout_cannot_be_switched_off_from_the_query_text(pg):
    _refused(pg, "SET statement_timeout = 0; SELECT 'OK' AS status FROM pg_sleep(30)",
             "2 statements (SET, SELECT)")
    _refused(pg, "SELECT set_config('statement_timeout', '0', false) AS off, pg_sleep(30)",
             "set_config()")


def test_postgres_server_timeout_holds_when_the_check_is_bypassed(pg):
    db = SqlDatabase(url=pg.url)

    with pytest.raises(QueryError) as several:
        db.execute_unchecked("SELECT 'OK' AS status; SET statement_timeout = 0; "
                             "SELECT 'OK' AS status FROM pg_sleep(30)", timeout=1)
    with pytest.raises(QueryTimeout) as stopped:
        db.execute_unchecked("SELECT set_config('statement_timeout', '0', false) AS off, "
                             "pg_sleep(30) AS slept", timeout=1)

    assert "cannot insert multiple commands" in str(several.value)
    # the server's own words: it cancelled the statement, sentinel did not merely give up on it
    assert "canceling statement due to statement timeout" in str(stopped.value)
    assert db.query("SELECT current_setting('statement_timeout') AS t", timeout=7).rows == (
        ("7s",),)


@pytest.mark.parametrize("sql", [
    "SELECT pg_read_file('/etc/hostname') AS f",
    "SELECT lo_export(1, '/tmp/sentinel_never_written')",
    "SELECT pg_terminate_backend(pg_backend_pid())",
    "WITH gone AS (DELETE FROM {t} RETURNING *) SELECT 'OK' AS status FROM gone",
    "SELECT * INTO sentinel_copied FROM {t}",
    "SELECT * FROM {t} FOR UPDATE",
], ids=["read-file", "lo-export", "terminate", "cte-delete", "select-into", "for-update"])
def test_postgres_side_effects_inside_a_select_are_refused(pg, sql):
    _refused(pg, sql)

    assert not pg.has_table("sentinel_copied")


# -- MariaDB --------------------------------------------------------------------------------------
def test_mariadb_set_statement_cannot_lift_read_only_mode(maria):
    created = f"hostile_created_{uuid.uuid4().hex[:8]}"

    _refused(maria, f"SET STATEMENT tx_read_only=0 FOR CREATE TABLE {created} (id int)",
             "found SET")
    _refused(maria, "SET STATEMENT tx_read_only=0 FOR DROP TABLE {t}", "found SET")
    _refused(maria, f"/*!SET STATEMENT tx_read_only=0 FOR*/ CREATE TABLE {created} (id int)")

    assert not maria.has_table(created)
    assert maria.has_table(maria.table)


def test_mariadb_timeout_cannot_be_switched_off_from_the_query_text(maria):
    _refused(maria, "SET STATEMENT max_statement_time=0 FOR SELECT SLEEP(30) AS slept",
             "found SET")
    # an executable comment is SQL to MariaDB and a comment to a parser
    _refused(maria, "/*!SET STATEMENT max_statement_time=0 FOR*/ SELECT SLEEP(30) AS slept",
             "/*! ... */ comment")


def test_mariadb_into_outfile_is_refused(maria):
    out = _marker("out.csv")

    _refused(maria, f"SELECT * FROM {{t}} INTO OUTFILE '{out}'", "SELECT ... INTO OUTFILE")
    _refused(maria, f"SELECT name FROM {{t}} LIMIT 1 INTO DUMPFILE '{out}'", "INTO DUMPFILE")
    _refused(maria, f"SELECT 1 AS n /*! INTO OUTFILE '{out}' */", "/*! ... */ comment")

    assert not out.exists()


@pytest.mark.parametrize("flags", ["", "?client_flag=65536"], ids=["default", "url-asks-for-it"])
def test_mariadb_connection_never_runs_several_statements_per_call(maria, flags):
    db = SqlDatabase(url=maria.url + flags, read_only=False)

    with pytest.raises(QueryError) as caught:
        db.execute_unchecked(maria.sql("SELECT 1 AS n; DELETE FROM {t}"), timeout=2)

    assert "1064" in str(caught.value)  # a syntax error: the server saw one statement
    assert maria.snapshot() == ROWS


def test_mariadb_row_limit_does_not_outlive_the_query(maria):
    db = SqlDatabase(url=maria.url)

    during = db.query("SELECT @@sql_select_limit AS row_limit", timeout=5, max_rows=5)
    with get_engine(maria.url).connect() as conn:
        after = conn.exec_driver_sql("SELECT @@sql_select_limit").scalar()

    assert during.rows == ((6,),)
    assert after == 2**64 - 1  # the server's default


# -- SQLite ---------------------------------------------------------------------------------------
def test_sqlite_attach_vacuum_into_and_pragma_are_refused(lite, tmp_path):
    other, copy = tmp_path / "other.db", tmp_path / "copy.db"

    _refused(lite, f"ATTACH DATABASE '{other}' AS other", "found ATTACH")
    _refused(lite, f"VACUUM INTO '{copy}'", "found VACUUM")
    _refused(lite, "PRAGMA query_only = OFF", "found PRAGMA")
    _refused(lite, "SELECT 1 AS n; DELETE FROM {t}", "2 statements")

    assert not other.exists() and not copy.exists()


def test_sqlite_driver_runs_one_statement_per_call_when_the_check_is_bypassed(lite):
    with pytest.raises(QueryError) as caught:
        SqlDatabase(url=lite.url).execute_unchecked(lite.sql("SELECT 1 AS n; DELETE FROM {t}"),
                                                    timeout=2)

    assert "one statement at a time" in str(caught.value)
    assert lite.snapshot() == ROWS


# -- every backend --------------------------------------------------------------------------------
@pytest.mark.parametrize("sql", [
    "DELETE FROM {t}", "UPDATE {t} SET amount = 0", "INSERT INTO {t} VALUES (9, 'x', 9)",
    "DROP TABLE {t}", "BEGIN", "COMMIT", "ROLLBACK", "START TRANSACTION", "CALL cleanup()",
    "LOCK TABLE {t}", "EXPLAIN SELECT 1", "SELECT 1 AS n;\nDELETE FROM {t}",
], ids=["delete", "update", "insert", "drop", "begin", "commit", "rollback", "start", "call",
        "lock", "explain", "second-statement"])
def test_anything_but_one_select_is_refused_on_every_backend(target, sql):
    _refused(target, sql)


def test_a_refused_query_is_an_error_outcome_naming_what_was_found(lite, tmp_path):
    alert = AlertSpec(name="hostile_alert", schedule="*/5 * * * *", database="alerts",
                      query=lite.sql("SELECT 'OK' AS status;\nDELETE FROM {t}"), timeout="5s")
    store = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        ev = evaluate_alert(alert, database=SqlDatabase(url=lite.url), state_store=store,
                            channels={})
    finally:
        store.engine.dispose()

    assert ev.status == ERROR
    assert ev.outcome.message == (
        "query failed: an alert query must be one SELECT statement; found 2 statements "
        "(SELECT, DELETE) where one is allowed; the second starts at line 2 of the query")
    assert lite.snapshot() == ROWS


def test_bigquery_script_or_export_is_refused_without_creating_a_job():
    with FakeBigQuery() as fake:
        db = BigQueryDatabase(url="bigquery://shop-prod/analytics", credentials="anonymous",
                              api_endpoint=fake.url)
        for sql in ("EXPORT DATA OPTIONS (uri = 'gs://bucket/*.csv') AS SELECT 1",
                    "DECLARE x INT64 DEFAULT 1; SELECT x AS status",
                    "SELECT * FROM EXTERNAL_QUERY('conn', 'DELETE FROM t')"):
            with pytest.raises(QueryRefused):
                db.query(sql, timeout=5)
            with pytest.raises(QueryRefused):
                db.dry_run(sql, timeout=5)
        inserted = fake.calls("jobs.insert")
    close_clients()

    assert inserted == []


# -- results larger than max_rows -----------------------------------------------------------------
MILLION = {  # a million rows, the first thousand OK and every later one ALERT
    "sqlite": "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 1000000) "
              "SELECT CASE WHEN n > 1000 THEN 'ALERT' ELSE 'OK' END AS status, n FROM c",
    "postgresql": "SELECT CASE WHEN n > 1000 THEN 'ALERT' ELSE 'OK' END AS status, n "
                  "FROM generate_series(1, 1000000) AS g(n)",
    "mariadb": "SELECT CASE WHEN seq > 1000 THEN 'ALERT' ELSE 'OK' END AS status, seq AS n "
               "FROM seq_1_to_1000000",
}


def test_more_rows_than_max_rows_is_an_error_and_the_rest_is_never_buffered(target):
    db = SqlDatabase(url=target.url)
    tracemalloc.start()
    try:
        result = db.query(MILLION[target.kind], timeout=60, max_rows=1000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    outcome = judge(JudgeRules(), result)

    assert result.truncated and len(result.rows) == 1000
    assert [r[1] for r in result.rows[:3]] == [1, 2, 3]
    assert peak < 32 * 2**20  # a million buffered rows would take hundreds of MB
    assert outcome.status == ERROR
    assert outcome.message.startswith("the query returned more than max_rows (1000) rows")
    assert "aggregate in SQL" in outcome.message
    assert db.query("SELECT 1 AS ok", timeout=5).rows == ((1,),)  # the connection is fine
