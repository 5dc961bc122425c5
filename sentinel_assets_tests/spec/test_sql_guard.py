"""The statement guard: exactly one read statement, in each database's dialect; legitimate alert
queries (the demo's, the tests', typical ones of each dialect) are never refused."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from sentinel_assets.spec import sql_guard, sql_parse
from sentinel_assets.spec.loader import load_specs
from sentinel_assets.spec.sql_guard import DANGEROUS_FUNCTIONS, check_query, dialect_for

REPO = Path(__file__).resolve().parents[2]

# -- accepted -------------------------------------------------------------------------------------
LEGIT = {
    "postgres": [
        "SELECT 1 AS ok",
        "SELECT 1 AS ok;",
        "select 'OK' as status",
        "SELECT x::int, TIME '12:30', :given::date AS d FROM t",
        "SELECT CASE WHEN count(*) FILTER (WHERE amount < 0) > 0 THEN 'ALERT' ELSE 'OK' END "
        "AS status FROM orders WHERE created_at >= :window_start AND created_at < :window_end",
        "SELECT DISTINCT ON (customer) customer, amount FROM orders "
        "ORDER BY customer, ordered_on DESC",
        "SELECT now() - interval '1 day' AS t, date_trunc('day', now()) AS d",
        "WITH recent AS (SELECT * FROM orders WHERE ordered_on > current_date - 7)\n"
        "SELECT 'OK' AS status, count(*) AS actual_value FROM recent",
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 10) "
        "SELECT COUNT(*) AS n FROM c",
        "SELECT n FROM generate_series(1, 10) AS g(n)",
        "SELECT name FROM t WHERE name ~* '^a' AND name ILIKE '%b%'",
        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY amount) AS p50 FROM orders",
        "SELECT pg_sleep(5) AS slept",
        "SELECT pg_backend_pid() AS id",
        "SELECT current_setting('transaction_read_only') AS read_only, "
        "current_setting('statement_timeout') AS timeout",
        "SELECT customer, row_number() OVER (PARTITION BY customer ORDER BY id) AS rn "
        "FROM orders",
        "SELECT o.id FROM orders o LEFT JOIN LATERAL (SELECT 1 AS x) l ON true",
        "SELECT $$it's; a dollar-quoted string$$ AS t",
        "(SELECT 1 AS n) UNION ALL (SELECT 2) ORDER BY 1",
        "SELECT 1 AS n INTERSECT SELECT 1 EXCEPT SELECT 2",
        "SELECT data->>'kind' AS kind, data #>> '{a,b}' AS ab FROM events",
        "SELECT extract(epoch FROM now() - max(finished_at)) AS lag_seconds FROM runs",
        "SELECT 'a; DELETE FROM t' AS text_with_a_semicolon -- and a comment; DROP TABLE t",
        "/* leading comment */ SELECT 1",
        "SELECT 1 FROM t WHERE note != 'a:b :threshold' AND day = :day",
        "SELECT COUNT(*) AS n FROM orders WHERE status = 'into'",
        'SELECT "into", "delete" FROM t',
    ],
    "mysql": [
        "SELECT IF(SUM(amount) < :threshold, 'ALERT', 'OK') AS status, SUM(amount) AS "
        "actual_value FROM `orders` WHERE ordered_on >= DATE_SUB(CURDATE(), INTERVAL 1 DAY)",
        "SELECT @@tx_read_only AS read_only, @@max_statement_time AS timeout",
        "SELECT SLEEP(5) AS slept",
        "SELECT BENCHMARK(2000000000, MD5('sentinel')) AS spun",
        "SELECT CONNECTION_ID() AS id",
        "SELECT GROUP_CONCAT(name SEPARATOR ', ') AS names FROM t",
        "SELECT * FROM t LIMIT 10 OFFSET 5",
        "SELECT * FROM t LIMIT 5, 10",
        "SELECT JSON_EXTRACT(doc, '$.a') AS a FROM t",
        "SELECT seq FROM seq_1_to_10",
        "SELECT 1 AS one # a comment; DELETE FROM t",
        "SELECT STR_TO_DATE('2024-01-01', '%Y-%m-%d') AS d",
        "SELECT COUNT(*) AS n FROM sqltest_orders WHERE customer = :customer",
        "SELECT 'it\\'s :a' , :b",
        "SELECT /*+ MAX_EXECUTION_TIME(1000) */ 1 AS hinted",
        "SELECT 1 AS n -- !not executable\n",
    ],
    "sqlite": [
        "SELECT CASE WHEN COALESCE(SUM(amount), 0) < 10000 THEN 'ALERT' ELSE 'OK' END AS status "
        "FROM orders WHERE order_date = DATE('now', '-1 day')",
        "SELECT name, CASE WHEN finished_at >= DATETIME('now', '-26 hours') THEN 'OK' ELSE "
        "'ALERT' END AS status FROM pipeline_runs WHERE name = 'daily_orders'",
        "SELECT query_only AS read_only FROM pragma_query_only",
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 2000000000) "
        "SELECT COUNT(*) AS n FROM c",
        "SELECT strftime('%Y', 'now') AS y, json_extract(doc, '$.a') AS a FROM t",
        "SELECT x FROM t WHERE x GLOB 'a*' AND a IS NOT b",
        "SELECT iif(x > 1, 'ALERT', 'OK') AS status, printf('%d', x) AS p FROM t",
        "SELECT 1 FROM t WHERE d >= :window_start AND d < :window_end",
    ],
    "bigquery": [
        "SELECT COUNT(*) AS n FROM `project.dataset.orders` WHERE _PARTITIONTIME >= "
        "TIMESTAMP_SUB(CURRENT_TIMESTAMP(), INTERVAL 1 DAY)",
        "SELECT * EXCEPT (secret) FROM t",
        "SELECT SAFE_DIVIDE(a, b) AS ratio FROM t",
        "SELECT x FROM t, UNNEST(arr) AS x",
        "SELECT k FROM t QUALIFY ROW_NUMBER() OVER (PARTITION BY k ORDER BY ts DESC) = 1",
        "SELECT @window_start AS s, @window_end AS e",
        "SELECT IF(SUM(amount) < :threshold, 'ALERT', 'OK') AS status, SUM(amount) AS "
        "actual_value, :threshold AS threshold FROM orders "
        "WHERE ordered_at >= :window_start AND ordered_at < :window_end",
        "SELECT x::int, TIME '12:30', @@dataset_id, @given",
        "SELECT 1 -- :a\n, :b # :c\n/* :d */ , :e",
        "SELECT '''triple; quoted''' AS s",
    ],
    "": ["SELECT 1", "SELECT :a, :b, :a", "WITH x AS (SELECT 1 AS n) SELECT n FROM x"],
}


@pytest.mark.parametrize(
    ("dialect", "sql"),
    [(d, q) for d, queries in LEGIT.items() for q in queries],
    ids=[f"{d or 'generic'}-{i}" for d, queries in LEGIT.items() for i in range(len(queries))],
)
def test_legitimate_queries_are_accepted(dialect, sql):
    assert check_query(sql, dialect) is None
    # the shortcut for plain queries and the full check agree
    assert sql_parse._check(sql, dialect) is None


def test_every_demo_alert_query_is_accepted():
    config = load_specs(REPO / "alert_specs")

    assert config.alerts
    for alert in config.alerts:
        assert check_query(alert.query, "sqlite") is None, alert.name
    assert not [e for e in config.errors if e.field == "query"]


# -- refused --------------------------------------------------------------------------------------
HOSTILE = [
    # (dialect, query, words the refusal must contain, line of the problem in the query)
    ("postgres", "COMMIT; BEGIN READ WRITE; DELETE FROM t WHERE id = 1; COMMIT; "
     "SELECT 'OK' AS status", ["5 statements", "COMMIT, BEGIN, DELETE, COMMIT, SELECT"], 1),
    ("postgres", "SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE;\nCOMMIT;\n"
     "UPDATE t SET a = 1", ["3 statements", "SET, COMMIT, UPDATE", "line 2"], 2),
    ("postgres", "SET statement_timeout = 0; SELECT 'OK' AS status FROM pg_sleep(30)",
     ["2 statements", "SET, SELECT"], 1),
    ("postgres", "SELECT 1;\n\nDELETE FROM t", ["2 statements", "line 3"], 3),
    ("mysql", "SET STATEMENT tx_read_only=0 FOR CREATE TABLE x (id int)", ["found SET"], 1),
    ("mysql", "SET STATEMENT tx_read_only=0 FOR DROP TABLE t", ["found SET"], 1),
    ("mysql", "SET STATEMENT max_statement_time=0 FOR SELECT SLEEP(30)", ["found SET"], 1),
    ("postgres", "COPY t TO '/srv/out.csv'", ["found COPY"], 1),
    ("postgres", "COPY (SELECT 1) TO PROGRAM 'touch marker'", ["found COPY"], 1),
    ("mysql", "SELECT * FROM t\nINTO OUTFILE '/tmp/out.csv'", ["SELECT ... INTO OUTFILE"], 2),
    ("mysql", "SELECT a INTO DUMPFILE '/tmp/out' FROM t", ["SELECT ... INTO DUMPFILE"], 1),
    ("mysql", "SELECT a INTO @v FROM t", ["SELECT ... INTO"], 1),
    ("postgres", "SELECT * INTO new_table FROM t", ["SELECT ... INTO"], 1),
    ("sqlite", "ATTACH DATABASE 'other.db' AS other", ["found ATTACH"], 1),
    ("sqlite", "DETACH other", ["found DETACH"], 1),
    ("sqlite", "VACUUM INTO '/tmp/copy.db'", ["found VACUUM"], 1),
    ("sqlite", "PRAGMA query_only = OFF", ["found PRAGMA"], 1),
    ("postgres", "WITH gone AS (\n  DELETE FROM t RETURNING *\n) SELECT * FROM gone",
     ["DELETE inside the SELECT"], 2),
    ("postgres", "WITH x AS (UPDATE t SET a = 1 RETURNING a) SELECT a FROM x", ["UPDATE"], 1),
    ("postgres", "WITH x AS (INSERT INTO t VALUES (1) RETURNING 1) SELECT 1", ["INSERT"], 1),
    ("postgres", "INSERT INTO t SELECT 1 RETURNING *", ["found INSERT"], 1),
    ("postgres", "UPDATE t SET a = 0", ["found UPDATE"], 1),
    ("postgres", "DELETE FROM t", ["found DELETE"], 1),
    ("postgres", "MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE",
     ["found MERGE"], 1),
    ("postgres", "CREATE TABLE x (id int)", ["found CREATE"], 1),
    ("postgres", "DROP TABLE t", ["found DROP"], 1),
    ("postgres", "ALTER TABLE t ADD COLUMN b int", ["found ALTER"], 1),
    ("postgres", "TRUNCATE t", ["found TRUNCATE"], 1),
    ("postgres", "BEGIN", ["found BEGIN"], 1),
    ("postgres", "START TRANSACTION READ WRITE", ["found START"], 1),
    ("postgres", "COMMIT", ["found COMMIT"], 1),
    ("postgres", "ROLLBACK", ["found ROLLBACK"], 1),
    ("mysql", "CALL cleanup()", ["found CALL"], 1),
    ("postgres", "CALL cleanup()", ["found CALL"], 1),
    ("postgres", "DO $$BEGIN DELETE FROM t; END$$", ["found DO"], 1),
    ("mysql", "DO SLEEP(5)", ["found DO"], 1),
    ("postgres", "EXECUTE prepared_delete", ["found EXECUTE"], 1),
    ("postgres", "PREPARE p AS DELETE FROM t", ["found PREPARE"], 1),
    ("postgres", "LOCK TABLE t IN ACCESS EXCLUSIVE MODE", ["found LOCK"], 1),
    ("mysql", "LOCK TABLES t WRITE", ["found LOCK"], 1),
    ("postgres", "EXPLAIN ANALYZE DELETE FROM t", ["found EXPLAIN"], 1),
    ("postgres", "SHOW ALL", ["found SHOW"], 1),
    ("postgres", "RESET ALL", ["found RESET"], 1),
    ("postgres", "NOTIFY channel", ["found NOTIFY"], 1),
    ("postgres", "VALUES (1)", ["found VALUES"], 1),
    ("postgres", "SELECT * FROM t FOR UPDATE", ["FOR UPDATE"], 1),
    ("mysql", "SELECT * FROM t LOCK IN SHARE MODE", [], 1),
    ("bigquery", "EXPORT DATA OPTIONS (uri = 'gs://bucket/*.csv') AS SELECT 1",
     ["found EXPORT"], 1),
    ("bigquery", "DECLARE x INT64 DEFAULT 1; SELECT x", ["2 statements"], 1),
    ("bigquery", "EXECUTE IMMEDIATE 'DELETE FROM t WHERE true'", ["found EXECUTE"], 1),
    ("bigquery", "SELECT * FROM EXTERNAL_QUERY('conn', 'DELETE FROM t')", ["external_query()"],
     1),
    ("postgres", "SELECT\n  pg_catalog.pg_read_file('/etc/passwd') AS secrets",
     ["pg_read_file()", "reads files"], 2),
    ("postgres", "SELECT lo_export(12345, '/tmp/out')", ["lo_export()"], 1),
    ("postgres", "SELECT * FROM dblink('dbname=x', 'SELECT 1') AS r(a int)", ["dblink()"], 1),
    ("postgres", "SELECT dblink_exec('dbname=x', 'DELETE FROM t')", ["dblink_exec()"], 1),
    ("postgres", "SELECT pg_terminate_backend(pid) FROM pg_stat_activity",
     ["pg_terminate_backend()"], 1),
    ("postgres", "SELECT set_config('statement_timeout', '0', false)", ["set_config()"], 1),
    ("postgres", "SELECT query_to_xml('COPY t TO ''/tmp/x''', true, true, '')",
     ["query_to_xml()"], 1),
    ("postgres", "SELECT pg_advisory_lock(1)", ["pg_advisory_lock()"], 1),
    ("postgres", 'SELECT "pg_read_file"(\'x\')', ["pg_read_file()"], 1),
    ("postgres", "SELECT * FROM t WHERE id IN (SELECT lo_unlink(oid) FROM x)", ["lo_unlink()"],
     1),
    ("mysql", "SELECT LOAD_FILE('/etc/passwd') AS f", ["load_file()"], 1),
    ("mysql", "SELECT GET_LOCK('sentinel', 10)", ["get_lock()"], 1),
    ("sqlite", "SELECT load_extension('/tmp/evil.so')", ["load_extension()"], 1),
    ("mysql", "/*!SET STATEMENT max_statement_time=0 FOR*/ SELECT SLEEP(30)",
     ["/*! ... */ comment"], 1),
    ("mysql", "SELECT 1 AS n\n/*! INTO OUTFILE '/tmp/out' */", ["/*! ... */ comment"], 1),
    ("mysql", "SELECT 1 AS n /*M!100000 , (SELECT 2) */", ["/*! ... */ comment"], 1),
    ("postgres", "", ["empty"], None),
    ("postgres", "  ;  -- nothing here", ["empty"], None),
    ("postgres", "SELECT 'unterminated; DELETE", ["could not be read as SQL"], None),
    ("postgres", "SELEC 1", ["found SELEC"], 1),
    ("postgres", "SELECT (SELECT 1 FROM (UPDATE t SET a = 1 RETURNING a) x)", ["could not"], 1),
    ("", "SELECT 1; SELECT 2", ["2 statements"], 1),
]


@pytest.mark.parametrize(("dialect", "sql", "words", "line"), HOSTILE,
                         ids=[f"{d or 'generic'}-{i}" for i, (d, *_) in enumerate(HOSTILE)])
def test_everything_but_one_read_statement_is_refused(dialect, sql, words, line):
    refusal = check_query(sql, dialect)

    assert refusal is not None
    assert not sql_guard._plainly_one_select(sql)  # never short-cut past the full check
    message = str(refusal)
    assert message.startswith("an alert query must be one SELECT statement; ")
    for word in words:
        assert word in message
    assert refusal.line == line
    assert len(message) < 300


@pytest.mark.parametrize("dialect", ["postgres", "mysql", "sqlite", "bigquery", ""])
def test_every_dangerous_function_is_refused_in_every_dialect(dialect):
    missed = [name for name in DANGEROUS_FUNCTIONS
              if check_query(f"SELECT {name}('x', 1) AS v FROM t", dialect) is None]

    assert missed == []


def test_refused_command_leaves_no_sqlglot_warning_in_the_log(caplog):
    with caplog.at_level(logging.DEBUG):
        assert check_query("SET STATEMENT max_statement_time=0 FOR SELECT 1", "mysql")

    assert [r for r in caplog.records if r.name.startswith("sqlglot")] == []


def test_nesting_too_deep_is_a_refusal_not_a_crash():
    sql = "SELECT " + "(" * 5000 + "1" + ")" * 5000

    assert check_query(sql, "postgres") is None  # plain: the database judges its syntax
    assert check_query(sql + " FOR UPDATE", "postgres") is not None  # parsed: too deep


def test_a_word_in_a_string_only_sends_a_query_to_the_full_check():
    sql = "SELECT COUNT(*) AS n FROM orders WHERE note = 'delete me; into the bin'"

    assert not sql_guard._plainly_one_select(sql)
    assert check_query(sql, "postgres") is None


@pytest.mark.parametrize(("kind", "dialect"), [
    ("sqlite", "sqlite"), ("postgresql", "postgres"), ("mysql", "mysql"), ("mariadb", "mysql"),
    ("bigquery", "bigquery"), ("postgresql+psycopg2://u@h/db", "postgres"),
    ("mysql+pymysql://root@h/db", "mysql"), ("sqlite:///demo/demo.db", "sqlite"),
    ("bigquery://project/dataset", "bigquery"), ("mssql+pyodbc://h/db", "tsql"),
    ("snowflake://account/db", "snowflake"), ("somethingelse://x", ""), (None, ""),
])
def test_database_kinds_map_to_sqlglot_dialects(kind, dialect):
    assert dialect_for(kind) == dialect


def test_unknown_dialect_accepts_what_one_dialect_accepts_and_refuses_what_all_refuse():
    # (a word like 'into', even in a string, makes the text go through the parser)
    escaped = "SELECT E'escaped' AS t FROM t WHERE note <> 'into'"
    assert check_query(escaped, "mysql") is not None
    assert check_query(escaped, None) is None  # PostgreSQL reads it
    assert "2 statements" in str(check_query("SELECT 1; DELETE FROM t", None))
    assert "INTO OUTFILE" in str(check_query("SELECT 1 INTO OUTFILE '/tmp/x'", None))
    assert "pg_read_file()" in str(check_query("SELECT pg_read_file('/etc/passwd')", None))


# -- at validate time -----------------------------------------------------------------------------
SPECS = """
databases:
  pg: postgresql+psycopg2://sentinel@db.example/shop
  maria: mysql+pymysql://sentinel@db.example/shop
  lite: sqlite:///demo/demo.db
  bq: bigquery://shop-prod/analytics
  hidden: ${SENTINEL_TEST_GUARD_URL}
alerts:
  - name: good_neighbour
    schedule: "0 * * * *"
    database: pg
    query: SELECT 'OK' AS status
  - name: pg_writes
    schedule: "0 * * * *"
    database: pg
    query: |
      SELECT 'OK' AS status;
      COMMIT;
      DELETE FROM orders
  - name: maria_escapes
    schedule: "0 * * * *"
    database: maria
    query: SET STATEMENT max_statement_time=0 FOR SELECT SLEEP(30)
  - name: lite_attaches
    schedule: "0 * * * *"
    database: lite
    query: |
      SELECT 1 AS n
      FROM pragma_query_only;
      ATTACH DATABASE 'other.db' AS other
  - name: bq_exports
    schedule: "0 * * * *"
    database: bq
    query: "EXPORT DATA OPTIONS (uri = 'gs://bucket/*.csv') AS SELECT 1"
  - name: pg_dollar
    schedule: "0 * * * *"
    database: pg
    query: SELECT $$fine$$ AS status
  - name: hidden_url_still_checked
    schedule: "0 * * * *"
    database: hidden
    query: |
      WITH gone AS (
        DELETE FROM orders RETURNING *
      ) SELECT 'OK' AS status FROM gone
"""


def test_validate_names_file_alert_field_and_line_of_a_refused_query(tmp_path, monkeypatch):
    from sentinel_assets_tests.helpers import write_specs

    monkeypatch.delenv("SENTINEL_TEST_GUARD_URL", raising=False)
    config = write_specs(tmp_path, SPECS)

    errors = {e.alert: e for e in config.errors if e.field == "query"}
    assert sorted(errors) == ["bq_exports", "hidden_url_still_checked", "lite_attaches",
                              "maria_escapes", "pg_writes"]
    assert {a.name for a in config.alerts} == {"good_neighbour", "pg_dollar"}
    for error in errors.values():
        assert error.file.endswith("specs.yaml") and not error.warning
        assert error.message.startswith("an alert query must be one SELECT statement; ")
    lines = (tmp_path / "specs.yaml").read_text().splitlines()
    # the line of the second statement of a `query: |` block
    assert "3 statements (SELECT, COMMIT, DELETE)" in errors["pg_writes"].message
    assert lines[errors["pg_writes"].line - 1].strip() == "COMMIT;"
    assert lines[errors["lite_attaches"].line - 1].strip().startswith("ATTACH")
    assert lines[errors["hidden_url_still_checked"].line - 1].strip().startswith("DELETE")
    # a one-line query: the line of its key
    assert "found SET" in errors["maria_escapes"].message
    assert lines[errors["maria_escapes"].line - 1].strip().startswith("query: SET STATEMENT")
    assert "found EXPORT" in errors["bq_exports"].message
    assert str(errors["maria_escapes"]).startswith(
        f"{errors['maria_escapes'].file}:{errors['maria_escapes'].line}: alert 'maria_escapes', "
        "field 'query': an alert query must be one SELECT statement")


def test_the_dialect_of_a_database_behind_an_env_var_is_used_once_the_var_is_set(
        tmp_path, monkeypatch):
    from sentinel_assets_tests.helpers import write_specs

    spec = """
    databases:
      hidden: ${SENTINEL_TEST_GUARD_URL}
    alerts:
      - {name: escaped, schedule: "0 * * * *", database: hidden, query: "SELECT E'x' AS status FROM t WHERE note <> 'into'"}
    """
    monkeypatch.setenv("SENTINEL_TEST_GUARD_URL", "mysql+pymysql://root@127.0.0.1/test")
    as_mysql = write_specs(tmp_path, spec)
    monkeypatch.setenv("SENTINEL_TEST_GUARD_URL", "postgresql://postgres@127.0.0.1/test")
    as_postgres = write_specs(tmp_path, spec)

    assert [e.field for e in as_mysql.errors] == ["query"] and not as_mysql.alerts
    assert as_postgres.errors == [] and [a.name for a in as_postgres.alerts] == ["escaped"]
