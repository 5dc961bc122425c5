"""SQL Sentinel's state carried over (``sentinel import-state``; docs/migrating-from-sql-sentinel.md).

SQL Sentinel keeps one row per alert in ``sqlsentinel_state`` (current status ALERT/OK/ERROR,
consecutive counts, last ALERT and OK times, ``silenced_until``) and one row per run in
``sqlsentinel_executions``. Each state row becomes the sentinel state of the alert with the same
job name (``spec.compat.slug``):

- ALERT: FIRING, its episode already announced, so the first evaluation after the cut-over sends
  no new ``firing`` (and a ``resolved`` when it clears, which SQL Sentinel never sent);
- OK: OK; ERROR: ERROR (inside an announced episode when ALERTs preceded it), not announced,
  since SQL Sentinel never told anyone of errors;
- a ``silenced_until`` still in the future: a silence of that alert with that expiry.

The history in ``sqlsentinel_executions`` stays where it is: sentinel's history is the Dagster
runs that evaluated an alert, and a run cannot be recorded after the fact. Only the latest
execution of each alert is read, for its last value. Seeding never overwrites a state sentinel
already has, and a silence is not added twice, so running the import again changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import sqlalchemy as sa

from sentinel_assets.core.lifecycle import S_ERROR, S_FIRING, S_OK, AlertState
from sentinel_assets.core.silences import Silence
from sentinel_assets.spec.compat import slug
from sentinel_assets.state.store import StateConflict, StateStore

STATE_TABLE = "sqlsentinel_state"
EXECUTIONS_TABLE = "sqlsentinel_executions"
SILENCE_REASON = "imported from SQL Sentinel (sqlsentinel_state.silenced_until)"
IMPORTED_BY = "sentinel import-state"
# two expiries this close are the same silence (databases keep different precisions)
_SAME_EXPIRY = timedelta(seconds=1)


class NotSqlSentinelState(Exception):
    """The database has no ``sqlsentinel_state`` table."""


@dataclass(frozen=True)
class ImportedAlert:
    """One ``sqlsentinel_state`` row, as sentinel state."""

    source: str  # SQL Sentinel's alert name
    alert: str  # the job name
    status: str | None  # SQL Sentinel's current_status
    state: AlertState | None  # None: the row holds only a silence
    silence: Silence | None
    executions: int

    def describe(self) -> str:
        parts = []
        if self.state is not None:
            since = self.state.status_since
            parts.append(f"{self.state.status}" + (f" since {since:%Y-%m-%d %H:%M} UTC"
                                                   if since else ""))
        if self.silence is not None:
            parts.append(f"silenced until {self.silence.until:%Y-%m-%d %H:%M} UTC")
        return ", ".join(parts) or "nothing to carry over"


def read_sqlsentinel_state(url: str, now: datetime | None = None) -> tuple[list[ImportedAlert], int]:
    """Every row of SQL Sentinel's state at ``url`` as sentinel state, and the number of
    execution rows (history) that stay behind.

    Raises:
        NotSqlSentinelState: the database has no ``sqlsentinel_state`` table.
        sqlalchemy.exc.SQLAlchemyError: the database cannot be read.
    """
    now = now or datetime.now(timezone.utc)
    engine = sa.create_engine(url)
    try:
        inspector = sa.inspect(engine)
        if not inspector.has_table(STATE_TABLE):
            found = sorted(inspector.get_table_names())
            raise NotSqlSentinelState(
                f"the database has no {STATE_TABLE} table (tables: {', '.join(found) or 'none'}); "
                "give the URL of SQL Sentinel's state database (its --state-db or STATE_DB_URL, "
                "by default sqlite:///sqlsentinel.db in the directory it ran in)")
        metadata = sa.MetaData()
        state = sa.Table(STATE_TABLE, metadata, autoload_with=engine)
        executions = (sa.Table(EXECUTIONS_TABLE, metadata, autoload_with=engine)
                      if inspector.has_table(EXECUTIONS_TABLE) else None)
        with engine.connect() as conn:
            rows = conn.execute(sa.select(state).order_by(state.c.alert_name)).mappings().all()
            counts, latest = _executions(conn, executions)
    finally:
        engine.dispose()
    alerts = [_imported(dict(row), latest.get(row["alert_name"]),
                        counts.get(row["alert_name"], 0), now) for row in rows]
    return alerts, sum(counts.values())


def _executions(conn, table: sa.Table | None) -> tuple[dict[str, int], dict[str, dict]]:
    if table is None:
        return {}, {}
    counts = dict(conn.execute(
        sa.select(table.c.alert_name, sa.func.count()).group_by(table.c.alert_name)).all())
    newest = (sa.select(table.c.alert_name, sa.func.max(table.c.id).label("id"))
              .group_by(table.c.alert_name).subquery())
    rows = conn.execute(sa.select(table).join(newest, table.c.id == newest.c.id)).mappings()
    return counts, {row["alert_name"]: dict(row) for row in rows}


def _imported(row: dict[str, Any], last: dict | None, executions: int,
              now: datetime) -> ImportedAlert:
    name = slug(row["alert_name"])
    status = (row.get("current_status") or "").upper() or None
    until = _utc(row.get("silenced_until"))
    silence = None
    if until is not None and until > now:
        silence = Silence(id=None, until=until, reason=SILENCE_REASON, alert=name,
                          created_at=now, created_by=IMPORTED_BY)
    return ImportedAlert(source=row["alert_name"], alert=name, status=status,
                         state=state_from_row(name, row, last), silence=silence,
                         executions=executions)


def state_from_row(alert: str, row: dict[str, Any], last: dict | None = None) -> AlertState | None:
    """The sentinel state of one ``sqlsentinel_state`` row (None when it never ran)."""
    status = (row.get("current_status") or "").upper()
    if status not in ("ALERT", "OK", "ERROR"):
        return None
    evaluated = _utc(row.get("last_executed_at"))
    last_alert, last_ok = _utc(row.get("last_alert_at")), _utc(row.get("last_ok_at"))
    alerts_in_a_row = int(row.get("consecutive_alerts") or 0)
    last = last or {}
    common = dict(alert=alert, last_evaluated_at=evaluated, last_outcome=status,
                  last_value=last.get("actual_value"), last_threshold=last.get("threshold"),
                  last_message=f"imported from SQL Sentinel: {status}"
                  + (f" ({last['error_message']})" if last.get("error_message") else ""))
    # an episode SQL Sentinel announced: it notified when the status turned ALERT
    announced = status == "ALERT" or (status == "ERROR" and alerts_in_a_row > 0)
    episode = dict(firing=True, firing_episode=1, firing_since=last_alert or evaluated,
                   firing_notified=True, notices_in_episode=1,
                   last_notice_at=last_alert or evaluated) if announced else {}
    if status == "ALERT":
        return AlertState(status=S_FIRING, status_since=last_alert or evaluated,
                          consecutive_alerts=max(alerts_in_a_row, 1), **episode, **common)
    if status == "OK":
        return AlertState(status=S_OK, status_since=last_ok or evaluated, **common)
    return AlertState(status=S_ERROR, status_since=evaluated, consecutive_alerts=alerts_in_a_row,
                      error_episode=1, error_message=last.get("error_message"), **episode,
                      **common)


def seed(store: StateStore, alert: ImportedAlert, *, dry_run: bool = False,
         now: datetime | None = None) -> list[str]:
    """Put ``alert``'s state and silence into ``store`` unless they are there; what was done."""
    verb = "would import" if dry_run else "imported"
    done = []
    if alert.state is not None:
        if store.load(alert.alert).version > 0:
            done.append("state: sentinel already has one (imported or evaluated); left as it is")
        elif dry_run:
            done.append(f"state: {verb}")
        else:
            try:
                store.commit(AlertState(alert=alert.alert), alert.state, [])
                done.append(f"state: {verb}")
            except StateConflict:
                done.append("state: sentinel saved one meanwhile; left as it is")
    if alert.silence is not None:
        present = [s for s in store.silences(now) if s.alert == alert.alert
                   and abs(s.until - alert.silence.until) <= _SAME_EXPIRY]
        if present:
            done.append(f"silence: already there (id {present[0].id})")
        elif dry_run:
            done.append(f"silence: {verb}")
        else:
            created = store.add_silence(alert.silence)
            done.append(f"silence: {verb} (id {created.id})")
    return done


def _utc(value: Any) -> datetime | None:
    """SQL Sentinel writes naive UTC (``datetime.utcnow()``); SQLite may hand back text."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)
