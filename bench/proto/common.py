"""Shared helpers for the topology prototypes (plain dagster only, no sentinel_assets import).

Alerts: N synthetic alerts, alert i -> database db{i%4}, cron CRONS[(i//4)%2].
A "query" is a sqlite3 in-memory SELECT (one connection per database, reused).
"""

from __future__ import annotations

import os
import resource
import sqlite3
import time

DATABASES = ["db0", "db1", "db2", "db3"]
CRONS = ["*/5 * * * *", "2-59/5 * * * *"]
SHARD = int(os.environ.get("PROTO_SHARD", "500"))


def alert_name(i: int) -> str:
    return f"alert_{i:05d}"


def gen_alerts(n: int) -> list[dict]:
    out = []
    for i in range(n):
        out.append(
            {
                "name": alert_name(i),
                "database": DATABASES[i % 4],
                "cron": CRONS[(i // 4) % 2],
                "sql": f"SELECT {i} % 97 AS value",
                "threshold": 50.0,
                "operator": ">",
                "severity": "critical" if i % 3 == 0 else "warning",
                "description": f"synthetic alert {i}",
                "owner": f"team-{i % 7}",
            }
        )
    return out


def alerts_by_db(alerts):
    by = {db: [] for db in DATABASES}
    for a in alerts:
        by[a["database"]].append(a)
    return by


def shards(seq, size=SHARD):
    return [seq[i : i + size] for i in range(0, len(seq), size)]


_CONNS: dict[str, sqlite3.Connection] = {}
FIRST_QUERY_FILE = os.environ.get("PROTO_FIRST_QUERY_FILE")
_first_written = False


def run_query(alert: dict) -> dict:
    """Mimic evaluating one alert: a sqlite SELECT + judge. Returns the ~8 metadata entries."""
    global _first_written
    if FIRST_QUERY_FILE and not _first_written:
        _first_written = True
        with open(FIRST_QUERY_FILE, "w") as f:
            f.write(repr(time.time()))
    conn = _CONNS.get(alert["database"])
    if conn is None:
        conn = _CONNS[alert["database"]] = sqlite3.connect(":memory:")
    t0 = time.perf_counter()
    (value,) = conn.execute(alert["sql"]).fetchone()
    ms = (time.perf_counter() - t0) * 1000
    value = float(value)
    firing = value > alert["threshold"]
    return {
        "passed": not firing,
        "metadata": {
            "status": "ALERT" if firing else "OK",
            "value": value,
            "threshold": alert["threshold"],
            "message": f"{alert['name']}: value {value} {'>' if firing else '<='} {alert['threshold']}",
            "database": alert["database"],
            "severity": alert["severity"],
            "query_ms": round(ms, 3),
            "sql": alert["sql"],
        },
    }


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def load_variant(name: str):
    import importlib

    return importlib.import_module(f"variant_{name}")
