"""Helpers that set up the bundled demo (specs + database) in a temp dir for tests."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from sentinel_assets.cli.demo import build_demo_db
from sentinel_assets_tests.helpers import DEMO_SPECS


def make_demo(tmp_path: Path, monkeypatch) -> tuple[Path, Path]:
    """Copy the demo specs and build a demo DB under ``tmp_path``; returns (specs_dir, db)."""
    specs = tmp_path / "alert_specs"
    shutil.copytree(DEMO_SPECS, specs)
    db = build_demo_db(tmp_path / "demo.db")
    monkeypatch.setenv("DEMO_DATABASE_URL", f"sqlite:///{db}")
    monkeypatch.setenv("SENTINEL_SPECS_DIR", str(specs))
    return specs, db


def set_yesterday_revenue(db: Path, amount: float) -> None:
    """Make yesterday's revenue exactly ``amount`` (fires/clears orders_revenue_low)."""
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM orders WHERE order_date = DATE('now', '-1 day')")
        conn.execute(
            "INSERT INTO orders (customer_id, order_date, amount, status, shipped_date) "
            "VALUES (1, DATE('now', '-1 day'), ?, 'paid', DATE('now'))",
            (amount,),
        )
