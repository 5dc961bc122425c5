"""``sentinel import-state``: SQL Sentinel's state tables, in SQLite and PostgreSQL, seed ours."""

from __future__ import annotations

import shutil
import sqlite3
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from sentinel_assets.cli.main import main
from sentinel_assets.core.silences import active_silence
from sentinel_assets.databases.sql import SqlDatabase
from sentinel_assets.engine.evaluation import evaluate_alert
from sentinel_assets.spec.loader import load_specs
from sentinel_assets.state.store import get_state_store
from sentinel_assets_tests.helpers import TESTS_DIR
from sentinel_assets_tests.spec.test_compat import SMTP_ENV

SQLSENTINEL = TESTS_DIR / "data" / "sqlsentinel"
NOW = datetime.now(timezone.utc).replace(tzinfo=None)  # SQL Sentinel writes naive UTC


def sqlsentinel_schema(metadata: sa.MetaData) -> tuple[sa.Table, sa.Table]:
    """SQL Sentinel's state and history tables, as its schema module defines them."""
    executions = sa.Table(
        "sqlsentinel_executions", metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("alert_name", sa.String(255), nullable=False, index=True),
        sa.Column("executed_at", sa.DateTime, nullable=False, index=True),
        sa.Column("execution_duration_ms", sa.Float, nullable=False),
        sa.Column("status", sa.String(50), nullable=False),
        sa.Column("actual_value", sa.Float, nullable=True),
        sa.Column("threshold", sa.Float, nullable=True),
        sa.Column("query", sa.Text, nullable=False),
        sa.Column("error_message", sa.Text, nullable=True),
        sa.Column("triggered_by", sa.String(50), nullable=False),
        sa.Column("notification_sent", sa.Boolean, nullable=False, default=False),
        sa.Column("notification_error", sa.Text, nullable=True),
        sa.Column("context_data", sa.Text, nullable=True),
    )
    state = sa.Table(
        "sqlsentinel_state", metadata,
        sa.Column("alert_name", sa.String(255), primary_key=True),
        sa.Column("last_executed_at", sa.DateTime, nullable=True),
        sa.Column("last_alert_at", sa.DateTime, nullable=True),
        sa.Column("last_ok_at", sa.DateTime, nullable=True),
        sa.Column("consecutive_alerts", sa.Integer, nullable=False, default=0),
        sa.Column("consecutive_oks", sa.Integer, nullable=False, default=0),
        sa.Column("current_status", sa.String(50), nullable=True),
        sa.Column("silenced_until", sa.DateTime, nullable=True),
        sa.Column("escalation_count", sa.Integer, nullable=False, default=0),
        sa.Column("notification_failures", sa.Integer, nullable=False, default=0),
        sa.Column("last_notification_channel", sa.String(50), nullable=True),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )
    return state, executions


def _row(name, status, *, alerts=0, oks=0, last_alert=None, last_ok=None, silenced_until=None):
    return {"alert_name": name, "last_executed_at": NOW - timedelta(minutes=10),
            "last_alert_at": last_alert, "last_ok_at": last_ok, "consecutive_alerts": alerts,
            "consecutive_oks": oks, "current_status": status, "silenced_until": silenced_until,
            "escalation_count": 0, "notification_failures": 0,
            "last_notification_channel": None, "updated_at": NOW - timedelta(minutes=10)}


FIRING_SINCE = NOW - timedelta(hours=3)
SILENCED_UNTIL = NOW + timedelta(hours=2)


def fill(url: str) -> None:
    """SQL Sentinel's state as its daemon leaves it: one alert firing, one silenced, ..."""
    engine = sa.create_engine(url)
    state, executions = sqlsentinel_schema(sa.MetaData())
    state.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(state.insert(), [
            _row("High API Error Rate", "ALERT", alerts=3, last_alert=FIRING_SINCE,
                 last_ok=NOW - timedelta(days=1)),
            _row("Low Daily Revenue", "OK", oks=5, last_ok=NOW - timedelta(minutes=10)),
            _row("Stale data_pipeline (24h)", "OK", oks=2, last_ok=NOW,
                 silenced_until=SILENCED_UNTIL),
            _row("Weekend Orders", "ERROR", silenced_until=NOW - timedelta(hours=1)),
            _row("Retired Alert", "ALERT", alerts=1, last_alert=NOW),
        ])
        conn.execute(executions.insert(), [
            {"alert_name": "High API Error Rate", "executed_at": NOW - timedelta(minutes=m),
             "execution_duration_ms": 12.5, "status": "ALERT", "actual_value": value,
             "threshold": 5.0, "query": "SELECT ...", "triggered_by": "CRON",
             "notification_sent": m == 40, "context_data": "{}"}
            for m, value in ((40, 12.0), (25, 18.0), (10, 20.0))
        ])
    engine.dispose()


@pytest.fixture
def project(tmp_path, monkeypatch, state_url):
    """The example SQL Sentinel file as specs, its sample database, an empty sentinel store."""
    for name, value in SMTP_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SENTINEL_SPEC_CACHE", "off")
    specs = tmp_path / "specs"
    specs.mkdir()
    shutil.copy(SQLSENTINEL / "alerts.yaml", specs / "alerts.yaml")
    monkeypatch.setenv("SENTINEL_SPECS_DIR", str(specs))
    with sqlite3.connect(tmp_path / "sample_data.db") as conn:
        conn.executescript((SQLSENTINEL / "sample_data.sql").read_text())
    monkeypatch.chdir(tmp_path)  # the file's sqlite:///sample_data.db is relative
    return specs


@pytest.fixture(params=["sqlite", "postgresql"])
def sqlsentinel_url(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'sqlsentinel.db'}"
    else:
        url = request.getfixturevalue("pg_url_factory")()
    fill(url)
    return url


def _import(*args: str):
    return CliRunner().invoke(main, ["import-state", *args])


def test_a_firing_alert_stays_firing_and_sends_no_second_firing(project, sqlsentinel_url,
                                                                state_url):
    result = _import(sqlsentinel_url)

    assert result.exit_code == 0, result.output
    store = get_state_store(state_url)
    state = store.load("high_api_error_rate")
    assert (state.status, state.firing, state.firing_notified) == ("FIRING", True, True)
    assert state.consecutive_alerts == 3 and state.last_value == 20.0
    assert state.status_since == FIRING_SINCE.replace(tzinfo=timezone.utc)
    # the first evaluation after the cut-over: still ALERT (20% of the calls failed), no notice
    config = load_specs(project)
    alert = config.alert("high_api_error_rate")
    database = SqlDatabase(url=config.databases["alerts"].url)
    evaluation = evaluate_alert(alert, database=database, state_store=store, channels={})
    assert evaluation.status == "ALERT"
    assert evaluation.notices == () and evaluation.deliveries == ()
    assert evaluation.state.status == "FIRING" and evaluation.state.firing_episode == 1


def test_a_live_silence_stays_live_with_its_expiry(project, sqlsentinel_url, state_url):
    assert _import(sqlsentinel_url).exit_code == 0

    store = get_state_store(state_url)
    now = datetime.now(timezone.utc)
    silences = store.silences(now)
    assert [(s.alert, s.reason) for s in silences] == [
        ("stale_data_pipeline_24h", "imported from SQL Sentinel (sqlsentinel_state.silenced_until)")]
    expected = SILENCED_UNTIL.replace(tzinfo=timezone.utc)
    assert abs(silences[0].until - expected) < timedelta(seconds=1)
    assert active_silence("stale_data_pipeline_24h", {}, silences, now) == silences[0]
    # an expired silence is not carried over; the OK and ERROR states are
    assert active_silence("weekend_orders", {}, silences, now) is None
    assert store.load("low_daily_revenue").status == "OK"
    weekend = store.load("weekend_orders")
    assert (weekend.status, weekend.error_notified, weekend.firing) == ("ERROR", False, False)


def test_it_is_idempotent_and_says_what_it_did(project, sqlsentinel_url, state_url):
    first = _import(sqlsentinel_url)
    second = _import(sqlsentinel_url)

    assert first.exit_code == 0 and second.exit_code == 0, first.output + second.output
    assert ("'High API Error Rate' -> high_api_error_rate: FIRING since "
            f"{FIRING_SINCE:%Y-%m-%d %H:%M} UTC; state: imported") in first.output
    assert "'Retired Alert' -> retired_alert: FIRING" in first.output
    assert "not in the specs" in first.output
    assert ("5 SQL Sentinel alert(s) read, 1 not in the specs; 3 execution row(s) of history "
            "stay in sqlsentinel_executions") in first.output
    assert "state: sentinel already has one (imported or evaluated); left as it is" in second.output
    assert "silence: already there" in second.output
    store = get_state_store(state_url)
    assert len(store.silences()) == 1
    assert store.load("high_api_error_rate").version == 1
    assert "retired_alert" not in store.all_states()


def test_dry_run_changes_nothing(project, sqlsentinel_url, state_url):
    result = _import(sqlsentinel_url, "--dry-run")

    assert result.exit_code == 0, result.output
    assert "state: would import" in result.output and "silence: would import" in result.output
    assert "(dry run: nothing changed)" in result.output
    store = get_state_store(state_url)
    assert store.all_states() == {} and store.silences() == []


def test_a_database_without_sqlsentinel_tables_is_a_clear_error(project, tmp_path):
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE orders (id INTEGER)")

    result = _import(f"sqlite:///{other}")

    assert result.exit_code == 1
    assert "has no sqlsentinel_state table (tables: orders)" in result.output
    assert "STATE_DB_URL" in result.output
