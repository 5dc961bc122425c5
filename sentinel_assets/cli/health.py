"""``sentinel healthcheck``."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

import click

from sentinel_assets.cli.format import echo_json, output_option, table
from sentinel_assets.observe.logs import configure_logging

if TYPE_CHECKING:  # health imports dagster; the CLI loads it only when a command needs it
    from sentinel_assets.observe.health import HealthInputs, HealthReport


SPECS_HELP = "Specs directory (default $SENTINEL_SPECS_DIR or ./alert_specs)."
PREFIX_HELP = "The job_prefix the definitions were built with (schedule names carry it)."


def cli_logging() -> None:
    """Apply ``LOG_FORMAT``/``LOG_LEVEL`` to the command line, when either is set."""
    try:
        configure_logging(only_if_requested=True)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None


def _instance() -> Any:
    """The Dagster instance of ``$DAGSTER_HOME``, or None (then daemon checks are skipped)."""
    if not os.environ.get("DAGSTER_HOME"):
        return None
    from sentinel_assets.orchestration.instance import initialized_instance

    return initialized_instance()


def health_inputs(specs_dir: str | None, job_prefix: str = "") -> HealthInputs:
    """What the CLI and the exporter check: the specs, their resources, ``$DAGSTER_HOME``."""
    from sentinel_assets.observe.health import HealthInputs
    from sentinel_assets.orchestration.resources import build_resources
    from sentinel_assets.spec.loader import load_specs

    config = load_specs(specs_dir)
    return HealthInputs(config, build_resources(config), _instance(), job_prefix)


def echo_report(report: HealthReport) -> None:
    """The verdict, then one row per check."""
    click.echo(report.summary())
    rows = [(c.name, c.status, "-" if c.latency_ms is None else f"{c.latency_ms:.1f}", c.detail)
            for c in report.checks]
    click.echo(table(["check", "status", "ms", "detail"], rows))


@click.command()
@click.option("--specs", "specs_dir", type=click.Path(), help=SPECS_HELP)
@output_option("one object with every check and the verdict")
@click.option("--job-prefix", default="", help=PREFIX_HELP)
def healthcheck(specs_dir: str | None, output: str, job_prefix: str) -> None:
    """Check databases, channels, state store, daemon, late alerts and specs.

    Exits 0 healthy, 1 degraded, 2 unhealthy (fit for a Docker HEALTHCHECK).
    """
    from sentinel_assets.observe.health import run_healthcheck

    report = run_healthcheck(health_inputs(specs_dir, job_prefix))
    if output == "json":
        echo_json(report.as_dict())
    else:
        echo_report(report)
    sys.exit(report.exit_code)
