"""One incremental scan over finished runs, shared by the metrics and the run-failure sensor.

Runs are read in order of their last update, from where the previous scan stopped minus an
overlap (clocks of several processes and late commits), in pages. A run is handed out once: the
ids seen inside the overlap are remembered. Adding tags to a finished run later bumps its update
time; such a run is recognised by an end time older than the window already read and reported as
``old`` so that a caller does not count it twice.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator, Sequence

import dagster as dg

OVERLAP = timedelta(minutes=5)
PAGE = 200


@dataclass
class ScanPosition:
    """Where a scan stopped: the newest run update read, and the run ids seen near it."""

    after: datetime | None = None
    seen: dict[str, float] = field(default_factory=dict)

    @property
    def floor(self) -> datetime | None:
        """Runs that ended before this were read by an earlier scan."""
        return self.after - OVERLAP if self.after else None

    def serialize(self) -> str:
        after = self.after.timestamp() if self.after else None
        return json.dumps({"after": after, "seen": self.seen}, sort_keys=True)

    @classmethod
    def parse(cls, text: str | None, default_after: datetime | None) -> "ScanPosition":
        """A cursor written by ``serialize``; an empty or foreign one starts at ``default_after``."""
        try:
            data = json.loads(text) if text else None
            return cls(datetime.fromtimestamp(data["after"], tz=timezone.utc), dict(data["seen"]))
        except (TypeError, ValueError, KeyError):
            return cls(default_after, {})


@dataclass(frozen=True)
class ScannedRun:
    """A finished run handed out by a scan; ``old``: it ended before the scanned window."""

    record: Any
    ended_at: datetime
    old: bool

    @property
    def run(self) -> dg.DagsterRun:
        return self.record.dagster_run


def ended_at(record: Any) -> datetime:
    """When a run ended (its last update when the end time is missing)."""
    if record.end_time:
        return datetime.fromtimestamp(record.end_time, tz=timezone.utc)
    return record.update_timestamp


def scan_runs(instance: dg.DagsterInstance, statuses: Sequence[dg.DagsterRunStatus],
              position: ScanPosition, page: int = PAGE) -> Iterator[ScannedRun]:
    """Each run with one of ``statuses`` updated since ``position``, once; advances ``position``."""
    floor = position.floor
    fetch_after = floor
    newest = position.after
    while True:
        records = instance.get_run_records(
            filters=dg.RunsFilter(statuses=list(statuses), updated_after=fetch_after),
            order_by="update_timestamp", ascending=True, limit=page,
        )
        for record in records:
            updated = record.update_timestamp
            newest = max(newest, updated) if newest else updated
            run_id = record.dagster_run.run_id
            if run_id in position.seen:
                continue
            end = ended_at(record)
            position.seen[run_id] = end.timestamp()
            yield ScannedRun(record, end, old=floor is not None and end < floor)
        if len(records) < page or (fetch_after and records[-1].update_timestamp <= fetch_after):
            break
        fetch_after = records[-1].update_timestamp
    if newest is not None:
        position.after = newest
        keep_from = (newest - 2 * OVERLAP).timestamp()
        position.seen = {k: v for k, v in position.seen.items() if v >= keep_from}
