"""What every database adapter offers the engine: run one query under a timeout, and a ping."""

from __future__ import annotations

from typing import Any, Mapping, Protocol, runtime_checkable

from sentinel_assets.core.query_result import QueryResult


@runtime_checkable
class Database(Protocol):
    """A database alert queries run against (``SqlDatabase``, ``BigQueryDatabase``).

    ``query`` raises ``QueryError`` (``QueryTimeout`` for a timeout) with a message safe to
    show: no password, no key. Backend options (BigQuery's ``maximum_bytes_billed``) are passed
    only when the alert sets them.
    """

    def query(self, sql: str, params: Mapping[str, Any] | None = None, *,
              timeout: float = 60.0, max_rows: int = 1000,
              labels: Mapping[str, str] | None = None, **options: Any) -> QueryResult:
        """Run ``sql`` with bound ``:name`` params; at most ``max_rows`` rows."""
        ...

    def ping(self) -> float:
        """Connect and run a trivial query; seconds it took (the healthcheck)."""
        ...
