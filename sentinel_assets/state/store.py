"""The sentinel state store: alert state, silences and delivery records in one SQL schema.

SQLite next to the Dagster instance by default, PostgreSQL (or MySQL) when configured. State is
saved with optimistic concurrency (a version per alert), and delivery claims have a unique key
(idempotency key, channel), so two overlapping runs of one alert never both send a notice.

Each store has an identifier, a random UUID created with its tables (``sentinel_meta``): it is part
of every idempotency key, so two stores (two deployments, or one store reset) never send two
different notices under one key. A store that cannot be reached raises ``StateStoreUnavailable``,
whose message names the store, its URL (password masked) and the driver's reason.
"""

from __future__ import annotations

import dataclasses
import json
import os
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterable

import sqlalchemy as sa

from sentinel_assets.core.bounds import MESSAGE_CHARS, bound_rows, bound_value, truncate_text
from sentinel_assets.core.lifecycle import AlertState, Notice
from sentinel_assets.core.redaction import (
    MASK,
    encode_password_at,
    mask_url,
    password_forms,
    redact,
    url_password,
)
from sentinel_assets.core.silences import Silence
from sentinel_assets.spec.env_vars import expand


class UtcDateTime(sa.types.TypeDecorator):
    """A timezone-aware UTC datetime on every backend.

    PostgreSQL keeps the offset; SQLite and MySQL/MariaDB would drop it (and MySQL the
    microseconds), so values are stored there as naive UTC and read back as aware UTC.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect.name in ("mysql", "mariadb"):
            from sqlalchemy.dialects import mysql  # loaded by then: the engine is MySQL's

            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(sa.DateTime(timezone=True))

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        value = _aware(value)  # a naive datetime is taken as UTC
        return value if dialect.name == "postgresql" else value.replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        return _aware(value)


metadata = sa.MetaData()

meta_table = sa.Table(
    "sentinel_meta",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.String(255), nullable=False),
)
STORE_ID = "store_id"

alert_state_table = sa.Table(
    "sentinel_alert_state",
    metadata,
    sa.Column("alert", sa.String(64), primary_key=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("last_evaluated_at", UtcDateTime()),
    sa.Column("data", sa.Text, nullable=False),
)

silences_table = sa.Table(
    "sentinel_silences",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("alert", sa.String(64)),
    sa.Column("matchers", sa.Text),
    sa.Column("until", UtcDateTime(), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("created_by", sa.String(128)),
    sa.Column("removed_at", UtcDateTime()),
)

deliveries_table = sa.Table(
    "sentinel_deliveries",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("idempotency_key", sa.String(64), nullable=False),
    sa.Column("channel", sa.String(64), nullable=False),
    sa.Column("alert", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # pending | sent | failed
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("error", sa.Text),
    sa.Column("external_id", sa.String(255)),  # e.g. the Slack message ts
    sa.Column("notice", sa.Text, nullable=False),
    sa.Column("run_id", sa.String(64)),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("claimed_at", UtcDateTime(), nullable=False),
    sa.Column("sent_at", UtcDateTime()),
    sa.UniqueConstraint("idempotency_key", "channel", name="uq_sentinel_delivery_key_channel"),
    sa.Index("ix_sentinel_deliveries_alert_status", "alert", "status"),
)

SENT, FAILED, PENDING = "sent", "failed", "pending"
# a claim older than this whose sender never reported back is taken over and retried
STALE_CLAIM = timedelta(minutes=10)
# failed deliveries are retried on later evaluations for this long
RETRY_WINDOW = timedelta(hours=24)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def default_state_url() -> str:
    """``$SENTINEL_STATE_URL``, else SQLite next to the Dagster instance, else ``.sentinel/``."""
    if os.environ.get("SENTINEL_STATE_URL"):
        return expand(os.environ["SENTINEL_STATE_URL"])
    home = os.environ.get("DAGSTER_HOME")
    folder = Path(home) if home else Path(".sentinel")
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(folder / 'sentinel_state.db').resolve()}"


@dataclass(frozen=True)
class Delivery:
    """One notice to one channel, as recorded in the store."""

    id: int
    idempotency_key: str
    channel: str
    alert: str
    kind: str
    status: str
    attempts: int
    error: str | None
    external_id: str | None
    notice: dict
    run_id: str | None
    created_at: datetime
    sent_at: datetime | None


class StateConflict(Exception):
    """Another run saved this alert's state first; reload and decide again."""


class StateStoreUnavailable(Exception):
    """The state store cannot be reached; the message says which, where and why, in one line."""


class StateStore:
    """Reads and writes the sentinel tables. Thread-safe; one instance per URL per process."""

    def __init__(self, url: str):
        self.url = url
        kwargs: dict[str, Any] = {"pool_pre_ping": True}
        if url.startswith("sqlite"):
            Path(sa.make_url(url).database or ".").parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"timeout": 60, "check_same_thread": False}
        elif url.startswith(("postgresql", "mysql", "mariadb")):
            kwargs["connect_args"] = {"connect_timeout": 10}
        self.engine = sa.create_engine(encode_password_at(url), **kwargs)
        if url.startswith("sqlite"):
            _sqlite_immediate_transactions(self.engine)
        _unreachable_as_unavailable(self.engine, url)
        metadata.create_all(self.engine, checkfirst=True)
        self.store_id = self._identity()

    def _identity(self) -> str:
        """The store's identifier, created once with it (by whichever process got there first)."""
        t = meta_table
        query = sa.select(t.c.value).where(t.c.key == STORE_ID)
        with self.engine.connect() as conn:
            found = conn.execute(query).scalar()
        if found is None:
            try:
                with self.engine.begin() as conn:
                    conn.execute(t.insert().values(key=STORE_ID, value=str(uuid.uuid4())))
            except sa.exc.IntegrityError:
                pass  # another process created it first; theirs is the one
            with self.engine.connect() as conn:
                found = conn.execute(query).scalar_one()
        return found

    # -- alert state ------------------------------------------------------------------------
    def load(self, alert: str) -> AlertState:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(alert_state_table.c.data, alert_state_table.c.version).where(
                    alert_state_table.c.alert == alert
                )
            ).first()
        if row is None:
            return AlertState(alert=alert)
        return _state_from_json(row.data, row.version)

    def load_many(self, alerts: Iterable[str]) -> dict[str, AlertState]:
        """The states of ``alerts`` in one query per thousand (grouped evaluation)."""
        names = list(dict.fromkeys(alerts))
        found: dict[str, AlertState] = {}
        with self.engine.connect() as conn:
            for start in range(0, len(names), _IN_CHUNK):
                rows = conn.execute(
                    sa.select(alert_state_table.c.alert, alert_state_table.c.data,
                              alert_state_table.c.version)
                    .where(alert_state_table.c.alert.in_(names[start:start + _IN_CHUNK]))
                ).all()
                found.update({r.alert: _state_from_json(r.data, r.version) for r in rows})
        return {name: found.get(name) or AlertState(alert=name) for name in names}

    def commit_many(
        self,
        changes: Iterable[tuple[AlertState, AlertState, list[tuple[Notice, str]]]],
        run_id: str | None = None,
    ) -> tuple[dict[str, list[Delivery]], set[str]]:
        """``commit`` for many alerts in one transaction, each with its own version check.

        Returns the deliveries claimed per alert, and the alerts whose state another run saved
        first (nothing of theirs changed here: the caller decides them again, one by one).
        """
        claimed: dict[str, list[Delivery]] = {}
        conflicts: set[str] = set()
        now = utcnow()
        with self.engine.begin() as conn:
            for old, new, claims in changes:
                saved = dataclasses.replace(new, version=old.version + 1)
                values = {"status": saved.status, "version": saved.version,
                          "last_evaluated_at": saved.last_evaluated_at,
                          "data": _state_to_json(saved)}
                try:
                    with conn.begin_nested():  # a lost race undoes this alert only
                        if old.version == 0:
                            conn.execute(alert_state_table.insert().values(alert=new.alert,
                                                                           **values))
                        elif conn.execute(
                            alert_state_table.update()
                            .where(alert_state_table.c.alert == new.alert)
                            .where(alert_state_table.c.version == old.version)
                            .values(**values)
                        ).rowcount != 1:
                            raise StateConflict(new.alert)
                        claimed[new.alert] = self._claim(conn, claims, run_id, now)
                except (StateConflict, sa.exc.IntegrityError):
                    conflicts.add(new.alert)
        return claimed, conflicts

    def all_states(self) -> dict[str, AlertState]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(alert_state_table)).all()
        return {r.alert: _state_from_json(r.data, r.version) for r in rows}

    def commit(
        self,
        old: AlertState | None,
        new: AlertState | None,
        claims: Iterable[tuple[Notice, str]],
        run_id: str | None = None,
    ) -> list[Delivery]:
        """Save ``new`` if nobody saved since ``old`` was loaded, and claim its deliveries.

        One transaction: either the state moves on and every (notice, channel) is claimed, or
        ``StateConflict`` is raised and nothing changed. Claims that exist already (another run
        made them) are not returned, so only one run sends each notice. With ``new=None`` only
        the claims are made (replayed windows notify without touching the live state).
        """
        now = utcnow()
        values = {}
        if new is not None:
            saved = dataclasses.replace(new, version=old.version + 1)
            values = {
                "status": saved.status,
                "version": saved.version,
                "last_evaluated_at": saved.last_evaluated_at,
                "data": _state_to_json(saved),
            }
        claimed: list[Delivery] = []
        try:
            with self.engine.begin() as conn:
                if new is None:
                    pass
                elif old.version == 0:
                    conn.execute(alert_state_table.insert().values(alert=new.alert, **values))
                else:
                    updated = conn.execute(
                        alert_state_table.update()
                        .where(alert_state_table.c.alert == new.alert)
                        .where(alert_state_table.c.version == old.version)
                        .values(**values)
                    )
                    if updated.rowcount != 1:
                        raise StateConflict(new.alert)
                claimed = self._claim(conn, claims, run_id, now)
        except sa.exc.IntegrityError as exc:
            raise StateConflict(new.alert) from exc
        return claimed

    def _claim(self, conn, claims: Iterable[tuple[Notice, str]], run_id: str | None,
               now: datetime) -> list[Delivery]:
        """Insert a pending delivery per (notice, channel) not claimed yet; the new ones."""
        claimed: list[Delivery] = []
        for notice, channel in claims:
            exists = conn.execute(
                sa.select(deliveries_table.c.id)
                .where(deliveries_table.c.idempotency_key == notice.idempotency_key)
                .where(deliveries_table.c.channel == channel)
            ).first()
            if exists:
                continue
            row = {
                "idempotency_key": notice.idempotency_key,
                "channel": channel,
                "alert": notice.alert,
                "kind": notice.kind,
                "status": PENDING,
                "attempts": 0,
                "notice": json.dumps(notice_to_dict(notice)),
                "run_id": run_id,
                "created_at": now,
                "claimed_at": now,
            }
            inserted = conn.execute(deliveries_table.insert().values(**row))
            new_id = inserted.inserted_primary_key[0]
            claimed.append(_delivery(dict(row, id=new_id, error=None, external_id=None,
                                          sent_at=None)))
        return claimed

    # -- deliveries -------------------------------------------------------------------------
    def alerts_with_retries(self, alerts: Iterable[str], now: datetime | None = None) -> set[str]:
        """Which of ``alerts`` have deliveries to retry (one query per thousand alerts)."""
        now = now or utcnow()
        t = deliveries_table
        names = list(dict.fromkeys(alerts))
        found: set[str] = set()
        with self.engine.connect() as conn:
            for start in range(0, len(names), _IN_CHUNK):
                found.update(conn.execute(
                    sa.select(t.c.alert).distinct()
                    .where(t.c.alert.in_(names[start:start + _IN_CHUNK]), _retryable(now),
                           t.c.created_at > now - RETRY_WINDOW)
                ).scalars())
        return found

    def claim_retries(self, alert: str, now: datetime | None = None) -> list[Delivery]:
        """Take over failed (or abandoned) deliveries of ``alert`` for another attempt."""
        now = now or utcnow()
        t = deliveries_table
        retryable = _retryable(now)
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(t)
                .where(t.c.alert == alert, retryable, t.c.created_at > now - RETRY_WINDOW)
                .order_by(t.c.id)
            ).all()
        taken = []
        for row in rows:
            with self.engine.begin() as conn:
                got = conn.execute(
                    t.update()
                    .where(t.c.id == row.id, retryable)
                    .values(status=PENDING, claimed_at=now)
                )
            if got.rowcount == 1:
                taken.append(_delivery(row._asdict()))
        return taken

    def record_delivery(
        self,
        delivery_id: int,
        *,
        ok: bool,
        attempts: int,
        error: str | None = None,
        external_id: str | None = None,
    ) -> None:
        t = deliveries_table
        values: dict[str, Any] = {
            "status": SENT if ok else FAILED,
            "attempts": t.c.attempts + attempts,
            "error": error,
        }
        if ok:
            values["sent_at"] = utcnow()
        if external_id is not None:
            values["external_id"] = external_id
        with self.engine.begin() as conn:
            conn.execute(t.update().where(t.c.id == delivery_id).values(**values))

    def find_delivery(self, idempotency_key: str, channel: str) -> Delivery | None:
        t = deliveries_table
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(t).where(t.c.idempotency_key == idempotency_key, t.c.channel == channel)
            ).first()
        return _delivery(row._asdict()) if row else None

    def deliveries(self, alert: str | None = None, limit: int = 100) -> list[Delivery]:
        t = deliveries_table
        query = sa.select(t).order_by(t.c.id.desc()).limit(limit)
        if alert:
            query = query.where(t.c.alert == alert)
        with self.engine.connect() as conn:
            return [_delivery(r._asdict()) for r in conn.execute(query).all()]

    def prune_deliveries(self, older_than: datetime) -> int:
        t = deliveries_table
        with self.engine.begin() as conn:
            return conn.execute(t.delete().where(t.c.created_at < older_than)).rowcount

    # -- silences ---------------------------------------------------------------------------
    def add_silence(self, silence: Silence) -> Silence:
        row = {
            "alert": silence.alert,
            "matchers": _matchers_json(silence.matchers) if silence.matchers else None,
            "until": silence.until,
            "reason": silence.reason,
            "created_at": silence.created_at or utcnow(),
            "created_by": silence.created_by,
        }
        with self.engine.begin() as conn:
            new_id = conn.execute(silences_table.insert().values(**row)).inserted_primary_key[0]
        return dataclasses.replace(silence, id=new_id, created_at=row["created_at"])

    def silences(self, now: datetime | None = None) -> list[Silence]:
        """Silences not removed and not expired at ``now``."""
        now = now or utcnow()
        t = silences_table
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(t).where(t.c.removed_at.is_(None), t.c.until > now).order_by(t.c.id)
            ).all()
        return [_silence(r) for r in rows]

    def remove_silences(
        self, *, alert: str | None = None, matchers: tuple = (), silence_id: int | None = None
    ) -> int:
        t = silences_table
        query = t.update().where(t.c.removed_at.is_(None))
        if silence_id is not None:
            query = query.where(t.c.id == silence_id)
        elif alert is not None:
            query = query.where(t.c.alert == alert)
        else:
            query = query.where(t.c.matchers == _matchers_json(matchers))
        with self.engine.begin() as conn:
            return conn.execute(query.values(removed_at=utcnow())).rowcount

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(sa.select(sa.func.count()).select_from(alert_state_table)).scalar()


_stores: dict[str, StateStore] = {}
_stores_lock = threading.Lock()


_IN_CHUNK = 1000  # names per IN (...) list


def _retryable(now: datetime):
    """Failed deliveries, and pending ones whose sender is gone (claimed long ago)."""
    t = deliveries_table
    return sa.or_(t.c.status == FAILED,
                  sa.and_(t.c.status == PENDING, t.c.claimed_at < now - STALE_CLAIM))


def get_state_store(url: str | None = None) -> StateStore:
    """The process-wide store for ``url`` (default: ``default_state_url()``)."""
    resolved = expand(url) if url else default_state_url()
    with _stores_lock:
        if resolved not in _stores:
            _stores[resolved] = StateStore(resolved)
        return _stores[resolved]


# -- serialisation ------------------------------------------------------------------------------
def _state_to_json(state: AlertState) -> str:
    data = {}
    for f in dataclasses.fields(state):
        value = getattr(state, f.name)
        data[f.name] = (value.isoformat() if isinstance(value, datetime)
                        else bound_value(value, MESSAGE_CHARS))
    return json.dumps(data)


_STATE_DATES = {f.name for f in dataclasses.fields(AlertState) if "datetime" in str(f.type)}


def _state_from_json(text: str, version: int) -> AlertState:
    data = json.loads(text)
    known = {f.name for f in dataclasses.fields(AlertState)}
    data = {k: v for k, v in data.items() if k in known}
    for key in _STATE_DATES:
        if data.get(key):
            data[key] = datetime.fromisoformat(data[key])
    data["version"] = version
    return AlertState(**data)


def notice_to_dict(notice: Notice) -> dict:
    data = {f.name: getattr(notice, f.name) for f in dataclasses.fields(notice)}
    data["evaluated_at"] = notice.evaluated_at.isoformat()
    data["message"] = truncate_text(notice.message, MESSAGE_CHARS)
    data["value"] = bound_value(notice.value)
    data["threshold"] = bound_value(notice.threshold)
    data["rows"] = list(bound_rows(notice.rows))
    data["idempotency_key"] = notice.idempotency_key
    return data


def notice_from_dict(data: dict) -> Notice:
    known = {f.name for f in dataclasses.fields(Notice)}
    values = {k: v for k, v in data.items() if k in known}
    values["evaluated_at"] = datetime.fromisoformat(values["evaluated_at"])
    values["rows"] = tuple(values.get("rows") or ())
    return Notice(**values)


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)  # SQLite and MySQL store naive UTC
    return value.astimezone(timezone.utc)


def _delivery(row: dict) -> Delivery:
    return Delivery(
        id=row["id"],
        idempotency_key=row["idempotency_key"],
        channel=row["channel"],
        alert=row["alert"],
        kind=row["kind"],
        status=row["status"],
        attempts=row["attempts"],
        error=row.get("error"),
        external_id=row.get("external_id"),
        notice=json.loads(row["notice"]),
        run_id=row.get("run_id"),
        created_at=_aware(row["created_at"]),
        sent_at=_aware(row.get("sent_at")),
    )


def _matchers_json(matchers) -> str:
    """One spelling per set of matchers, so that a silence is removed by the same matchers."""
    return json.dumps(sorted([str(k), str(v)] for k, v in matchers))


def _silence(row) -> Silence:
    matchers = tuple(tuple(m) for m in json.loads(row.matchers)) if row.matchers else ()
    return Silence(
        id=row.id,
        until=_aware(row.until),
        reason=row.reason,
        alert=row.alert,
        matchers=matchers,
        created_at=_aware(row.created_at),
        created_by=row.created_by,
    )


def _unreachable_as_unavailable(engine: sa.Engine, url: str) -> None:
    """Errors that mean the store cannot be reached (no connection, or a lost one) become
    ``StateStoreUnavailable``; a failed statement on a live connection stays what it is."""
    secret = url_password(url)

    @sa.event.listens_for(engine, "handle_error")
    def _unavailable(context):
        if context.is_pre_ping or (context.connection is not None and not context.is_disconnect):
            return None
        orig = context.original_exception
        lines = str(orig).strip().splitlines()
        reason = f"{type(orig).__name__}: {lines[0].strip() if lines else ''}"
        for form in password_forms(secret):
            reason = reason.replace(form, MASK)
        return StateStoreUnavailable(
            f"the sentinel state store at {mask_url(url)} is unavailable: {redact(reason)}")


def _sqlite_immediate_transactions(engine: sa.Engine) -> None:
    """SQLite: take the write lock at BEGIN so concurrent writers queue instead of failing."""

    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_conn, _record):
        dbapi_conn.isolation_level = None

    @sa.event.listens_for(engine, "begin")
    def _begin(conn):
        conn.exec_driver_sql("BEGIN IMMEDIATE")
