"""``sentinel import-state URL``: SQL Sentinel's state and silences seeded into sentinel's store."""

from __future__ import annotations

import click
import sqlalchemy as sa

from sentinel_assets.core.redaction import redact, url_password
from sentinel_assets.spec.env_vars import MissingEnvVar, expand
from sentinel_assets.spec.loader import load_specs


@click.command("import-state")
@click.argument("url")
@click.option("--dry-run", is_flag=True, help="Say what would be imported; change nothing.")
@click.option("--specs", "specs_dir", type=click.Path(),
              help="Specs directory (default $SENTINEL_SPECS_DIR or ./alert_specs); only its "
              "alerts are imported.")
@click.option("--state-url", help="Sentinel's state store; default $SENTINEL_STATE_URL, else "
              "SQLite next to the Dagster instance.")
def import_state(url: str, dry_run: bool, specs_dir: str | None, state_url: str | None) -> None:
    """Carry SQL Sentinel's alert state and live silences over from its state database URL.

    A firing alert stays FIRING (no second `firing` notice at the cut-over); a live silence
    keeps its expiry. Running it again changes nothing.
    """
    from sentinel_assets.state.sqlsentinel_import import (
        NotSqlSentinelState,
        read_sqlsentinel_state,
        seed,
    )
    from sentinel_assets.state.store import get_state_store

    try:
        source = expand(url)
    except MissingEnvVar as exc:
        raise click.ClickException(str(exc)) from None
    try:
        alerts, executions = read_sqlsentinel_state(source)
    except NotSqlSentinelState as exc:
        raise click.ClickException(f"{redact(url, url_password(source))}: {exc}") from None
    except (sa.exc.SQLAlchemyError, ValueError) as exc:
        message = str(exc).splitlines()[0]
        raise click.ClickException(f"cannot read SQL Sentinel's state from "
                                   f"{redact(source, url_password(source))}: "
                                   f"{redact(message, url_password(source))}") from None
    config = load_specs(specs_dir)
    known = {a.name for a in config.alerts}
    store = get_state_store(state_url)
    skipped = 0
    for alert in alerts:
        head = f"{alert.source!r} -> {alert.alert}: {alert.describe()}"
        if alert.alert not in known:
            click.echo(f"{head}; not in the specs ({config.specs_dir}), skipped")
            skipped += 1
            continue
        done = seed(store, alert, dry_run=dry_run)
        click.echo(f"{head}" + (f"; {'; '.join(done)}" if done else ""))
    click.echo(f"{len(alerts)} SQL Sentinel alert(s) read, {skipped} not in the specs"
               + (" (dry run: nothing changed)" if dry_run else "") + f"; {executions} "
               "execution row(s) of history stay in sqlsentinel_executions (history is not "
               "imported: sentinel's history is the Dagster runs that evaluated an alert)")
