"""The benchmark's generated specs are valid specs (no timing here: see BENCHMARKS.md)."""

from __future__ import annotations

import sqlite3

from bench.gen_specs import generate
from sentinel_assets.spec.loader import load_specs


def test_generated_specs_load_without_errors(tmp_path):
    generated = generate(tmp_path / "specs", 5, seed=1)

    config = load_specs(generated.specs_dir)

    assert [str(e) for e in config.errors] == []
    assert [a.name for a in config.alerts] == list(generated.alert_names)
    assert set(config.databases) == set(generated.databases)


def test_generated_specs_are_the_same_for_the_same_seed(tmp_path):
    first = generate(tmp_path / "a", 30, seed=7)
    second = generate(tmp_path / "b", 30, seed=7)

    def texts(out):
        return [p.read_text().replace(str(out.specs_dir), "ROOT") for p in out.spec_files]

    assert texts(first) == texts(second)


def test_generated_databases_answer_the_generated_queries(tmp_path):
    generated = generate(tmp_path / "specs", 5, seed=2)
    config = load_specs(generated.specs_dir)

    for alert in config.alerts:
        conn = sqlite3.connect(generated.databases[alert.database])
        rows = conn.execute(alert.query).fetchall()
        conn.close()
        assert rows, f"{alert.name} returned no rows"


def test_the_run_start_benchmark_runs_real_run_workers(capsys):
    # bench_run_start drives `dagster api execute_run` processes; at 30 alerts it only has to
    # work (its runs must succeed, which it checks), not measure anything
    from bench.bench_run_start import main

    assert main(["-n", "30", "--repeat", "1"]) == 0
    out = capsys.readouterr().out
    assert "| cold |" in out and "| warm |" in out


def test_the_floor_benchmark_runs_a_trivial_run_worker_and_events(capsys):
    from bench.bench_floor import main

    assert main(["--repeat", "1", "--events", "5"]) == 0
    assert "trivial run: spawn to its op" in capsys.readouterr().out


def test_the_group_split_benchmark_times_a_grouped_run(capsys):
    from bench.bench_group_split import main

    assert main(["-n", "10", "--runs", "1"]) == 0
    assert "Dagster's `log_event`" in capsys.readouterr().out
