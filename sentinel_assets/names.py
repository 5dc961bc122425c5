"""Every stable name of sentinel in one place: status words, states, notice kinds, run tags,
resource keys and definition names.

Users, dashboards and tests rely on these strings (``docs/design.md``, "Stable names"); every
other module looks them up here instead of spelling them. The word enums are ``str`` subclasses,
so ``Status.OK == "OK"`` and a value read back from a run tag or the state store compares equal
to its member.
"""

from __future__ import annotations

import hashlib
from enum import Enum
from typing import Any


class _Word(str, Enum):
    """A ``str`` enum whose ``str()`` and f-string form are its value."""

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)


class Status(_Word):
    """The outcome of one evaluation."""

    OK = "OK"
    ALERT = "ALERT"
    ERROR = "ERROR"
    NO_DATA = "NO_DATA"
    #: the run ended before the alert was judged (a crash, a cancel); never a judged outcome
    NOT_EVALUATED = "NOT_EVALUATED"


NOT_EVALUATED = Status.NOT_EVALUATED.value
#: the outcomes a judge can return
JUDGED_STATUSES = (Status.OK, Status.ALERT, Status.ERROR, Status.NO_DATA)


class State(_Word):
    """Where an alert stands in its lifecycle."""

    OK = "OK"
    PENDING = "PENDING"
    FIRING = "FIRING"
    ERROR = "ERROR"


class NoticeKind(_Word):
    """Why a notice is sent."""

    FIRING = "firing"
    REPEAT = "repeat"
    RESOLVED = "resolved"
    ESCALATION = "escalation"
    ERROR = "error"
    ERROR_RESOLVED = "error_resolved"


NOTICE_KINDS = tuple(k.value for k in NoticeKind)


class ProbeResult(_Word):
    """The result of one healthcheck probe."""

    OK = "ok"
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"


class Health(_Word):
    """The healthcheck's verdict."""

    HEALTHY = "healthy"
    DEGRADED = "degraded"
    UNHEALTHY = "unhealthy"


# --- run tags ---------------------------------------------------------------------------------
TAG_PREFIX = "sentinel/"
ALERT_TAG = "sentinel/alert"
STATUS_TAG = "sentinel/status"
DATABASE_TAG = "sentinel/database"
VALUE_TAG = "sentinel/value"
WINDOW_TAG = "sentinel/window"
BATCH_TAG = "sentinel/batch"
MEMBER_TAG_PREFIX = "sentinel/batch/"
HEALTH_TAG = "sentinel/health"
RETENTION_TAG = "sentinel/retention"
PARTITION_TAG = "dagster/partition"
# Dagster's: a failed run with this tag is started again up to N times (the instance's run_retries)
MAX_RETRIES_TAG = "dagster/max_retries"
# dagster-celery's: the Celery queue a run goes to (CeleryRunLauncher; other launchers ignore it)
CELERY_QUEUE_TAG = "dagster-celery/queue"
# Dagster's UI lists a job's runs by this hidden tag, "<repository>@<code location>"; runs launched
# from the UI or a schedule get it from their origin, runs of `sentinel run` and `dagster job
# execute` only from the job's own tags (origin_tags)
REPOSITORY_TAG = ".dagster/repository"
CODE_LOCATION = "sentinel_assets"  # the stock location's name in every workspace file


def origin_tags(location_name: str | None) -> dict[str, str]:
    """Run tags that tie a run to its job page in the UI, whatever started it."""
    return {REPOSITORY_TAG: f"__repository__@{location_name}"} if location_name else {}


BACKFILL_TAG = "dagster/backfill"


def member_tag(alert: str) -> str:
    """The run tag that records one alert's status in a run that evaluated several."""
    return f"{MEMBER_TAG_PREFIX}{alert}"


# --- resource keys (namespaced so that Definitions.merge with a host project cannot collide) --
STATE_KEY = "sentinel_state"


def db_key(database: str) -> str:
    """The resource key of a database."""
    return f"sentinel_db_{database}"


def channel_key(channel: str) -> str:
    """The resource key of a channel."""
    return f"sentinel_channel_{channel}"


# --- definition names -------------------------------------------------------------------------
HEALTH_JOB = "sentinel_healthcheck"
#: the job scheduled ticks run: many alerts per run
GROUP_JOB = "sentinel_evaluate"
RETENTION_JOB = "sentinel_retention"
SPEC_ERRORS_SENSOR = "sentinel_spec_errors"
#: reloads the code location when the spec files change (orchestration/reload.py)
SPEC_RELOAD_SENSOR = "sentinel_spec_reload"
RUN_FAILURE_SENSOR = "sentinel_run_failures"
LIVENESS_SENSOR = "sentinel_liveness"
#: job names a user's alert may not take (with any ``job_prefix``)
RESERVED_NAMES = (HEALTH_JOB, RETENTION_JOB, GROUP_JOB)
#: sentinel's own sensors (schedules and sensors share one namespace in Dagster)
OWN_SENSORS = (SPEC_ERRORS_SENSOR, SPEC_RELOAD_SENSOR, RUN_FAILURE_SENSOR, LIVENESS_SENSOR)
#: the start of every grouped schedule's name (``due_schedule_name``)
DUE_PREFIX = "sentinel_due_"


def reserved_name_clash(name: str) -> str | None:
    """What an alert called ``name`` would collide with among sentinel's own definitions (its
    job ``<name>``, its schedule ``<name>_schedule``), said in words; None when nothing."""
    if name in RESERVED_NAMES:
        return f"sentinel's own job {name!r} (and its schedule {schedule_name(name)!r})"
    if name in OWN_SENSORS:
        return f"sentinel's own sensor {name!r}"
    if name.startswith(DUE_PREFIX):
        return f"sentinel's grouped schedules ({DUE_PREFIX}<hash>_schedule)"
    return None


def due_schedule_name(cron: str, timezone: str, job_prefix: str = "") -> str:
    """The schedule that evaluates every alert on ``cron`` in ``timezone`` (grouped runs)."""
    digest = hashlib.sha256(f"{cron}|{timezone}".encode()).hexdigest()[:8]
    return schedule_name(f"{job_prefix}{DUE_PREFIX}{digest}")


def alert_schedule_name(alert: Any, job_prefix: str = "") -> str:
    """The schedule that evaluates an alert (an ``AlertSpec``): its own for a windowed alert,
    else the grouped schedule of its cron and timezone."""
    if alert.window:
        return schedule_name(f"{job_prefix}{alert.name}")
    return due_schedule_name(alert.schedule, alert.timezone, job_prefix)


def schedule_name(job_name: str) -> str:
    """``<job>_schedule``: the schedule of a job."""
    return f"{job_name}_schedule"
