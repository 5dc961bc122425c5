"""The bundled demo database: a small shop whose numbers make some demo alerts fire.

Dates are relative to today so the demo alerts behave the same whenever they run.
"""

from __future__ import annotations

import sqlite3
import sys
from datetime import date, timedelta
from pathlib import Path

DEFAULT_PATH = Path("demo/demo.db")


def build_demo_db(path: Path | str = DEFAULT_PATH, today: date | None = None) -> Path:
    """(Re)create the demo SQLite database at ``path`` and return it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    today = today or date.today()
    conn = sqlite3.connect(tmp)
    conn.executescript(
        """
        CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, country TEXT);
        CREATE TABLE orders (
            id INTEGER PRIMARY KEY, customer_id INTEGER, order_date TEXT NOT NULL,
            amount REAL NOT NULL, status TEXT NOT NULL, shipped_date TEXT
        );
        CREATE TABLE pipeline_runs (name TEXT PRIMARY KEY, finished_at TEXT NOT NULL);
        """
    )
    conn.executemany(
        "INSERT INTO customers VALUES (?, ?, ?)",
        [(i, f"customer {i}", ["DE", "FR", "US", "GB"][i % 4]) for i in range(1, 41)],
    )
    rows = []
    order_id = 0
    for days_ago in range(30, 0, -1):
        day = today - timedelta(days=days_ago)
        # yesterday's revenue is low on purpose: the revenue alert fires
        per_day = 6 if days_ago == 1 else 25
        for n in range(per_day):
            order_id += 1
            amount = 420.0 + (order_id * 37) % 300
            shipped = None if (days_ago < 3 and n % 5 == 0) else str(day + timedelta(days=1))
            customer = None if order_id % 97 == 0 else 1 + order_id % 40
            rows.append((order_id, customer, str(day), amount, "paid", shipped))
    conn.executemany("INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?)", rows)
    conn.executemany(
        "INSERT INTO pipeline_runs VALUES (?, ?)",
        [("daily_orders", f"{today} 03:12:00"), ("customer_sync", f"{today - timedelta(days=2)} 04:00:00")],
    )
    conn.commit()
    conn.close()
    tmp.replace(path)
    return path


if __name__ == "__main__":
    target = build_demo_db(sys.argv[1] if len(sys.argv) > 1 else DEFAULT_PATH)
    print(f"demo database written to {target}")
