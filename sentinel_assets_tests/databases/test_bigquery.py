"""BigQueryDatabase with the real google-cloud-bigquery client against a local fake BigQuery
REST server: result types, typed parameters, job configuration, paging, errors, timeouts and
credentials; and judging a BigQuery result the same way as any other."""

from __future__ import annotations

import datetime as dt
import decimal
import json

import dagster as dg
import pytest

from sentinel_assets.channels.log import LogChannel
from sentinel_assets.core.judging import ALERT, ERROR, judge
from sentinel_assets.databases import QueryError, QueryTimeout
from sentinel_assets.databases.bigquery import (
    BigQueryDatabase,
    close_clients,
    label_value,
    parse_bigquery_url,
)
from sentinel_assets.databases.bigquery_params import to_bigquery_sql
from sentinel_assets.engine.evaluation import evaluate_alert, run_query
from sentinel_assets.orchestration.resources import database_resource
from sentinel_assets.spec.models import AlertSpec, DatabaseSpec
from sentinel_assets.state.store import get_state_store
from sentinel_assets_tests.fake_bigquery import FakeBigQuery

UTC = dt.timezone.utc
TYPED_COLUMNS = [("status", "STRING"), ("orders", "INT64"), ("ratio", "FLOAT64"),
                 ("revenue", "NUMERIC"), ("late", "BOOL"), ("last_order_at", "TIMESTAMP"),
                 ("day", "DATE"), ("note", "STRING")]
TYPED_ROW = ("ALERT", 42, 0.25, decimal.Decimal("9999.99"), True,
             dt.datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=UTC), dt.date(2024, 1, 2), None)
REVENUE_SQL = ("SELECT IF(SUM(amount) < :threshold, 'ALERT', 'OK') AS status, "
               "SUM(amount) AS actual_value, :threshold AS threshold FROM orders "
               "WHERE ordered_at >= :window_start AND ordered_at < :window_end")


@pytest.fixture
def fake():
    with FakeBigQuery() as server:
        yield server
    close_clients()


def database(fake: FakeBigQuery, **options) -> BigQueryDatabase:
    options.setdefault("url", "bigquery://shop-prod/analytics")
    options.setdefault("credentials", "anonymous")
    return BigQueryDatabase(api_endpoint=fake.url, **options)


def inserted_job(fake: FakeBigQuery) -> dict:
    return fake.calls("jobs.insert")[-1].body


def job_id(fake: FakeBigQuery) -> str:
    return inserted_job(fake)["jobReference"]["jobId"]


# -- results ------------------------------------------------------------------------------------
def test_every_bigquery_type_becomes_a_python_value(fake):
    fake.respond("FROM orders", TYPED_COLUMNS, [TYPED_ROW])

    result = database(fake).query("SELECT * FROM orders", timeout=10)

    assert result.columns == tuple(name for name, _ in TYPED_COLUMNS)
    assert result.rows == (TYPED_ROW,)
    assert result.truncated is False
    assert result.records()[0]["last_order_at"] == "2024-01-02T03:04:05.678901+00:00"
    assert result.records()[0]["revenue"] == 9999.99
    assert result.extra["bigquery_job"] == f"shop-prod:US.{job_id(fake)}"
    assert result.extra["bytes_processed"] == 10_485_760


def test_a_query_without_rows_keeps_its_columns(fake):
    fake.respond("FROM orders", [("status", "STRING"), ("actual_value", "INT64")], [])

    result = database(fake).query("SELECT status, actual_value FROM orders", timeout=10)

    assert (result.columns, result.rows) == (("status", "actual_value"), ())


def test_results_longer_than_a_page_are_fetched_page_by_page():
    with FakeBigQuery(page_size=2) as fake:
        fake.respond("FROM events", [("n", "INT64")], [(i,) for i in range(7)])

        result = database(fake).query("SELECT n FROM events", timeout=10, max_rows=100)

        pages = fake.calls("jobs.getQueryResults")
    close_clients()
    assert [row[0] for row in result.rows] == list(range(7))
    assert result.truncated is False
    assert [p.query.get("pageToken") for p in pages] == [None, "2", "4", "6"]


def test_at_most_max_rows_are_fetched_and_the_result_says_it_was_truncated():
    with FakeBigQuery(page_size=2) as fake:
        fake.respond("FROM events", [("n", "INT64")], [(i,) for i in range(50)])

        result = database(fake).query("SELECT n FROM events", timeout=10, max_rows=3)

        fetched = len(fake.calls("jobs.getQueryResults"))
    close_clients()
    assert [row[0] for row in result.rows] == [0, 1, 2]
    assert result.truncated is True
    assert fetched == 2  # max_rows + 1 rows over two pages, not all 25 pages


# -- the job request ----------------------------------------------------------------------------
def test_parameters_arrive_typed_and_colon_names_become_at_names(fake):
    fake.respond("FROM orders", [("status", "STRING")], [("OK",)])
    params = {
        "threshold": decimal.Decimal("10000.50"),
        "window_start": dt.datetime(2024, 3, 1, tzinfo=UTC),
        "window_end": dt.datetime(2024, 3, 2, tzinfo=UTC),
        "unused": "not sent",
    }

    database(fake).query(REVENUE_SQL + " AND note != 'a:b :threshold' AND day = :day "
                         "AND n = :n AND r = :r AND ok = :ok AND who = :who",
                         dict(params, day=dt.date(2024, 3, 1), n=3, r=0.5, ok=True, who="Ada"),
                         timeout=10)

    query = inserted_job(fake)["configuration"]["query"]
    types = {p["name"]: p["parameterType"]["type"] for p in query["queryParameters"]}
    assert types == {"threshold": "NUMERIC", "window_start": "TIMESTAMP",
                     "window_end": "TIMESTAMP", "day": "DATE", "n": "INT64", "r": "FLOAT64",
                     "ok": "BOOL", "who": "STRING"}
    values = {p["name"]: p["parameterValue"]["value"] for p in query["queryParameters"]}
    assert values["threshold"] == "10000.50"
    assert values["window_start"].startswith("2024-03-01 00:00:00")
    assert query["parameterMode"] == "NAMED"
    assert "ordered_at >= @window_start AND ordered_at < @window_end" in query["query"]
    assert "note != 'a:b :threshold'" in query["query"]  # string literals are left alone
    assert query["useLegacySql"] is False


def test_job_carries_alert_label_job_timeout_default_dataset_and_location(fake):
    fake.respond("SELECT 1", [("ok", "INT64")], [(1,)])

    database(fake, location="EU", maximum_bytes_billed=5 * 2**30).query(
        "SELECT 1 AS ok", timeout=30, labels={"sentinel_alert": "Orders Revenue-Low"})

    job = inserted_job(fake)
    assert job["configuration"]["labels"] == {"sentinel_alert": "orders_revenue-low"}
    assert job["configuration"]["jobTimeoutMs"] == "30000"
    assert job["configuration"]["query"]["maximumBytesBilled"] == str(5 * 2**30)
    assert job["configuration"]["query"]["defaultDataset"] == {"projectId": "shop-prod",
                                                              "datasetId": "analytics"}
    assert job["jobReference"]["location"] == "EU"
    assert job["jobReference"]["jobId"].startswith("sentinel_Orders_Revenue-Low_")


def test_alert_maximum_bytes_billed_overrides_the_database_value(fake):
    fake.respond("FROM orders", [("status", "STRING")], [("OK",)], bytes_processed=100)
    alert = AlertSpec(name="orders_revenue_low", schedule="0 9 * * *", database="warehouse",
                      query="SELECT 'OK' AS status FROM orders", maximum_bytes_billed=2**20)

    result, error = run_query(alert, database(fake, maximum_bytes_billed=2**40), None)

    assert error is None and result.rows == (("OK",),)
    job = inserted_job(fake)
    assert job["configuration"]["query"]["maximumBytesBilled"] == str(2**20)
    assert job["configuration"]["labels"] == {"sentinel_alert": "orders_revenue_low"}


def test_a_query_over_maximum_bytes_billed_fails_with_a_message_that_names_the_limit(fake):
    fake.respond("FROM huge", [("n", "INT64")], [(1,)], bytes_processed=10 * 2**30)

    with pytest.raises(QueryError) as raised:
        database(fake, maximum_bytes_billed=2**30).query("SELECT n FROM huge", timeout=10)

    assert "maximum_bytes_billed exceeded" in str(raised.value)
    assert job_id(fake) in str(raised.value)


def test_a_parameter_without_a_value_is_an_error_before_any_job_is_created(fake):
    with pytest.raises(QueryError, match=r":window_end but no value was given"):
        database(fake).query("SELECT 1 FROM t WHERE d >= :window_start AND d < :window_end",
                             {"window_start": dt.datetime(2024, 1, 1, tzinfo=UTC)}, timeout=10)

    assert fake.requests == []


# -- errors -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("reason", "at", "words"),
    [
        ("invalidQuery", "job", "invalid query"),
        ("invalidQuery", "insert", "invalid query"),
        ("accessDenied", "insert", "access denied"),
        ("accessDenied", "job", "access denied"),
        ("quotaExceeded", "insert", "quota exceeded"),
        ("quotaExceeded", "job", "quota exceeded"),
    ],
)
def test_each_bigquery_error_says_which_error_and_names_the_job(fake, reason, at, words):
    fake.fail("FROM orders", reason, f"server says {reason}", at=at)

    with pytest.raises(QueryError) as raised:
        database(fake).query("SELECT * FROM orders", timeout=10,
                             labels={"sentinel_alert": "orders_revenue_low"})

    message = str(raised.value)
    assert not isinstance(raised.value, QueryTimeout)
    assert message.startswith(f"BigQuery {words} in job shop-prod:")
    assert job_id(fake) in message
    assert f"server says {reason}" in message
    assert "\n" not in message


def test_a_job_that_outlives_its_timeout_is_cancelled_and_named(fake):
    fake.hang("FROM slow")

    with pytest.raises(QueryTimeout) as raised:
        database(fake).query("SELECT * FROM slow", timeout=0.3)

    cancelled = fake.calls("jobs.cancel")
    assert len(cancelled) == 1
    assert cancelled[0].path.endswith(f"/jobs/{job_id(fake)}/cancel")
    assert fake.jobs[job_id(fake)].error["reason"] == "stopped"
    assert str(raised.value).startswith("BigQuery job timeout: job shop-prod:")
    assert job_id(fake) in str(raised.value)
    assert "was cancelled" in str(raised.value)


def test_a_failed_bigquery_query_is_an_error_outcome_that_says_which_error(fake, state_url,
                                                                            outbox):
    fake.fail("FROM orders", "accessDenied", "User does not have bigquery.jobs.create")
    alert = AlertSpec(name="orders_revenue_low", schedule="0 9 * * *", database="warehouse",
                      query="SELECT * FROM orders", notify=["outbox"], owner="outbox")

    evaluation = evaluate_alert(alert, database=database(fake), state_store=get_state_store(
        state_url), channels={"outbox": LogChannel(path=str(outbox))})

    assert evaluation.status == ERROR
    assert "BigQuery access denied in job" in evaluation.outcome.message
    assert job_id(fake) in evaluation.outcome.message


# -- judging does not know the backend ----------------------------------------------------------
def test_a_bigquery_result_is_judged_and_notified_like_any_other(fake, state_url, outbox):
    fake.respond("FROM orders", [("status", "STRING"), ("actual_value", "NUMERIC"),
                                 ("threshold", "INT64"), ("day", "DATE")],
                 [("alert", decimal.Decimal("8123.40"), 10000, dt.date(2024, 3, 1))])
    alert = AlertSpec(name="orders_revenue_low", schedule="0 9 * * *", database="warehouse",
                      query=REVENUE_SQL, notify=["outbox"])
    window = {"threshold": 10000, "window_start": dt.datetime(2024, 3, 1, tzinfo=UTC),
              "window_end": dt.datetime(2024, 3, 2, tzinfo=UTC)}

    evaluation = evaluate_alert(alert, database=database(fake), params=window,
                                state_store=get_state_store(state_url),
                                channels={"outbox": LogChannel(path=str(outbox))})

    assert evaluation.status == ALERT
    assert evaluation.outcome.value == 8123.4
    assert evaluation.outcome.threshold == 10000
    notice = json.loads(outbox.read_text().splitlines()[0])
    assert (notice["kind"], notice["status"], notice["value"]) == ("firing", "FIRING", 8123.4)
    assert notice["rows"][0]["day"] == "2024-03-01"


def test_a_condition_is_judged_on_a_bigquery_result(fake):
    fake.respond("FROM orders", [("total", "NUMERIC")], [(decimal.Decimal("99.5"),)])
    result = database(fake).query("SELECT SUM(amount) AS total FROM orders", timeout=10)
    alert = AlertSpec(name="orders_low", schedule="0 9 * * *", database="warehouse",
                      query="SELECT SUM(amount) AS total FROM orders",
                      condition={"column": "total", "op": "<", "threshold": 100})

    assert judge(alert.judge_rules, result).status == ALERT


# -- configuration and credentials --------------------------------------------------------------
def test_a_bigquery_url_builds_a_bigquery_resource_with_secrets_as_env_vars():
    spec = DatabaseSpec(url="bigquery://shop-prod/analytics", credentials_path="${BQ_KEY_FILE}",
                        location="EU", maximum_bytes_billed=1000)

    resource = database_resource(spec)

    assert isinstance(resource, BigQueryDatabase)
    assert isinstance(resource.credentials_path, dg.EnvVar)
    assert resource.credentials_path.env_var_name == "BQ_KEY_FILE"
    assert (resource.location, resource.maximum_bytes_billed) == ("EU", 1000)


def test_service_account_key_file_from_an_env_var_authenticates_the_queries(fake, tmp_path,
                                                                            monkeypatch):
    key_file = tmp_path / "sa.json"
    key_file.write_text(json.dumps(_service_account_key(token_uri=f"{fake.url}/token")))
    monkeypatch.setenv("BQ_KEY_FILE", str(key_file))
    fake.respond("SELECT 1", [("ok", "INT64")], [(1,)])
    spec = DatabaseSpec(url="bigquery://shop-prod", credentials_path="${BQ_KEY_FILE}",
                        api_endpoint=fake.url)

    with dg.build_resources({"db": database_resource(spec)}) as resources:
        result = resources.db.query("SELECT 1 AS ok", timeout=10)

    assert result.rows == ((1,),)
    assert len(fake.calls("token")) == 1
    assert fake.calls("jobs.insert")[0].headers["authorization"] == "Bearer fake-access-token"
    assert "defaultDataset" not in inserted_job(fake)["configuration"]["query"]


def test_a_missing_key_file_is_an_error_that_names_the_option(fake, tmp_path):
    db = database(fake, credentials=None, credentials_path=str(tmp_path / "missing.json"))

    with pytest.raises(QueryError, match="credentials_path=.*missing.json"):
        db.query("SELECT 1", timeout=10)


def test_without_any_credentials_the_error_says_how_to_provide_them(fake, tmp_path,
                                                                   monkeypatch):
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "absent.json"))
    db = BigQueryDatabase(url="bigquery://shop-prod", api_endpoint=fake.url)

    with pytest.raises(QueryError, match="no BigQuery credentials: set credentials_path"):
        db.query("SELECT 1", timeout=10)


def test_anonymous_credentials_need_an_api_endpoint():
    with pytest.raises(ValueError, match="only allowed together with api_endpoint"):
        DatabaseSpec(url="bigquery://shop-prod", credentials="anonymous")
    with pytest.raises(QueryError, match="only allowed together with api_endpoint"):
        BigQueryDatabase(url="bigquery://shop-prod", credentials="anonymous").query("SELECT 1")


def test_ping_runs_a_trivial_query_and_returns_its_latency(fake):
    fake.respond("SELECT 1", [("ok", "INT64")], [(1,)])

    assert database(fake).ping() >= 0
    assert inserted_job(fake)["configuration"]["labels"] == {"sentinel": "ping"}


@pytest.mark.parametrize("url", ["bigquery://", "bigquery://a/b/c", "bigquery://p?x=1"])
def test_a_malformed_bigquery_url_is_an_error_that_shows_the_expected_shape(url):
    with pytest.raises(QueryError, match=r"expected bigquery://PROJECT or bigquery://PROJECT/"):
        parse_bigquery_url(url)


def test_label_values_are_lower_case_and_at_most_63_characters():
    assert label_value("Team Finance/EU") == "team_finance_eu"
    assert len(label_value("x" * 100)) == 63


# -- :name -> @name ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("sql", "expected", "names"),
    [
        ("SELECT :a, :b, :a", "SELECT @a, @b, @a", ["a", "b"]),
        ("SELECT ':a', \":b\", `c:d`, '''x :e''' , :f",
         "SELECT ':a', \":b\", `c:d`, '''x :e''' , @f", ["f"]),
        ("SELECT 'it\\'s :a' , :b", "SELECT 'it\\'s :a' , @b", ["b"]),
        ("SELECT 1 -- :a\n, :b # :c\n/* :d */ , :e", "SELECT 1 -- :a\n, @b # :c\n/* :d */ , @e",
         ["b", "e"]),
        ("SELECT x::int, TIME '12:30', @@dataset_id, @given", "SELECT x::int, TIME '12:30', "
         "@@dataset_id, @given", ["given"]),
    ],
)
def test_colon_parameters_become_at_parameters_outside_literals_and_comments(sql, expected, names):
    assert to_bigquery_sql(sql) == (expected, names)


def _service_account_key(token_uri: str) -> dict:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    return {"type": "service_account", "project_id": "shop-prod", "private_key_id": "k1",
            "private_key": pem, "client_email": "sentinel@shop-prod.iam.gserviceaccount.com",
            "client_id": "1", "token_uri": token_uri}
