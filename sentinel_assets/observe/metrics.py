"""Prometheus metrics, computed on each scrape from the Dagster instance and the state store.

Every run process records into the same Dagster storage and state database, so figures read
from there are right however many processes evaluate alerts. Names (stable, see docs/design.md,
"Stable names"):

- ``sentinel_alert_evaluations_total{alert,status}`` (counter): finished runs of the alert's job
  by their ``sentinel/status`` tag (OK, ALERT, ERROR, NO_DATA; NOT_EVALUATED when the run ended
  before the op judged anything);
- ``sentinel_alert_duration_seconds{alert}`` (gauge): start to end of its latest finished run;
- ``sentinel_notifications_total{channel,kind,result}`` (counter): notices in the deliveries
  table; result is ``sent``, ``failed`` (retried on later evaluations) or ``pending``; every
  configured channel's kinds and results are exported from 0, so a first failure is a rise;
- ``sentinel_alert_status{alert}`` (gauge): 0 OK, 1 PENDING, 2 FIRING, 3 ERROR;
- ``sentinel_last_evaluation_timestamp_seconds{alert}`` (gauge): Unix time of the last
  evaluation;
- ``sentinel_scheduled_alerts`` (gauge): alerts whose schedule is running;
- ``sentinel_alert_interval_seconds{alert}`` (gauge): seconds between the enabled alert's last two
  cron ticks before the scrape (its expected interval; a weekday cron's spans the weekend on a
  Monday);
- ``sentinel_daemon_heartbeat_timestamp_seconds{daemon}`` (gauge): Unix time of the last
  heartbeat of each daemon the Dagster instance needs, 0 when it never sent one (not exported
  without a persistent instance).

Evaluation counts are kept incrementally: each scrape reads only runs updated since the previous
one, so a scrape stays cheap however long the history (a restarted exporter counts the runs the
instance still holds). Notification totals are the deliveries table as it is: a notice that
failed and was later sent moves from ``failed`` to ``sent``, and pruned deliveries leave the
totals; Prometheus' ``rate()``/``increase()`` read such a drop as a counter reset.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from datetime import datetime, timezone
from typing import Any, Callable, Iterable

import dagster as dg
import sqlalchemy as sa
from dagster._utils.schedules import reverse_cron_string_iterator
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from sentinel_assets.core.lifecycle import S_ERROR, S_FIRING, S_OK, S_PENDING
from sentinel_assets.core.redaction import redact
from sentinel_assets.names import (
    ALERT_TAG,
    MEMBER_TAG_PREFIX,
    NOT_EVALUATED,
    NOTICE_KINDS,
    STATUS_TAG,
    alert_schedule_name,
)
from sentinel_assets.observe.health import schedule_states
from sentinel_assets.observe.run_scan import ScanPosition, scan_runs
from sentinel_assets.spec.models import AlertSpec, SentinelConfig
from sentinel_assets.state.store import FAILED, PENDING, SENT, StateStore, deliveries_table

STATUS_VALUES = {S_OK: 0, S_PENDING: 1, S_FIRING: 2, S_ERROR: 3}
DELIVERY_RESULTS = (SENT, FAILED, PENDING)
FINISHED = [dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE,
            dg.DagsterRunStatus.CANCELED]
# runs updated this close to the last scrape are read again (clock skew between run workers)
_log = logging.getLogger("sentinel_assets.observe.metrics")


PAGE = 1000


class RunTally:
    """Finished alert runs counted by (alert, status), kept up to date incrementally.

    A run is counted once, when first seen finished. Adding tags to a run later bumps its update
    time; such a run is recognised by an end time older than the window already read.
    """

    def __init__(self) -> None:
        self.evaluations: Counter[tuple[str, str]] = Counter()
        self.last_run: dict[str, tuple[float, float]] = {}  # alert -> (end time, duration)
        self._position = ScanPosition()
        self._lock = threading.Lock()

    def refresh(self, instance: dg.DagsterInstance) -> None:
        """Read the runs updated since the last refresh."""
        with self._lock:
            for scanned in scan_runs(instance, FINISHED, self._position, PAGE):
                if not scanned.old:  # an old run finished (and was counted) before the window
                    self._count(scanned.record)

    def _count(self, record: Any) -> None:
        run = record.dagster_run
        evaluated = evaluated_alerts(run.tags)
        for alert_name, status in evaluated.items():
            self.evaluations[(alert_name, status)] += 1
        alert = run.tags.get(ALERT_TAG)
        if alert and record.start_time and record.end_time:
            previous = self.last_run.get(alert)
            if previous is None or record.end_time >= previous[0]:
                self.last_run[alert] = (record.end_time, record.end_time - record.start_time)


def evaluated_alerts(tags: dict[str, str]) -> dict[str, str]:
    """Alert -> status of the evaluations a run made: its own alert, or a batch's members."""
    if ALERT_TAG in tags:
        return {tags[ALERT_TAG]: tags.get(STATUS_TAG) or NOT_EVALUATED}
    return {k[len(MEMBER_TAG_PREFIX):]: v for k, v in tags.items() if k.startswith(MEMBER_TAG_PREFIX)}


class SentinelCollector(Collector):
    """Computes every sentinel metric on each scrape (see the module docstring).

    Example:
        .. code-block:: python

            registry = build_registry(config, lambda: dg.DagsterInstance.get(), store)
            text = prometheus_client.generate_latest(registry)
    """

    def __init__(self, config: SentinelConfig,
                 instance: Callable[[], dg.DagsterInstance | None] | dg.DagsterInstance | None,
                 store: StateStore | Callable[[], StateStore], job_prefix: str = ""):
        self.config = config
        self._instance = instance
        self._store = store
        self.job_prefix = job_prefix
        self.tally = RunTally()

    def _get(self, source: Any) -> Any:
        return source() if callable(source) else source

    def collect(self) -> Iterable[Metric]:
        instance = self._get(self._instance)
        yield from self._run_metrics(instance)
        yield from self._state_metrics()
        yield self._scheduled(instance)
        yield self._intervals(datetime.now(timezone.utc))
        yield self._daemons(instance)

    def _run_metrics(self, instance: dg.DagsterInstance | None) -> Iterable[Metric]:
        evaluations = CounterMetricFamily(
            "sentinel_alert_evaluations", "Finished evaluation runs per alert, by outcome "
            "(NOT_EVALUATED: the run ended before the op judged anything).",
            labels=["alert", "status"])
        duration = GaugeMetricFamily(
            "sentinel_alert_duration_seconds", "Start to end of the alert's latest finished run.",
            labels=["alert"])
        if instance is not None:
            try:
                self.tally.refresh(instance)
            except Exception as exc:  # noqa: BLE001 - serve the other figures anyway
                _log.warning("cannot read runs from the Dagster instance: %s", redact(str(exc)))
        for (alert, status), count in sorted(self.tally.evaluations.items()):
            evaluations.add_metric([alert, status], count)
        for alert, (_, seconds) in sorted(self.tally.last_run.items()):
            duration.add_metric([alert], seconds)
        return [evaluations, duration]

    def _state_metrics(self) -> Iterable[Metric]:
        notifications = CounterMetricFamily(
            "sentinel_notifications", "Notices per channel and kind, by delivery result "
            "(sent, failed, pending).", labels=["channel", "kind", "result"])
        status = GaugeMetricFamily(
            "sentinel_alert_status", "Alert state: 0 OK, 1 PENDING, 2 FIRING, 3 ERROR.",
            labels=["alert"])
        last = GaugeMetricFamily(
            "sentinel_last_evaluation_timestamp_seconds",
            "Unix time of the alert's last evaluation.", labels=["alert"])
        try:
            store = self._get(self._store)
            counts = {(channel, kind, result): 0 for channel in self.config.channels
                      for kind in NOTICE_KINDS for result in DELIVERY_RESULTS}
            for channel, kind, result, count in delivery_counts(store):
                counts[(channel, kind, result)] = count
            for labels, count in sorted(counts.items()):
                notifications.add_metric(list(labels), count)
            states = store.all_states()
            for alert in sorted(a.name for a in self.config.alerts):
                state = states.get(alert)
                if state is None or state.last_evaluated_at is None:
                    continue
                status.add_metric([alert], STATUS_VALUES.get(state.status, 3))
                last.add_metric([alert], state.last_evaluated_at.timestamp())
        except Exception as exc:  # noqa: BLE001
            _log.warning("cannot read the state store: %s", redact(str(exc)))
        return [notifications, status, last]

    def _scheduled(self, instance: dg.DagsterInstance | None) -> Metric:
        try:
            stored = schedule_states(instance)
        except Exception as exc:  # noqa: BLE001
            _log.warning("cannot read schedule states: %s", redact(str(exc)))
            stored = {}
        running = 0
        for alert in self.config.alerts:
            info = stored.get(alert_schedule_name(alert, self.job_prefix))
            running += info.running if info else alert.enabled
        gauge = GaugeMetricFamily("sentinel_scheduled_alerts",
                                  "Alerts whose schedule is running.")
        gauge.add_metric([], running)
        return gauge


    def _intervals(self, now: datetime) -> Metric:
        gauge = GaugeMetricFamily(
            "sentinel_alert_interval_seconds",
            "Seconds between the alert's last two scheduled ticks (its expected interval).",
            labels=["alert"])
        # one cron computation per distinct schedule and timezone (thousands of alerts share a few;
        # a few milliseconds each would otherwise make a scrape of 2,000 alerts take seconds)
        seen: dict[tuple[str, str], float] = {}
        for alert in sorted(self.config.alerts, key=lambda a: a.name):
            if alert.enabled:
                key = (alert.schedule, alert.timezone)
                if key not in seen:
                    seen[key] = cron_interval(alert, now)
                gauge.add_metric([alert.name], seen[key])
        return gauge

    def _daemons(self, instance: dg.DagsterInstance | None) -> Metric:
        gauge = GaugeMetricFamily(
            "sentinel_daemon_heartbeat_timestamp_seconds",
            "Unix time of the daemon's last heartbeat (0: never), per daemon the instance needs.",
            labels=["daemon"])
        if instance is None or instance.is_ephemeral:
            return gauge
        try:
            heartbeats = instance.get_daemon_heartbeats()
            for daemon in sorted(instance.get_required_daemon_types()):
                beat = heartbeats.get(daemon)
                gauge.add_metric([daemon], beat.timestamp if beat else 0.0)
        except Exception as exc:  # noqa: BLE001
            _log.warning("cannot read daemon heartbeats: %s", redact(str(exc)))
        return gauge


def cron_interval(alert: AlertSpec, now: datetime) -> float:
    """Seconds between the alert's last two cron ticks at or before ``now``."""
    ticks = reverse_cron_string_iterator(now.timestamp(), alert.schedule, alert.timezone)
    last = next(ticks)
    return (last - next(ticks)).total_seconds()


def delivery_counts(store: StateStore) -> list[tuple[str, str, str, int]]:
    """(channel, kind, result, count) over the deliveries table."""
    t = deliveries_table
    query = (sa.select(t.c.channel, t.c.kind, t.c.status, sa.func.count())
             .group_by(t.c.channel, t.c.kind, t.c.status)
             .order_by(t.c.channel, t.c.kind, t.c.status))
    with store.engine.connect() as conn:
        return [(r[0], r[1], r[2], int(r[3])) for r in conn.execute(query).all()]


def build_registry(config: SentinelConfig, instance: Any, store: Any,
                   job_prefix: str = "") -> CollectorRegistry:
    """A fresh registry holding only the sentinel collector (no process/platform metrics)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SentinelCollector(config, instance, store, job_prefix))
    return registry
