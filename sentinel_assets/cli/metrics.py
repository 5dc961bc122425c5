"""``sentinel metrics serve``: the Prometheus exporter."""

from __future__ import annotations

import click

from sentinel_assets.cli.health import PREFIX_HELP, SPECS_HELP, health_inputs
from sentinel_assets.observe.exporter import DEFAULT_HOST, DEFAULT_PORT
from sentinel_assets.observe.logs import configure_logging


@click.group()
def metrics() -> None:
    """Prometheus metrics of sentinel."""


@metrics.command()
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=click.IntRange(0, 65535))
@click.option("--host", default=DEFAULT_HOST, show_default=True, envvar="SENTINEL_METRICS_HOST",
              show_envvar=True, help="Address to listen on; 0.0.0.0 for every interface (in a "
              "container). /health tells whoever can reach it about the databases and channels.")
@click.option("--specs", "specs_dir", type=click.Path(), help=SPECS_HELP)
@click.option("--job-prefix", default="", help=PREFIX_HELP)
def serve(port: int, host: str, specs_dir: str | None, job_prefix: str) -> None:
    """Serve /metrics (Prometheus) and /health (the healthcheck as JSON) until stopped."""
    from sentinel_assets.observe.exporter import make_app, make_exporter
    from sentinel_assets.observe.health import run_healthcheck
    from sentinel_assets.observe.metrics import build_registry
    from sentinel_assets.state.store import get_state_store

    configure_logging()  # the exporter always logs (access lines at DEBUG)
    inputs = health_inputs(specs_dir, job_prefix)
    registry = build_registry(inputs.config, inputs.instance, get_state_store, job_prefix)
    app = make_app(registry, lambda: run_healthcheck(inputs))
    server = make_exporter(app, host, port)
    click.echo(f"sentinel exporter on http://{host}:{server.server_port}/metrics and /health "
               f"({len(inputs.config.alerts)} alerts from {inputs.config.specs_dir})", err=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
