"""Is sentinel itself alive? The checks behind the healthcheck job, the CLI and ``/health``.

Each check returns a ``CheckResult`` (name, status, detail, latency). Statuses: ``ok``, ``warn``,
``fail`` and ``skip`` (nothing to check here). The report is ``unhealthy`` when a check failed,
``degraded`` when one warned, else ``healthy``:

- ``state_store`` (fail): the sentinel state database answers;
- ``database:<name>`` (fail): connect and run a trivial query (the resource's ``ping()``);
- ``channel:<name>`` (warn): the channel's configuration resolves, and where the channel has a
  cheap ``check()`` that sends nothing (SMTP ``NOOP``, Slack ``auth.test``), it passes;
- ``daemon`` (fail): each daemon the Dagster instance needs sent a recent heartbeat;
- ``alerts`` / ``alert:<name>`` (warn): enabled alerts whose last evaluation is older than two of
  their cron ticks plus a grace period (schedule stopped, runs stuck in the queue or dying
  before the op);
- ``specs`` (warn): spec errors, with every error listed.

Nothing here sends a notice or writes state: the healthcheck job does that (``health_defs``).
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterable, Mapping

import dagster as dg
from dagster._utils.schedules import cron_string_iterator, reverse_cron_string_iterator

from sentinel_assets.core.redaction import redact
from sentinel_assets.names import (
    STATE_KEY,
    Health,
    ProbeResult,
    alert_schedule_name,
    channel_key,
    db_key,
)
from sentinel_assets.spec.models import AlertSpec, SentinelConfig

# plain strings: they reach Dagster metadata and JSON output
OK, WARN, FAIL, SKIP = (c.value for c in ProbeResult)
HEALTHY, DEGRADED, UNHEALTHY = (h.value for h in Health)
EXIT_CODES = {HEALTHY: 0, DEGRADED: 1, UNHEALTHY: 2}

# an alert is stale when it missed two scheduled ticks that are older than this
STALE_GRACE = timedelta(minutes=10)
# a daemon heartbeat older than this (the daemon beats every 30 s) means it is not running
DAEMON_TOLERANCE = timedelta(minutes=5)


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check."""

    name: str
    status: str
    detail: str
    latency_ms: float | None = None

    def as_dict(self) -> dict[str, Any]:
        latency = None if self.latency_ms is None else round(self.latency_ms, 3)
        return {"name": self.name, "status": self.status, "detail": self.detail,
                "latency_ms": latency}


@dataclass(frozen=True)
class HealthReport:
    """Every check of one healthcheck and the verdict."""

    status: str
    checks: tuple[CheckResult, ...]
    checked_at: datetime

    @property
    def problems(self) -> list[CheckResult]:
        return [c for c in self.checks if c.status in (WARN, FAIL)]

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.status]

    def summary(self) -> str:
        """One sentence: the verdict and what is wrong."""
        problems = self.problems
        if not problems:
            return f"sentinel is {self.status}: {len(self.checks)} check(s) passed"
        listing = "; ".join(f"{c.name}: {c.detail}" for c in problems)
        return f"sentinel is {self.status}: {len(problems)} problem(s): {listing}"

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status, "checked_at": self.checked_at.isoformat(),
                "summary": self.summary(), "checks": [c.as_dict() for c in self.checks]}


def overall_status(checks: Iterable[CheckResult]) -> str:
    """``unhealthy`` if any check failed, ``degraded`` if any warned, else ``healthy``."""
    statuses = {c.status for c in checks}
    if FAIL in statuses:
        return UNHEALTHY
    if WARN in statuses:
        return DEGRADED
    return HEALTHY


def describe_error(exc: BaseException) -> str:
    """A short, credential-free sentence for an exception from a check."""
    text = str(exc)
    if "which is not set" in text and "environment variable" in text:
        start = text.index("environment variable")
        name = text[start:].split('"')[1] if '"' in text[start:] else "?"
        return f"the environment variable {name} is not set in this process"
    first = text.strip().splitlines()[0] if text.strip() else ""
    if type(exc).__module__.startswith("sentinel_assets") and first:
        return redact(first)  # our own errors are already sentences
    return redact(f"{type(exc).__name__}: {first}" if first else type(exc).__name__)


def initialize(resource: Any) -> Any:
    """The usable value of a resource definition (``dg.EnvVar`` fields resolved).

    Dagster initialises a resource with an ephemeral instance whose in-memory SQLite storage
    holds a connection; the context manager closes it here, in the thread that opened it (the
    probes run on a thread pool), instead of leaving it to the garbage collector of another
    thread ("SQLite objects created in a thread can only be used in that same thread"). Our
    resources have no teardown, so their value outlives the context.
    """
    if isinstance(resource, dg.ConfigurableResource):
        with resource.process_config_and_initialize_cm() as value:
            return value
    return resource


def _timed(name: str, fn: Callable[[], tuple[str, str]], fail_as: str = FAIL) -> CheckResult:
    started = time.perf_counter()
    try:
        status, detail = fn()
    except Exception as exc:  # noqa: BLE001 - every failure is a finding, never a crash
        status, detail = fail_as, describe_error(exc)
    return CheckResult(name, status, detail, (time.perf_counter() - started) * 1000)


# -- state store, databases, channels --------------------------------------------------------------
def check_state_store(resources: Mapping[str, Any]) -> tuple[CheckResult, Any]:
    """``state_store``: the store answers a trivial query. Returns the check and the store."""
    holder: dict[str, Any] = {}

    def run() -> tuple[str, str]:
        store = initialize(resources[STATE_KEY]).store()
        store.ping()
        holder["store"] = store
        return OK, f"answers ({store.engine.dialect.name})"

    return _timed("state_store", run), holder.get("store")


def check_database(name: str, resource: Any) -> CheckResult:
    """``database:<name>``: connect and run a trivial query through the resource's ``ping()``."""

    def run() -> tuple[str, str]:
        if resource is None:
            return FAIL, "no resource was built for this database"
        db = initialize(resource)
        db.ping()
        return OK, "connected and answered a trivial query"

    return _timed(f"database:{name}", run)


def check_channel(name: str, spec: Any, resource: Any) -> CheckResult:
    """``channel:<name>``: configuration resolves; ``check()`` passes where the channel has one."""

    def run() -> tuple[str, str]:
        if resource is None:
            return WARN, (f"no notifier for channel type {getattr(spec, 'type', '?')!r} is "
                          "installed; its notices cannot be delivered")
        channel = initialize(resource)
        probe = getattr(channel, "check", None)
        if not callable(probe):
            return OK, "configured (reachability is not checked for this channel type)"
        try:
            said = probe()
        except Exception as exc:  # noqa: BLE001 - check() raises with a sentence to show
            return WARN, redact(str(exc).strip().splitlines()[0] if str(exc).strip()
                                else type(exc).__name__)
        return OK, f"configured and reachable{f' ({said})' if said else ''}"

    return _timed(f"channel:{name}", run, fail_as=WARN)


# -- Dagster daemon -------------------------------------------------------------------------------
def check_daemons(instance: dg.DagsterInstance | None, now: datetime,
                  tolerance: timedelta = DAEMON_TOLERANCE) -> CheckResult:
    """``daemon``: each daemon the instance needs sent a heartbeat within ``tolerance``."""
    if instance is None or instance.is_ephemeral:
        return CheckResult("daemon", SKIP, "no persistent Dagster instance (DAGSTER_HOME unset): "
                           "daemon heartbeats not checked")
    started = time.perf_counter()
    try:
        required = list(instance.get_required_daemon_types())
        heartbeats = instance.get_daemon_heartbeats()
    except Exception as exc:  # noqa: BLE001
        return CheckResult("daemon", FAIL, f"cannot read daemon heartbeats: {describe_error(exc)}",
                           (time.perf_counter() - started) * 1000)
    latency = (time.perf_counter() - started) * 1000
    missing, late, erring, ages = [], [], [], []
    for daemon_type in required:
        beat = heartbeats.get(daemon_type)
        if beat is None:
            missing.append(daemon_type)
            continue
        age = now.timestamp() - beat.timestamp
        ages.append(age)
        if age > tolerance.total_seconds():
            late.append(f"{daemon_type} {_ago(age)} ago")
        elif beat.errors:
            message = beat.errors[0].message.strip() if beat.errors[0].message else ""
            erring.append(f"{daemon_type}: {redact(message.splitlines()[0]) if message else '?'}")
    problems = []
    if missing:
        problems.append(f"no heartbeat from {', '.join(missing)}")
    if late:
        problems.append(f"last heartbeat of {', '.join(late)} (tolerance "
                        f"{_ago(tolerance.total_seconds())})")
    if problems:
        return CheckResult("daemon", FAIL, "; ".join(problems) + ": is `dagster-daemon run` "
                           "running against this instance?", latency)
    if erring:
        return CheckResult("daemon", WARN, f"running, with errors: {'; '.join(erring)}", latency)
    oldest = f"; oldest heartbeat {_ago(max(ages))} ago" if ages else ""
    return CheckResult("daemon", OK, f"{len(required)} daemon(s) running{oldest}", latency)


def _ago(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    if seconds < 172800:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"


# -- stale alerts ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class StaleAlert:
    """An enabled alert that missed (at least) its last two scheduled evaluations."""

    alert: str
    schedule: str
    last_evaluated_at: datetime | None
    missed_since: datetime
    schedule_running: bool | None = None  # None: the instance has no stored state for it

    def describe(self) -> str:
        last = (f"last evaluated {self.last_evaluated_at.isoformat(timespec='seconds')}"
                if self.last_evaluated_at else "never evaluated")
        why = ""
        if self.schedule_running is False:
            why = "; its schedule is stopped"
        return (f"{self.alert} missed its scheduled evaluations ('{self.schedule}') since "
                f"{self.missed_since.isoformat(timespec='seconds')}: {last}{why}")


@dataclass(frozen=True)
class ScheduleInfo:
    """What the Dagster instance knows about one schedule."""

    running: bool
    started_at: datetime | None = None


def schedule_states(instance: dg.DagsterInstance | None) -> dict[str, ScheduleInfo]:
    """Schedule name -> stored state (toggled in the UI or by the daemon), by name."""
    if instance is None or instance.is_ephemeral:
        return {}
    from dagster._core.scheduler.instigation import InstigatorType

    found: dict[str, ScheduleInfo] = {}
    for state in instance.all_instigator_state(instigator_type=InstigatorType.SCHEDULE):
        data = state.instigator_data
        start = getattr(data, "start_timestamp", None)
        info = ScheduleInfo(state.is_running,
                            datetime.fromtimestamp(start, tz=timezone.utc) if start else None)
        # the same name in two code locations: running if either runs
        if state.name not in found or info.running:
            found[state.name] = info
    return found


def find_stale_alerts(
    alerts: Iterable[AlertSpec],
    last_evaluated: Mapping[str, datetime | None],
    schedules: Mapping[str, ScheduleInfo],
    now: datetime,
    *,
    job_prefix: str = "",
    grace: timedelta = STALE_GRACE,
) -> list[StaleAlert]:
    """Enabled alerts whose last evaluation is older than their last two ticks before
    ``now - grace``.

    That is "older than two cron intervals plus a grace period", measured in the alert's own
    ticks, so a weekday-only cron is not stale over a weekend. An alert never evaluated counts
    from the moment its schedule was started, when the instance knows it.
    """
    stale = []
    for alert in alerts:
        if not alert.enabled:
            continue
        info = schedules.get(alert_schedule_name(alert, job_prefix))
        last = last_evaluated.get(alert.name)
        reference = last or (info.started_at if info else None)
        if reference is None:
            continue
        ticks = reverse_cron_string_iterator((now - grace).timestamp(), alert.schedule,
                                             alert.timezone)
        next(ticks)
        second_last = next(ticks)
        if reference >= second_last:
            continue
        missed = next(t for t in cron_string_iterator(reference.timestamp(), alert.schedule,
                                                      alert.timezone) if t > reference)
        stale.append(StaleAlert(alert.name, alert.schedule, last, missed.astimezone(timezone.utc),
                                info.running if info else None))
    return stale


def check_alerts(stale: list[StaleAlert], enabled: int) -> list[CheckResult]:
    """``alerts`` (a summary) and one ``alert:<name>`` per stale alert."""
    if not stale:
        return [CheckResult("alerts", OK, f"{enabled} enabled alert(s); none missed its schedule")]
    names = ", ".join(s.alert for s in stale)
    results = [CheckResult("alerts", WARN, f"{len(stale)} of {enabled} enabled alert(s) missed "
                           f"their scheduled evaluations: {names}")]
    results += [CheckResult(f"alert:{s.alert}", WARN, s.describe()) for s in stale]
    return results


def check_specs(config: SentinelConfig) -> CheckResult:
    """``specs``: every spec error (alerts with errors are not loaded)."""
    errors = [e for e in config.errors if not getattr(e, "warning", False)]
    if not errors:
        return CheckResult("specs", OK, f"{len(config.alerts)} alert(s) loaded without errors")
    listing = "; ".join(str(e) for e in errors)
    return CheckResult("specs", WARN, f"{len(errors)} spec error(s), the alerts concerned are not "
                       f"loaded: {listing}")


# -- everything -----------------------------------------------------------------------------------
@dataclass
class HealthInputs:
    """What a healthcheck looks at; built by the op, the CLI and the exporter alike."""

    config: SentinelConfig
    resources: Mapping[str, Any]
    instance: dg.DagsterInstance | None = None
    job_prefix: str = ""
    grace: timedelta = STALE_GRACE
    daemon_tolerance: timedelta = DAEMON_TOLERANCE


def run_healthcheck(inputs: HealthInputs, now: datetime | None = None) -> HealthReport:
    """Run every check; databases and channels in parallel. Never raises for a finding."""
    now = now or datetime.now(timezone.utc)
    config, resources = inputs.config, inputs.resources
    state_check, store = check_state_store(resources)
    probes: list[Callable[[], CheckResult]] = [
        (lambda n=name: check_database(n, resources.get(db_key(n)))) for name in config.databases
    ]
    probes += [
        (lambda n=name, s=spec: check_channel(n, s, resources.get(channel_key(n))))
        for name, spec in config.channels.items()
    ]
    with ThreadPoolExecutor(max_workers=8) as pool:
        probed = list(pool.map(lambda probe: probe(), probes))
    checks = [state_check, *probed]
    checks.append(check_daemons(inputs.instance, now, inputs.daemon_tolerance))
    enabled = [a for a in config.alerts if a.enabled]
    if store is None:
        checks.append(CheckResult("alerts", SKIP, "state store unavailable: last evaluations "
                                  "unknown"))
    else:
        try:
            last = {name: s.last_evaluated_at for name, s in store.all_states().items()}
            schedules = schedule_states(inputs.instance)
            stale = find_stale_alerts(enabled, last, schedules, now, job_prefix=inputs.job_prefix,
                                      grace=inputs.grace)
            checks += check_alerts(stale, len(enabled))
        except Exception as exc:  # noqa: BLE001
            checks.append(CheckResult("alerts", WARN, f"cannot tell which alerts are late: "
                                      f"{describe_error(exc)}"))
    checks.append(check_specs(config))
    return HealthReport(overall_status(checks), tuple(checks), now)
