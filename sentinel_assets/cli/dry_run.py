"""``sentinel validate --dry-run``: what each BigQuery alert would scan and cost, before it runs.

Each BigQuery alert's query runs as a BigQuery dry run (nothing is executed or billed); the bytes
it would process give an estimated on-demand cost at a price per TiB. A query that would process
more than its ``maximum_bytes_billed`` (the alert's, else its database's) is reported as an error,
because BigQuery would refuse to run it on every scheduled evaluation.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sentinel_assets.cli.format import table
from sentinel_assets.databases.errors import QueryError
from sentinel_assets.spec.errors import SpecError
from sentinel_assets.spec.models import AlertSpec, DatabaseSpec, SentinelConfig

DEFAULT_PRICE_PER_TIB = 6.25  # USD, BigQuery on-demand pricing in the US multi-region
TIB = 2**40


@dataclass(frozen=True)
class DryRunEstimate:
    """The dry run of one alert: bytes it would process and the estimated cost, or why not."""

    alert: str
    database: str
    bytes_processed: int | None
    cost: float | None
    maximum_bytes_billed: int | None
    error: SpecError | None = None

    @property
    def result(self) -> str:
        if self.error is None:
            return "ok"
        return "over maximum_bytes_billed" if self.bytes_processed is not None else "failed"

    def as_dict(self) -> dict[str, Any]:
        return {
            "alert": self.alert,
            "database": self.database,
            "bytes_processed": self.bytes_processed,
            "estimated_cost": self.cost,
            "maximum_bytes_billed": self.maximum_bytes_billed,
            "result": self.result,
            "error": self.error.message if self.error else None,
        }


def dry_run_alerts(config: SentinelConfig, price_per_tib: float = DEFAULT_PRICE_PER_TIB,
                   now: datetime | None = None) -> list[DryRunEstimate]:
    """Dry-run every alert of ``config`` whose database is BigQuery (others are skipped).

    Windowed alerts get the day before ``now`` as ``:window_start``/``:window_end``.
    """
    from sentinel_assets.orchestration.resources import database_resource

    now = now or datetime.now(timezone.utc)
    databases: dict[str, Any] = {}
    estimates = []
    for alert in config.alerts:
        spec = config.databases.get(alert.database)
        if spec is None or not spec.is_bigquery:
            continue
        if alert.database not in databases:
            databases[alert.database] = database_resource(spec, env_vars=False)
        estimates.append(_estimate(alert, spec, databases[alert.database], price_per_tib, now))
    return estimates


def dry_run_table(estimates: list[DryRunEstimate], price_per_tib: float) -> str:
    """The estimates as a text table, with the price they assume."""
    rows = [(e.alert, e.database, _bytes(e.bytes_processed),
             "-" if e.cost is None else _money(e.cost), _bytes(e.maximum_bytes_billed), e.result)
            for e in estimates]
    heading = (f"BigQuery dry run: {len(estimates)} alert(s), estimated at "
               f"{_money(price_per_tib)} per TiB processed")
    return "\n".join([heading, table(["alert", "database", "bytes processed", "estimated cost",
                                      "maximum_bytes_billed", "result"], rows)])


def _estimate(alert: AlertSpec, spec: DatabaseSpec, database: Any, price_per_tib: float,
              now: datetime) -> DryRunEstimate:
    limit = alert.maximum_bytes_billed or spec.maximum_bytes_billed
    # a windowed query needs values to compile; a day is a typical window (the estimate of a
    # query that prunes partitions on them is the bytes of one such window)
    params = {"window_start": now - timedelta(days=1), "window_end": now} if alert.window else {}
    try:
        scanned = database.dry_run(alert.query, params, timeout=alert.timeout.total_seconds())
    except QueryError as exc:
        error = _error(alert, "query", f"the BigQuery dry run failed: {exc}")
        return DryRunEstimate(alert.name, alert.database, None, None, limit, error)
    error = None
    if limit and scanned > limit:
        source = "the alert" if alert.maximum_bytes_billed else f"database '{alert.database}'"
        error = _error(alert, "maximum_bytes_billed",
                       f"the query would process {_bytes(scanned)} ({scanned} bytes), more than "
                       f"maximum_bytes_billed {_bytes(limit)} ({limit} bytes, set on {source}), so "
                       "BigQuery would refuse to run it; raise maximum_bytes_billed or make the "
                       "query scan less (filter on the partition column, select fewer columns)")
    return DryRunEstimate(alert.name, alert.database, scanned, scanned / TIB * price_per_tib,
                          limit, error)


def _error(alert: AlertSpec, field: str, message: str) -> SpecError:
    return SpecError(file=alert.source_file, message=message, line=alert.source_line,
                     alert=alert.name, field=field)


def _bytes(value: int | None) -> str:
    if value is None:
        return "-"
    units = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")
    size, index = float(value), 0
    while size >= 1024 and index < len(units) - 1:
        size, index = size / 1024, index + 1
    return f"{value} B" if index == 0 else f"{size:.1f} {units[index]}"


def _money(value: float) -> str:
    if 0 < value < 0.0001:
        return "< $0.0001"
    return f"${value:,.2f}" if value >= 1 or value == 0 else f"${value:.4f}"
