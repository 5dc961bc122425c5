"""Generate N synthetic alerts into a specs directory, for the benchmarks.

The output is deterministic for a given ``--seed``: a handful of alert files, one shared file with
the databases, channels and defaults, and several small SQLite databases the queries really run
against. Crons, timezones, conditions, ``for``, ``repeat_interval``, escalation, tags and
``enabled`` vary from alert to alert.

    .venv/bin/python bench/gen_specs.py /tmp/specs_1000 -n 1000 --seed 0
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

CRONS = (
    "*/5 * * * *",
    "*/15 * * * *",
    "0 * * * *",
    "15 * * * *",
    "0 */6 * * *",
    "0 9 * * *",
    "30 7 * * 1-5",
    "0 0 * * 0",
    "0 3 1 * *",
)
TIMEZONES = (
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Asia/Tokyo",
    "Australia/Sydney",
    "America/Sao_Paulo",
)
TEAMS = ("finance", "logistics", "platform", "data-quality", "growth")
METRICS = tuple(f"metric_{i:02d}" for i in range(20))
ROWS_PER_METRIC = 50
SHARED_FILE = "_shared.yaml"


@dataclass(frozen=True)
class GeneratedSpecs:
    """What ``generate`` wrote."""

    specs_dir: Path
    alert_names: tuple[str, ...]
    spec_files: tuple[Path, ...]
    databases: dict[str, Path]
    outbox: Path


def default_file_count(n: int) -> int:
    """A handful of files: 1 for a few alerts, up to 8 for thousands."""
    return max(1, min(8, n // 25))


def default_database_count(n: int) -> int:
    return max(1, min(4, n))


def generate(
    specs_dir: str | Path,
    n: int,
    *,
    seed: int = 0,
    files: int | None = None,
    databases: int | None = None,
    batch: float = 0.0,
) -> GeneratedSpecs:
    """Write ``n`` alerts, their databases and channels into ``specs_dir``.

    Args:
        specs_dir: the directory to write into; it is created, and must hold no ``*.yaml`` yet.
        n: how many alerts.
        seed: the random seed; the same seed gives the same files.
        files: how many alert files (default: a handful, depending on ``n``).
        databases: how many SQLite databases (default: up to 4).
        batch: the fraction of alerts marked ``batch: true`` (batched evaluation).

    Returns:
        The paths written and the alert names.
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    root = Path(specs_dir).resolve()
    root.mkdir(parents=True, exist_ok=True)
    existing = sorted(p.name for p in root.glob("*.y*ml"))
    if existing:
        raise FileExistsError(f"{root} already holds spec files ({', '.join(existing[:3])}); "
                              "generate into an empty directory")
    rng = random.Random(seed)
    n_files = files or default_file_count(n)
    n_dbs = databases or default_database_count(n)

    data_dir = root / "data"
    data_dir.mkdir(exist_ok=True)
    db_paths = {f"bench_db_{k}": data_dir / f"bench_db_{k}.db" for k in range(n_dbs)}
    for k, path in enumerate(db_paths.values()):
        _write_database(path, random.Random(seed * 1000 + k))

    outbox = root / "outbox.jsonl"
    shared = {
        "databases": {name: {"url": f"sqlite:///{path}"} for name, path in db_paths.items()},
        "channels": {
            "outbox": {"type": "log", "path": str(outbox)},
            "audit": {"type": "log", "path": str(root / "audit.jsonl")},
        },
        "defaults": {
            "database": next(iter(db_paths)),
            "timezone": "UTC",
            "notify": ["outbox"],
            "owner": "outbox",
            "send_resolved": True,
        },
    }
    _dump(root / SHARED_FILE, shared)

    alerts = [_alert(i, rng, list(db_paths)) for i in range(n)]
    batch_rng = random.Random(seed + 1)  # separate, so that batch leaves the rest unchanged
    for alert in alerts:
        if batch and batch_rng.random() < batch:
            alert["batch"] = True
    spec_files = []
    per_file = -(-n // n_files)
    for f in range(n_files):
        chunk = alerts[f * per_file:(f + 1) * per_file]
        if not chunk:
            break
        path = root / f"alerts_{f:02d}.yaml"
        _dump(path, {"alerts": chunk})
        spec_files.append(path)
    return GeneratedSpecs(
        specs_dir=root,
        alert_names=tuple(a["name"] for a in alerts),
        spec_files=(root / SHARED_FILE, *spec_files),
        databases=db_paths,
        outbox=outbox,
    )


def _alert(i: int, rng: random.Random, db_names: list[str]) -> dict:
    metric = rng.choice(METRICS)
    threshold = rng.randint(100, 900)
    alert: dict = {
        "name": f"bench_alert_{i:05d}",
        "description": f"Synthetic alert {i} on {metric}",
        "tags": {"team": rng.choice(TEAMS), "severity": rng.choice(("low", "high"))},
        "schedule": rng.choice(CRONS),
    }
    tz = rng.choice(TIMEZONES)
    if tz != "UTC":
        alert["timezone"] = tz
    db = rng.choice(db_names)
    if db != db_names[0]:
        alert["database"] = db
    kind = rng.random()
    if kind < 0.45:  # status column, one row
        alert["query"] = (
            f"SELECT CASE WHEN AVG(value) > {threshold} THEN 'ALERT' ELSE 'OK' END AS status,\n"
            f"       AVG(value) AS actual_value, {threshold} AS threshold, COUNT(*) AS samples\n"
            f"FROM metrics WHERE name = '{metric}'\n"
        )
    elif kind < 0.85:  # condition on the first row
        alert["query"] = (
            f"SELECT COUNT(*) AS breaches, MAX(value) AS worst\n"
            f"FROM metrics WHERE name = '{metric}' AND value > {threshold}\n"
        )
        alert["condition"] = {"column": "breaches", "op": rng.choice((">", ">=")),
                              "threshold": rng.randint(0, 20)}
    else:  # status per row, several rows of context
        alert["query"] = (
            f"SELECT id, recorded_at, value,\n"
            f"       CASE WHEN value > {threshold + 80} THEN 'ALERT' ELSE 'OK' END AS status\n"
            f"FROM metrics WHERE name = '{metric}' ORDER BY id DESC LIMIT 10\n"
        )
    if rng.random() < 0.3:
        alert["for"] = rng.randint(2, 4)
    if rng.random() < 0.4:
        alert["repeat_interval"] = rng.choice(("30m", "4h", "1d"))
    if rng.random() < 0.2:
        alert["notify"] = ["outbox", {"channel": "audit", "on": ["firing", "resolved"]}]
    if rng.random() < 0.1:
        # escalation counts firing + repeat notices, so it needs a repeat_interval
        alert["escalate"] = {"after": rng.randint(2, 5), "notify": ["audit"]}
        alert.setdefault("repeat_interval", "1h")
    if rng.random() < 0.1:
        alert["no_data"] = rng.choice(("ok", "alert", "error"))
    if rng.random() < 0.15:
        alert["timeout"] = rng.choice(("10s", "2m"))
    if rng.random() < 0.1:
        alert["enabled"] = False
    return alert


def _write_database(path: Path, rng: random.Random) -> None:
    path.unlink(missing_ok=True)
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("CREATE TABLE metrics (id INTEGER PRIMARY KEY, name TEXT NOT NULL, "
                     "recorded_at TEXT NOT NULL, value REAL NOT NULL)")
        conn.execute("CREATE INDEX ix_metrics_name ON metrics (name)")
        rows = [
            (metric, f"2026-01-01T{h % 24:02d}:00:00", round(rng.uniform(0, 1000), 2))
            for metric in METRICS
            for h in range(ROWS_PER_METRIC)
        ]
        conn.executemany("INSERT INTO metrics (name, recorded_at, value) VALUES (?, ?, ?)", rows)
    conn.close()


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, value: str):
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def _dump(path: Path, data: dict) -> None:
    path.write_text(yaml.dump(data, Dumper=_Dumper, sort_keys=False, width=100), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("specs_dir", help="empty (or new) directory to write into")
    parser.add_argument("-n", type=int, default=100, help="number of alerts (default 100)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--files", type=int, default=None, help="number of alert files")
    parser.add_argument("--databases", type=int, default=None, help="number of SQLite databases")
    parser.add_argument("--batch", type=float, default=0.0,
                        help="fraction of alerts with batch: true (default 0)")
    args = parser.parse_args(argv)
    out = generate(args.specs_dir, args.n, seed=args.seed, files=args.files,
                   databases=args.databases, batch=args.batch)
    print(f"wrote {len(out.alert_names)} alerts in {len(out.spec_files) - 1} file(s), "
          f"{len(out.databases)} SQLite database(s) and channels into {out.specs_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
