"""`sentinel validate --dry-run`: BigQuery dry runs per alert against the local fake BigQuery
server, with bytes processed, estimated cost and the maximum_bytes_billed guard."""

from __future__ import annotations

import json
import textwrap

import pytest
from click.testing import CliRunner

from sentinel_assets.cli.main import main
from sentinel_assets.databases.bigquery import close_clients
from sentinel_assets_tests.fake_bigquery import FakeBigQuery
from sentinel_assets_tests.helpers import write_spec_file

GIB = 2**30
TIB = 2**40


@pytest.fixture
def fake():
    with FakeBigQuery() as server:
        yield server
    close_clients()


def bigquery_specs(tmp_path, fake: FakeBigQuery, alerts: str, database_limit: str = "") -> str:
    """A specs folder with a BigQuery database on ``fake`` and ``alerts`` under ``alerts:``."""
    specs = tmp_path / "alert_specs"
    write_spec_file(specs, "sentinel.yaml", textwrap.dedent(f"""\
        databases:
          warehouse:
            url: bigquery://shop-prod/analytics
            credentials: anonymous
            api_endpoint: {fake.url}
            {database_limit}
          local: {{url: "sqlite:///{tmp_path}/local.db"}}
        channels:
          outbox: {{type: log}}
        defaults: {{database: warehouse, notify: [outbox], schedule: "0 9 * * *"}}
        alerts:
        """) + textwrap.indent(textwrap.dedent(alerts), "  "))
    return str(specs)


def validate(*args: str):
    return CliRunner().invoke(main, ["validate", *args])


def test_dry_run_prints_bytes_processed_and_estimated_cost_per_bigquery_alert(fake, tmp_path):
    fake.respond("FROM orders", [("status", "STRING")], [], bytes_processed=2 * TIB)
    fake.respond("FROM events", [("status", "STRING")], [], bytes_processed=3 * GIB)
    specs = bigquery_specs(tmp_path, fake, """\
        - name: orders_revenue_low
          query: SELECT 'OK' AS status FROM orders
        - name: events_stalled
          query: SELECT 'OK' AS status FROM events
        - name: local_check
          database: local
          query: SELECT 'OK' AS status
        """)

    result = validate(specs, "--dry-run")

    assert result.exit_code == 0, result.output
    dry_run_section = result.stdout.split("\nOK:")[0]
    lines = {line.split()[0]: line for line in dry_run_section.splitlines() if line.strip()}
    assert "2.0 TiB" in lines["orders_revenue_low"]
    assert "$12.50" in lines["orders_revenue_low"]  # 2 TiB at $6.25 per TiB
    assert "3.0 GiB" in lines["events_stalled"] and "$0.0183" in lines["events_stalled"]
    assert "local_check" not in lines  # only BigQuery alerts are dry-run
    assert "BigQuery dry run: 2 alert(s), estimated at $6.25 per TiB" in dry_run_section
    dry_runs = fake.calls("jobs.insert")
    assert len(dry_runs) == 2
    assert all(call.body["configuration"]["dryRun"] is True for call in dry_runs)
    assert all(call.body["configuration"]["query"]["useQueryCache"] is False
               for call in dry_runs)
    assert fake.calls("jobs.getQueryResults") == []  # nothing ran


def test_price_per_tib_changes_the_estimate(fake, tmp_path):
    fake.respond("FROM orders", [("status", "STRING")], [], bytes_processed=4 * TIB)
    specs = bigquery_specs(tmp_path, fake, """\
        - name: orders_revenue_low
          query: SELECT 'OK' AS status FROM orders
        """)

    result = validate(specs, "--dry-run", "--price-per-tib", "5", "--output", "json")

    assert result.exit_code == 0, result.output
    (estimate,) = json.loads(result.stdout)["dry_run"]
    assert estimate == {"alert": "orders_revenue_low", "database": "warehouse",
                        "bytes_processed": 4 * TIB, "estimated_cost": 20.0,
                        "maximum_bytes_billed": None, "result": "ok", "error": None}


def test_an_alert_over_its_maximum_bytes_billed_is_an_error_before_it_is_scheduled(fake,
                                                                                   tmp_path):
    fake.respond("FROM orders", [("status", "STRING")], [], bytes_processed=20 * GIB)
    fake.respond("FROM events", [("status", "STRING")], [], bytes_processed=GIB)
    specs = bigquery_specs(tmp_path, fake, """\
        - name: orders_revenue_low
          query: SELECT 'OK' AS status FROM orders
          maximum_bytes_billed: 10737418240
        - name: events_stalled
          query: SELECT 'OK' AS status FROM events
          maximum_bytes_billed: 10737418240
        """)

    result = validate(specs, "--dry-run")

    assert result.exit_code == 1
    assert "1 error(s)" in result.stderr
    assert ("alert 'orders_revenue_low', field 'maximum_bytes_billed': the query would process "
            "20.0 GiB (21474836480 bytes), more than maximum_bytes_billed 10.0 GiB "
            "(10737418240 bytes, set on the alert)") in result.stderr
    assert "events_stalled" not in result.stderr
    assert "over maximum_bytes_billed" in result.stdout


def test_the_database_maximum_bytes_billed_applies_when_the_alert_sets_none(fake, tmp_path):
    fake.respond("FROM orders", [("status", "STRING")], [], bytes_processed=2 * GIB)
    specs = bigquery_specs(tmp_path, fake, """\
        - name: orders_revenue_low
          query: SELECT 'OK' AS status FROM orders
        """, database_limit="maximum_bytes_billed: 1073741824")

    result = validate(specs, "--dry-run")

    assert result.exit_code == 1
    assert "set on database 'warehouse'" in result.stderr


def test_a_query_bigquery_rejects_is_reported_with_the_reason(fake, tmp_path):
    fake.fail("FROM nowhere", "invalidQuery", "Unrecognized name: amount at [1:12]")
    specs = bigquery_specs(tmp_path, fake, """\
        - name: orders_revenue_low
          query: SELECT amount AS status FROM nowhere
        """)

    result = validate(specs, "--dry-run")

    assert result.exit_code == 1
    assert ("alert 'orders_revenue_low', field 'query': the BigQuery dry run failed: BigQuery "
            "invalid query in dry run (project shop-prod): Unrecognized name: amount at [1:12]"
            ) in result.stderr


def test_a_windowed_query_is_dry_run_with_typed_window_parameters(fake, tmp_path):
    fake.respond("FROM orders", [("status", "STRING")], [], bytes_processed=GIB)
    specs = bigquery_specs(tmp_path, fake, """\
        - name: orders_revenue_low
          window: daily
          query: >-
            SELECT 'OK' AS status FROM orders
            WHERE ordered_at >= :window_start AND ordered_at < :window_end
        """)

    result = validate(specs, "--dry-run")

    assert result.exit_code == 0, result.output
    query = fake.calls("jobs.insert")[0].body["configuration"]["query"]
    assert [(p["name"], p["parameterType"]["type"]) for p in query["queryParameters"]] == [
        ("window_start", "TIMESTAMP"), ("window_end", "TIMESTAMP")]
    assert "@window_start" in query["query"]


def test_without_dry_run_validate_sends_nothing_to_bigquery(fake, tmp_path):
    specs = bigquery_specs(tmp_path, fake, """\
        - name: orders_revenue_low
          query: SELECT 'OK' AS status FROM orders
        """)

    result = validate(specs)

    assert result.exit_code == 0, result.output
    assert fake.requests == []
