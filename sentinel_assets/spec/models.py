"""The YAML contract as pydantic models (docs/design.md, "The YAML contract").

Secret fields (database URLs, tokens, passwords, webhook URLs and secrets, header values) keep
their ``${VAR}`` references unexpanded: they are resolved where they are used, and reach Dagster
as ``dg.EnvVar`` (see ``sentinel_assets.orchestration.resources``), so no secret is baked into a config.
"""

from __future__ import annotations

import re
import typing
from datetime import datetime, timedelta
from typing import Annotated, Any, ClassVar, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dagster._utils.schedules import is_valid_cron_string
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from sentinel_assets.core.durations import parse_duration
from sentinel_assets.core.excerpt import excerpt
from sentinel_assets.core.judging import CONDITION_OPS, Condition, JudgeRules
from sentinel_assets.core.lifecycle import Policy
from sentinel_assets.core.routing import Route, Routing
from sentinel_assets.names import NOTICE_KINDS, reserved_name_clash
from sentinel_assets.spec.channels import CHANNEL_SECRET_FIELDS
from sentinel_assets.spec.env_vars import MissingEnvVar, expand
from sentinel_assets.spec.source import Model as _Model
from sentinel_assets.spec.source import Sourced as _Sourced

ALERT_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
RESOURCE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,62}$")
WINDOWS = ("hourly", "daily", "weekly")
ASSET_KEY = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*(/[A-Za-z0-9_][A-Za-z0-9_.-]*)*$")

TIMEZONE_CHARS = 64  # the longest IANA name has 32 characters
CRON_CHARS = 1_000


def _validate_timezone(value: str) -> str:
    try:
        if len(value) > TIMEZONE_CHARS:  # before zoneinfo makes a file name of it
            raise ValueError
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, TypeError, OSError):
        raise ValueError(
            f"unknown timezone {excerpt(value)}; expected an IANA name like 'UTC' or "
            "'Europe/Berlin'"
        ) from None
    return value


def _validate_cron(value: str) -> str:
    if isinstance(value, str) and len(value) > CRON_CHARS:
        raise ValueError(f"invalid cron expression {excerpt(value)}; at most {CRON_CHARS:,} "
                         "characters")
    if isinstance(value, str) and is_valid_cron_string(value.strip()):
        return value.strip()
    fields = len(value.split()) if isinstance(value, str) else 0
    if fields == 5:
        why = ("a field is out of range or malformed: minute 0-59, hour 0-23, day of month 1-31, "
               "month 1-12 or JAN-DEC, day of week 0-6 or SUN-SAT")
    else:
        why = ("expected five fields like '0 9 * * *' (minute hour day-of-month month "
               "day-of-week) or a shortcut like @daily")
    raise ValueError(f"invalid cron expression {excerpt(value)}; {why}")


def _as_list(value: Any) -> Any:
    """Let a single item stand for a one-item list (``notify: team``, ``on: resolved``)."""
    return [value] if isinstance(value, (str, dict)) else value


def _tag_values_as_text(value: Any) -> Any:
    """``{priority: 1, paging: true}`` -> ``{"priority": "1", "paging": "true"}``."""
    if not isinstance(value, dict):
        return value
    return {
        str(k): (str(v).lower() if isinstance(v, bool) else str(v))
        if isinstance(v, (str, int, float, bool)) else v
        for k, v in value.items()
    }


def _validate_duration(value: Any) -> timedelta | None:
    if value is None:
        return None
    delta = parse_duration(value)
    if delta.total_seconds() <= 0:
        raise ValueError(f"expected a positive duration like '30s' or '4h', got {excerpt(value)}")
    return delta


Duration = Annotated[timedelta, Field()]


# ---------------------------------------------------------------------------------------------
# databases
# ---------------------------------------------------------------------------------------------
class DatabaseSettings(BaseModel):
    """The settings of a database, shared by its spec entry and its Dagster resource."""

    #: settings whose values are secrets or may carry one
    secret_fields: ClassVar[tuple[str, ...]] = ("url", "credentials_path")

    url: str = Field(description="SQLAlchemy URL (sqlite:///demo/demo.db, "
                     "postgresql+psycopg2://user@host/db, mysql+pymysql://...) or "
                     "bigquery://PROJECT[/DATASET]; may be ${VAR}. ${VAR} references are "
                     "resolved at run time.")
    credentials_path: str | None = Field(
        default=None, description="BigQuery only: service-account key file; default: "
        "Application Default Credentials.")
    # str, not Literal: Dagster's config has no optional literal; DatabaseSpec checks the word
    credentials: str | None = Field(
        default=None, description="BigQuery only: 'anonymous' sends no credentials (only "
        "together with api_endpoint).")
    location: str | None = Field(default=None,
                                 description="BigQuery only: job location, e.g. 'EU' or 'US'.")
    maximum_bytes_billed: int | None = Field(
        default=None, gt=0, description="BigQuery only: fail queries that would bill more bytes "
        "than this; an alert's own maximum_bytes_billed overrides it.")
    api_endpoint: str | None = Field(
        default=None, description="BigQuery only: API root of an emulator or proxy instead of "
        "https://bigquery.googleapis.com.")


# keys whose values are secrets or may carry one: kept as ${VAR} templates, never expanded early
SECRET_KEYS = frozenset(DatabaseSettings.secret_fields) | CHANNEL_SECRET_FIELDS


class DatabaseSpec(_Sourced, DatabaseSettings):
    """A database alerts query: any SQLAlchemy URL, or ``bigquery://project[/dataset]``."""

    _name: str = PrivateAttr(default="")

    queue: str | None = Field(
        default=None, pattern=r"^[A-Za-z0-9_.-]{1,64}$",
        description="Celery deployment only: the queue its runs go to (run tag "
        "dagster-celery/queue), so that only workers started with -q QUEUE, the ones that can "
        "reach this database, evaluate its alerts; default: the default queue (dagster). Other "
        "run launchers ignore it.")

    @property
    def name(self) -> str:
        return self._name

    @property
    def is_bigquery(self) -> bool:
        return self.url.strip().lower().startswith("bigquery://")

    def settings(self) -> dict[str, Any]:
        """The values of the settings (what the resource is built from)."""
        return {name: getattr(self, name) for name in DatabaseSettings.model_fields}

    @model_validator(mode="after")
    def _check(self) -> "DatabaseSpec":
        if self.credentials not in (None, "anonymous"):
            raise ValueError("credentials must be 'anonymous' or left out, got "
                             f"{excerpt(self.credentials)}")
        if self.credentials == "anonymous" and not self.api_endpoint:
            raise ValueError("credentials: anonymous is only allowed together with api_endpoint")
        try:
            url = expand(self.url)
        except MissingEnvVar:
            return self  # resolved at run time; `sentinel validate` warns about it
        if "://" not in url:
            raise ValueError(
                "url must be a SQLAlchemy URL like 'sqlite:///demo/demo.db' or "
                "'postgresql+psycopg2://user@host/db', or bigquery://PROJECT[/DATASET]"
            )
        return self


# ---------------------------------------------------------------------------------------------
# alerts
# ---------------------------------------------------------------------------------------------
class ConditionSpec(_Model):
    """``{column: total, op: "<", threshold: 10000}`` on the first row."""

    column: str = Field(description="Column of the first row to compare, e.g. total; the "
                        "alert is ALERT when the comparison holds and OK when it does not.")
    op: Literal["<", "<=", ">", ">=", "==", "!="] = Field(
        description="Comparison between the column's value and threshold: <, <=, >, >=, == or "
        "!=.")
    threshold: float | int | str = Field(
        description="Value the column is compared with: a number, or a string (compared as "
        "text when the two sides are not both numeric).")

    def to_condition(self) -> Condition:
        return Condition(self.column, self.op, self.threshold)


assert set(CONDITION_OPS) == {"<", "<=", ">", ">=", "==", "!="}


NoticeKind = Literal["firing", "repeat", "resolved", "escalation", "error", "error_resolved"]


class NotifyEntry(_Model):
    """A channel with the notice kinds it wants."""

    channel: str = Field(description="Name of a channel defined under channels:.")
    on: list[NoticeKind] | None = Field(
        default=None,
        description="Notice kinds this channel gets, one kind or a list of firing, repeat, "
        "resolved, escalation, error, error_resolved; default: firing, repeat and resolved.")

    _on_as_list = field_validator("on", mode="before")(lambda cls, v: _as_list(v))


assert set(NOTICE_KINDS) == set(typing.get_args(NoticeKind))


class EscalateSpec(_Model):
    """Who else is told when an episode keeps firing."""

    after: int = Field(ge=1, description="Number of firing/repeat notices sent in one episode "
                       "before the escalation notice goes out (at least 1).")
    notify: list[str] = Field(
        min_length=1, description="Channel, or list of at least one channel, that gets the "
        "escalation notice and then the episode's repeat and resolved notices.")

    _notify_as_list = field_validator("notify", mode="before")(lambda cls, v: _as_list(v))


class DefaultsSpec(_Model):
    """Values every alert gets unless it sets its own."""

    database: str | None = Field(
        default=None, description="Database of every alert that names none; default: none, so "
        "each alert must set database.")
    timezone: str = Field(default="UTC", description="IANA timezone of the alerts' schedules, "
                          "e.g. Europe/Berlin; default UTC.")
    schedule: str | None = Field(
        default=None, description="Cron expression (five fields or a shortcut like @daily) of "
        "every alert that sets none; default: none, so each alert must set schedule.")
    notify: list[str | NotifyEntry] = Field(
        default_factory=list,
        description="Notify entries of every alert that sets no notify of its own (replaced, "
        "not merged); a channel name, a {channel, on} entry, or a list of them; default: none.")
    owner: str | None = Field(
        default=None, description="Owner channel of every alert that names none; default: none.")
    send_resolved: bool = Field(
        default=True, description="send_resolved of every alert that sets none; default true.")
    repeat_interval: str | None = Field(
        default=None, description="repeat_interval of every alert that sets none, a duration "
        "string like '4h'; default: none (never repeat).")
    timeout: str | int | None = Field(
        default=None, description="Query timeout of every alert that sets none, a duration like "
        "'60s' or a number of seconds; default: none (each alert's own default, 60s).")
    no_data: Literal["ok", "alert", "error"] | None = Field(
        default=None, description="no_data of every alert that sets none: ok, alert or error; "
        "default: none (each alert's own default, ok).")
    batch: bool | None = Field(
        default=None, description="Accepted and ignored: every scheduled alert is evaluated in "
        "grouped runs; `sentinel validate` says so.")
    tags: dict[str, str] = Field(
        default_factory=dict, description="Tags every alert gets; an alert's own tags win on "
        "the same key; values may be strings, numbers or booleans (kept as text).")

    _check_tz = field_validator("timezone")(lambda cls, v: _validate_timezone(v))
    _notify_as_list = field_validator("notify", mode="before")(lambda cls, v: _as_list(v))
    _tags_as_text = field_validator("tags", mode="before")(lambda cls, v: _tag_values_as_text(v))

    @field_validator("schedule")
    @classmethod
    def _check_schedule(cls, v):
        return None if v is None else _validate_cron(v)

    @field_validator("repeat_interval", "timeout")
    @classmethod
    def _check_durations(cls, v):
        _validate_duration(v)
        return v


class AlertSpec(_Sourced):
    """One alert: a query, a schedule, and where its notices go."""

    name: str = Field(
        description="Unique name across all files, also the name of its Dagster job: lower-case "
        "letters, digits and underscores, starting with a letter, at most 63 characters; not "
        "one of the names of sentinel's own jobs, schedules and sensors (see Limits).")
    title: str | None = Field(
        default=None, description="Display name shown in notices and in Dagster instead of the "
        "name, free text like 'Low Daily Revenue' (SQL Sentinel files keep their names here); "
        "default: the name.")
    description: str = Field(default="", description="What the alert watches, in one line; "
                             "shown in notices and in Dagster; default empty.")
    owner: str | None = Field(
        default=None, description="Channel that gets the error and error_resolved notices "
        "(and health notices); default defaults.owner, else the notify channels get them.")
    tags: dict[str, str] = Field(
        default_factory=dict, description="Labels such as {team: finance}, used by silence "
        "matchers and shown with the alert; merged over defaults.tags; values are kept as text.")
    schedule: str = Field(
        description="When to evaluate: a cron expression with five fields ('0 9 * * *') or a "
        "shortcut like @daily; required unless defaults.schedule is set.")
    timezone: str = Field(default="UTC", description="IANA timezone the schedule is read in, "
                          "e.g. Europe/Berlin; default defaults.timezone, else UTC.")
    enabled: bool = Field(default=True, description="false compiles the job but leaves its "
                          "schedule stopped; default true.")
    database: str = Field(description="Name of a database under databases: to run the query "
                          "on; required unless defaults.database is set.")
    query: str = Field(
        min_length=1, description="One SELECT statement (WITH and UNION allowed; no writes, "
        "INTO, COPY, SET or second statement) returning a status column (ALERT/OK, any case) "
        "with optional actual_value and threshold columns, or any columns when condition is "
        "set.")
    condition: ConditionSpec | None = Field(
        default=None, description="Judge the first row with {column, op, threshold} instead of "
        "a status column; default: none (the status column decides).")
    notify: list[str | NotifyEntry] = Field(
        default_factory=list,
        description="Where firing, repeat and resolved notices go: a channel name, a {channel, "
        "on} entry, or a list of them; default defaults.notify, else none.")
    for_: int = Field(default=1, ge=1, alias="for",
                      description="Consecutive ALERT evaluations (PENDING until then) before the "
                      "alert fires; written `for:`; default 1.")
    repeat_interval: timedelta | None = Field(
        default=None, description="While firing, send a repeat notice once this long has passed "
        "since the last one: a duration like '4h' or seconds; default: never repeat.")
    send_resolved: bool = Field(default=True, description="Send a resolved notice when a "
                                "notified episode ends; default true.")
    escalate: EscalateSpec | None = Field(
        default=None, description="{after: N, notify: [...]}: after N firing/repeat notices in "
        "one episode, also tell these channels; default: no escalation.")
    timeout: timedelta = Field(
        default=timedelta(seconds=60), description="Query timeout: a duration like '30s' or a "
        "number of seconds; a query that takes longer is an ERROR; default 1m (60 seconds).")
    no_data: Literal["ok", "alert", "error"] = Field(
        default="ok", description="Outcome when the query returns no rows: ok, alert or error; "
        "default ok.")
    max_rows: int = Field(default=1000, ge=1, le=100_000,
                          description="Rows judged at most (1 to 100000): a query that returns "
                          "more is an ERROR, since unread rows cannot be judged OK; aggregate "
                          "in SQL (one row with status and actual_value); default 1000.")
    maximum_bytes_billed: int | None = Field(
        default=None, gt=0, description="BigQuery only: fail the query if it would bill more "
        "bytes than this; overrides the database's limit; default: the database's."
    )
    asset: str | None = Field(
        default=None, description="Asset key like analytics/orders: the alert is also an asset "
        "check on that asset; default: none.")
    severity: Literal["warn", "error"] = Field(
        default="error", description="Severity of the asset check when the alert is ALERT: warn "
        "or error; only used with asset; default error.")
    window: str | None = Field(
        default=None, description="Time-partition the alert: hourly, daily, weekly or a cron "
        "expression; the query gets :window_start and :window_end; default: none.")
    start: str | None = Field(default=None, description="Start of the first window, an ISO "
                              "date or date-time like 2026-01-01; only with window; default "
                              "2026-01-01.")
    lag: timedelta | None = Field(default=None, description="Evaluate a window this long after "
                                  "it ends, a duration like '2h'; only with window; default: "
                                  "right after it ends.")
    notify_backfills: bool = Field(default=False, description="true: backfilled windows send "
                                   "notices too; only with window; default false.")
    batch: bool = Field(
        default=False,
        description="Accepted and ignored: every scheduled alert is evaluated in grouped runs "
        "(many alerts per run, one per database shard); `sentinel validate` says so.",
    )
    templates: dict[str, str] = Field(
        default_factory=dict, description="Jinja2 overrides of the notice text by part "
        "(subject, body, html) or by kind and part (resolved.subject); they win over the "
        "channel's.")

    @field_validator("name")
    @classmethod
    def _check_name(cls, v: str) -> str:
        if not ALERT_NAME.match(v):
            raise ValueError(
                f"invalid alert name {excerpt(v)}; expected lower-case letters, digits and "
                "underscores, starting with a letter, at most 63 characters "
                "(^[a-z][a-z0-9_]{0,62}$)"
            )
        clash = reserved_name_clash(v)
        if clash:
            raise ValueError(f"the alert name {v!r} is reserved: it would collide with {clash}; "
                             "choose another name")
        return v

    _check_tz = field_validator("timezone")(lambda cls, v: _validate_timezone(v))
    _check_cron = field_validator("schedule")(lambda cls, v: _validate_cron(v))
    _notify_as_list = field_validator("notify", mode="before")(lambda cls, v: _as_list(v))
    _tags_as_text = field_validator("tags", mode="before")(lambda cls, v: _tag_values_as_text(v))

    @field_validator("repeat_interval", "timeout", "lag", mode="before")
    @classmethod
    def _check_durations(cls, v):
        return _validate_duration(v)

    @field_validator("tags")
    @classmethod
    def _check_tags(cls, v: dict[str, str]) -> dict[str, str]:
        return {str(k): str(val) for k, val in v.items()}

    @field_validator("window")
    @classmethod
    def _check_window(cls, v):
        if v is None or v in WINDOWS:
            return v
        _validate_cron(v)
        return v

    @field_validator("start", mode="before")
    @classmethod
    def _check_start(cls, v):
        if v is None:
            return None
        text = v.isoformat() if hasattr(v, "isoformat") else str(v)
        try:
            datetime.fromisoformat(text)
        except ValueError:
            raise ValueError("expected a date like 2026-01-01 or 2026-01-01T06:00, got "
                             f"{excerpt(v)}") from None
        return text

    @field_validator("asset")
    @classmethod
    def _check_asset(cls, v):
        if v is not None and not ASSET_KEY.match(v):
            raise ValueError(f"expected an asset key like 'analytics/orders', got {excerpt(v)}")
        return v

    @model_validator(mode="after")
    def _check_window_fields(self) -> "AlertSpec":
        if self.window is None and (self.start or self.lag or self.notify_backfills):
            raise ValueError("start, lag and notify_backfills only apply to alerts with a window")
        if self.window is not None and self.asset is not None:
            raise ValueError("an alert cannot have both window and asset yet; split it in two")
        return self

    @property
    def label(self) -> str:
        """What people see: the title, else the name."""
        return self.title or self.name

    @property
    def asset_key_path(self) -> list[str]:
        return self.asset.split("/") if self.asset else []

    # -- views used by the core -------------------------------------------------------------
    @property
    def judge_rules(self) -> JudgeRules:
        cond = self.condition.to_condition() if self.condition else None
        return JudgeRules(condition=cond, no_data=self.no_data)

    @property
    def policy(self) -> Policy:
        return Policy(
            for_count=self.for_,
            repeat_interval=self.repeat_interval,
            send_resolved=self.send_resolved,
            escalate_after=self.escalate.after if self.escalate else None,
        )

    @property
    def routing(self) -> Routing:
        routes = []
        for entry in self.notify:
            if isinstance(entry, str):
                routes.append(Route(entry))
            else:
                routes.append(Route(entry.channel, frozenset(entry.on) if entry.on else None))
        escalate = tuple(self.escalate.notify) if self.escalate else ()
        return Routing(tuple(routes), self.owner, escalate)

    @property
    def channel_names(self) -> list[str]:
        """Every channel this alert may notify (notify, owner, escalation), in order."""
        names = [e if isinstance(e, str) else e.channel for e in self.notify]
        if self.owner:
            names.append(self.owner)
        if self.escalate:
            names.extend(self.escalate.notify)
        return list(dict.fromkeys(names))


class SentinelConfig(BaseModel):
    """Everything loaded from a specs directory: the valid parts, and the errors of the rest."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    databases: dict[str, DatabaseSpec] = Field(
        default_factory=dict, description="Valid databases of every file, by name.")
    channels: dict[str, Any] = Field(
        default_factory=dict, description="Valid channels of every file, by name.")
    defaults: DefaultsSpec = Field(default_factory=DefaultsSpec,
                                   description="The defaults of every file, merged.")
    alerts: list[AlertSpec] = Field(
        default_factory=list, description="Valid alerts of every file, defaults applied.")
    errors: list[Any] = Field(
        default_factory=list, description="Spec errors and warnings (SpecError), each with "
        "file, line, alert and field where known.")
    specs_dir: str | None = Field(default=None,
                                  description="The directory the specs were read from.")
    compat_files: list[dict] = Field(
        default_factory=list, description="Files read in SQL Sentinel compatibility mode, with "
        "what was mapped (spec.compat).")

    def alert(self, name: str) -> AlertSpec:
        for alert in self.alerts:
            if alert.name == name:
                return alert
        known = ", ".join(a.name for a in self.alerts) or "none"
        raise KeyError(f"no alert named {name!r}; known alerts: {known}")
