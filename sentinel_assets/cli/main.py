"""The ``sentinel`` command line (its commands are listed in docs/design.md, "Stable names")."""

from __future__ import annotations

import os
import sys
from datetime import datetime, timezone
from pathlib import Path

import click

from sentinel_assets.cli.format import echo_json, output_option, progress, table, when
from sentinel_assets.cli.health import cli_logging, healthcheck
from sentinel_assets.cli.import_state import import_state
from sentinel_assets.cli.metrics import metrics
from sentinel_assets.cli.migrate import migrate
from sentinel_assets.cli.notify import notify_test
from sentinel_assets.core.durations import parse_duration
from sentinel_assets.names import (
    CODE_LOCATION,
    GROUP_JOB,
    NOT_EVALUATED,
    STATUS_TAG,
    Status,
    member_tag,
)
from sentinel_assets.spec.compat import describe as describe_compat
from sentinel_assets.spec.errors import SpecError
from sentinel_assets.spec.loader import load_specs
from sentinel_assets.spec.models import SentinelConfig

SPECS_HELP = "Specs directory (default $SENTINEL_SPECS_DIR or ./alert_specs)."


def _config(specs: str | None) -> SentinelConfig:
    return load_specs(specs)


PROJECT_HOME = ".dagster_home"  # what `make demo` and `make dev` use


def _find_home() -> None:
    """The one rule for where the CLI finds the Dagster instance (and the state store next to it):
    ``$DAGSTER_HOME`` when set, else the ``.dagster_home`` folder of the project the command runs
    in (the current folder or a parent), which is then exported as ``DAGSTER_HOME``."""
    if os.environ.get("DAGSTER_HOME"):
        return
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / PROJECT_HOME).is_dir():
            os.environ["DAGSTER_HOME"] = str(folder / PROJECT_HOME)
            return


NO_HOME = ("no Dagster instance: set DAGSTER_HOME to the instance directory, or run from a project "
           f"with a {PROJECT_HOME} folder (`make demo` creates one)")


def _store(state_url: str | None = None):
    from sentinel_assets.state.store import get_state_store

    if not (state_url or os.environ.get("SENTINEL_STATE_URL") or os.environ.get("DAGSTER_HOME")):
        # the state store's default lives next to the instance: without one it would be empty
        raise click.ClickException(f"{NO_HOME}; or set SENTINEL_STATE_URL")
    return get_state_store(state_url)


class _Commands(click.Group):
    """Lists every command with its whole first sentence (Click cuts them at the terminal width),
    and turns an unreachable state store into one line and exit status 1, not a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except click.ClickException:
            raise
        except Exception as exc:
            from sentinel_assets.state.store import StateStoreUnavailable

            if isinstance(exc, StateStoreUnavailable):
                raise click.ClickException(str(exc)) from None
            raise

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, self.get_command(ctx, name).get_short_help_str(limit=200))
                for name in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=_Commands, context_settings={"max_content_width": 120,
                                              "help_option_names": ["-h", "--help"]})
@click.version_option(package_name="sentinel_assets")
def main() -> None:
    """SQL alerts compiled into Dagster: validate specs, inspect state and history, silence."""
    cli_logging()  # LOG_FORMAT / LOG_LEVEL, when set
    _find_home()


# -- validate -------------------------------------------------------------------------------------
@main.command()
@click.argument("specs_dir", required=False, type=click.Path())
@output_option("the summary, every error and warning, and the alerts")
@click.option("--dry-run", is_flag=True,
              help="Also dry-run each BigQuery alert: bytes processed and estimated cost.")
@click.option("--price-per-tib", type=click.FloatRange(min=0), default=6.25, show_default=True,
              help="USD per TiB processed, for the --dry-run cost estimate.")
def validate(specs_dir: str | None, output: str, dry_run: bool, price_per_tib: float) -> None:
    """Check every spec file; list every error and exit 1, or print a summary and exit 0."""
    from sentinel_assets.cli.dry_run import dry_run_alerts, dry_run_table

    config = _config(specs_dir)
    errors = [e for e in config.errors if not e.warning]
    estimates = dry_run_alerts(config, price_per_tib) if dry_run else []
    errors += [d.error for d in estimates if d.error]
    warnings = [e for e in config.errors if e.warning] + _secret_warnings(config)
    summary = {
        "specs_dir": config.specs_dir,
        "alerts": len(config.alerts),
        "enabled": sum(a.enabled for a in config.alerts),
        "databases": len(config.databases),
        "channels": len(config.channels),
        "schedules": len(config.alerts),
        "errors": [e.as_dict() for e in errors],
        "warnings": [w.as_dict() for w in warnings],
        "sqlsentinel_files": config.compat_files,
    }
    if dry_run:
        summary["dry_run"] = [d.as_dict() for d in estimates]
    if output == "json":
        echo_json(summary)
    else:
        if dry_run:
            click.echo(dry_run_table(estimates, price_per_tib))
        for w in warnings:
            click.echo(f"warning: {w}", err=True)
        for line in describe_compat(config.compat_files):
            click.echo(line)
        if errors:
            click.echo(f"{len(errors)} error(s) in {config.specs_dir}:", err=True)
            for e in errors:
                click.echo(f"  {e}", err=True)
        else:
            click.echo(
                f"OK: {summary['alerts']} alerts ({summary['enabled']} enabled), "
                f"{summary['databases']} databases, {summary['channels']} channels, "
                f"{summary['schedules']} schedules in {config.specs_dir}"
            )
            rows = [(a.name, a.schedule, a.timezone, a.database,
                     ",".join(a.channel_names) or "-", "yes" if a.enabled else "no")
                    for a in config.alerts]
            if rows:
                click.echo(table(["alert", "schedule", "timezone", "database", "channels",
                                  "enabled"], rows))
    sys.exit(1 if errors else 0)


def _secret_warnings(config: SentinelConfig) -> list[SpecError]:
    """Secrets written literally into specs, un-encoded reserved characters in the credentials of
    database URLs, and ${VAR}s of secrets that are unset here. No warning quotes a secret."""
    from sentinel_assets.core.redaction import unencoded_credentials, url_password
    from sentinel_assets.spec.env_vars import MissingEnvVar, expand
    from sentinel_assets.spec.models import SECRET_KEYS

    found = []
    for name, db in config.databases.items():
        if db.is_bigquery:
            continue
        where = {"line": db.source_line, "section": f"database '{name}'", "field": "url",
                 "warning": True}
        file = db.source_file or config.specs_dir or ""
        if "${" not in db.url and url_password(db.url):
            found.append(SpecError(file, "the url holds a literal password; write it as ${VAR} "
                                   "so it reaches Dagster as an EnvVar", **where))
        try:
            problems = unencoded_credentials(expand(db.url))
        except MissingEnvVar:
            problems = {}  # warned about below
        for part, chars in problems.items():
            listed = ", ".join("space" if c == " " else repr(c) for c in chars)
            found.append(SpecError(file, f"the {part} in the url holds un-encoded reserved "
                                   f"characters ({listed}); percent-encode them (@ as %40, : as "
                                   "%3A, / as %2F, % as %25, # as %23, ? as %3F, space as %20), "
                                   "or the URL is split in the wrong place", **where))
    for kind, items in (("database", config.databases), ("channel", config.channels)):
        for name, spec in items.items():
            for key in SECRET_KEYS:
                value = getattr(spec, key, None)
                if not isinstance(value, str) or "${" not in value:
                    continue
                try:
                    expand(value)
                except MissingEnvVar as exc:
                    found.append(SpecError(config.specs_dir or "", f"{exc}; it must be set "
                                           "where runs execute", section=f"{kind} '{name}'",
                                           field=key, warning=True))
    return found


# -- status ---------------------------------------------------------------------------------------
@main.command()
@click.option("--specs", "specs_dir", type=click.Path(), help=SPECS_HELP)
@output_option("one object per alert")
def status(specs_dir: str | None, output: str) -> None:
    """Every alert with its state, silence, last value and last evaluation."""
    from sentinel_assets.core.silences import active_silence

    config = _config(specs_dir)
    store = _store()
    states = store.all_states()
    silences = store.silences()
    now = datetime.now(timezone.utc)
    rows = []
    for alert in config.alerts:
        state = states.get(alert.name)
        silence = active_silence(alert.name, alert.tags, silences, now)
        rows.append({
            "alert": alert.name,
            "state": state.status if state else "NEW",
            "since": state.status_since if state else None,
            "silenced_until": silence.until if silence else None,
            "silence_reason": silence.reason if silence else None,
            "last_value": state.last_value if state else None,
            "last_evaluated_at": state.last_evaluated_at if state else None,
            "last_message": state.last_message if state else None,
            "enabled": alert.enabled,
            "schedule": alert.schedule,
        })
    if output == "json":
        echo_json(rows)
        return
    click.echo(table(
        ["alert", "state", "silenced until", "last value", "last evaluation", "schedule"],
        [(r["alert"] + ("" if r["enabled"] else " (disabled)"), r["state"],
          when(r["silenced_until"]) if r["silenced_until"] else "-",
          "-" if r["last_value"] is None else r["last_value"], when(r["last_evaluated_at"]),
          r["schedule"]) for r in rows],
    ))
    if config.errors:
        click.echo(f"\n{len(config.errors)} spec error(s); run `sentinel validate`.", err=True)


# -- history --------------------------------------------------------------------------------------
@main.command()
@click.argument("alert")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 10_000),
              help="How many evaluations, newest first.")
@click.option("--specs", "specs_dir", type=click.Path(), help=SPECS_HELP)
@output_option("one object per evaluation, typed like `status --output json`")
def history(alert: str, limit: int, specs_dir: str | None, output: str) -> None:
    """Each evaluation of ALERT recorded in the Dagster instance, newest first: status, state,
    value, threshold, message, notices and its run, whichever run evaluated it."""
    from sentinel_assets.observe.history import alert_history
    from sentinel_assets.orchestration.checks import check_key

    config = _config(specs_dir)
    spec = next((a for a in config.alerts if a.name == alert), None)
    instance = _instance()
    check = check_key(spec) if spec is not None and not spec.window else None
    entries = alert_history(instance, alert, limit, check=check)
    if spec is None and not entries:
        raise click.ClickException(f"no alert named {alert!r} in {config.specs_dir} and no "
                                   f"evaluation of it recorded in {instance.root_directory}")
    if output == "json":
        echo_json([e.as_dict() for e in entries])
        return
    if spec is None:
        click.echo(f"{alert!r} is not in {config.specs_dir} any more; its recorded history:",
                   err=True)
    if not entries:
        click.echo(f"no evaluations of {alert!r} recorded in {instance.root_directory}")
        return
    has_window = any(e.window for e in entries)
    headers = ["evaluated at", "status", "state", "value", "threshold"]
    headers += ["window"] if has_window else []
    headers += ["run", "message and notices"]
    rows = []
    for e in entries:
        row = [when(e.evaluated_at), e.status, e.state or "-", _dash(e.value), _dash(e.threshold)]
        row += [e.window or "-"] if has_window else []
        said = "; ".join([e.message or "-", *e.notices])
        rows.append(row + [e.run_url or e.run_id, said])
    click.echo(table(headers, rows))


def _dash(value) -> str:
    return "-" if value is None else str(value)


def _instance():
    from sentinel_assets.orchestration.instance import initialized_instance

    if not os.environ.get("DAGSTER_HOME"):
        raise click.ClickException(NO_HOME)
    try:
        return initialized_instance()  # created once, before runs start (several at once)
    except Exception as exc:  # noqa: BLE001 - its storage is down or misconfigured: one line
        raise click.ClickException(f"the Dagster instance in {os.environ['DAGSTER_HOME']} "
                                   f"cannot be opened: {_reason(exc)}") from None


def _reason(exc: BaseException) -> str:
    """The first line of the innermost cause of ``exc`` (the driver's words), without secrets."""
    from sentinel_assets.observe.health import describe_error

    while exc.__cause__ is not None or exc.__context__ is not None:
        exc = exc.__cause__ or exc.__context__
    return describe_error(exc)


# -- silences -------------------------------------------------------------------------------------
@main.command()
@click.argument("alert", required=False)
@click.option("--match", "matchers", multiple=True, help="Tag matcher key=value (repeatable).")
@click.option("--for", "duration", required=True, help="How long, e.g. 30m, 2h, 1d.")
@click.option("--reason", required=True, help="Why; shown with the silence.")
@click.option("--specs", "specs_dir", type=click.Path(), help=SPECS_HELP)
@click.option("--allow-empty", is_flag=True,
              help="Create a --match silence even if it covers no alert right now.")
def silence(alert, matchers, duration, reason, specs_dir, allow_empty) -> None:
    """Hold back the notices of ALERT, or of every alert whose tags match, until it expires."""
    from sentinel_assets.core.silences import Silence, parse_matchers

    if bool(alert) == bool(matchers):
        raise click.UsageError("give either ALERT or --match key=value, not both")
    try:
        delta = parse_duration(duration)
        pairs = parse_matchers(matchers) if matchers else ()
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    if delta.total_seconds() <= 0:
        raise click.BadParameter("--for must be a positive duration")
    config = _config(specs_dir)
    if alert:
        known = {a.name for a in config.alerts}
        if alert not in known:
            raise click.ClickException(f"no alert named {alert!r} in {config.specs_dir}")
        targets = [alert]
    else:
        targets = [a.name for a in config.alerts if all(a.tags.get(k) == v for k, v in pairs)]
        if not targets and not allow_empty:
            tags = sorted({f"{k}={v}" for a in config.alerts for k, v in a.tags.items()})
            raise click.ClickException(
                f"--match {' '.join(matchers)} covers no alert in {config.specs_dir} (a typo?); "
                f"tags in use: {', '.join(tags[:20]) or 'none'}. Pass --allow-empty to create it "
                "anyway, for alerts still to come")
    now = datetime.now(timezone.utc)
    created = _store().add_silence(Silence(
        id=None, until=now + delta, reason=reason, alert=alert, matchers=pairs, created_at=now,
        created_by=os.environ.get("USER"),
    ))
    click.echo(f"silence {created.id}: {created.describe()}")
    click.echo(f"covers {len(targets)} alert(s): {', '.join(targets) or 'none right now'}")


@main.command()
@click.argument("alert", required=False)
@click.option("--match", "matchers", multiple=True, help="Tag matcher key=value (repeatable).")
@click.option("--id", "silence_id", type=int, help="Remove one silence by id (`sentinel silences`).")
@click.option("--specs", "specs_dir", type=click.Path(), help=SPECS_HELP)
def unsilence(alert, matchers, silence_id, specs_dir) -> None:
    """Remove the silences of ALERT, of a tag matcher, or one by --id."""
    from sentinel_assets.core.silences import parse_matchers

    if sum(bool(x) for x in (alert, matchers, silence_id)) != 1:
        raise click.UsageError("give exactly one of ALERT, --match key=value or --id N")
    try:
        pairs = parse_matchers(matchers) if matchers else ()
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    removed = _store().remove_silences(alert=alert, matchers=pairs, silence_id=silence_id)
    click.echo(f"removed {removed} silence(s)")
    if not removed:
        if alert and alert not in {a.name for a in _config(specs_dir).alerts}:
            click.echo(f"no alert named {alert!r} in the specs either", err=True)
        sys.exit(1)


@main.command()
@click.option("--specs", "specs_dir", type=click.Path(), help=SPECS_HELP)
@click.option("--all", "show_all", is_flag=True, help="Also list expired silences.")
@output_option("one object per silence")
def silences(specs_dir: str | None, show_all: bool, output: str) -> None:
    """List silences: id, target, expiry, reason and the alerts each covers now."""
    config = _config(specs_dir)
    now = datetime.now(timezone.utc)
    store = _store()
    # silences(at) lists those not removed and not expired at `at`: the epoch keeps expired ones
    listed = store.silences(datetime(1970, 1, 1, tzinfo=timezone.utc) if show_all else now)
    rows = []
    for s in sorted(listed, key=lambda s: s.id or 0):
        covered = [a.name for a in config.alerts if s.covers(a.name, a.tags, min(now, s.until))]
        rows.append({
            "id": s.id, "target": s.alert or ",".join(f"{k}={v}" for k, v in s.matchers),
            "until": s.until, "active": now < s.until, "reason": s.reason,
            "created_by": s.created_by, "covers": covered,
        })
    if output == "json":
        echo_json(rows)
        return
    if not rows:
        click.echo("no active silences" if not show_all else "no silences")
        return
    click.echo(table(
        ["id", "target", "until", "reason", "covers"],
        [(r["id"], r["target"], when(r["until"]) + ("" if r["active"] else " (expired)"),
          r["reason"], f"{len(r['covers'])}: {', '.join(r['covers'][:5])}"
          + (" ..." if len(r["covers"]) > 5 else "")) for r in rows],
    ))


# Dagster's console would print a stack trace under every failed step; `run` prints one line per
# alert instead (with the reason of a run that failed before judging, see _failure)
_QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


# -- run ------------------------------------------------------------------------------------------
@main.command()
@click.argument("alerts", nargs=-1)
@click.option("--specs", "specs_dir", type=click.Path(), help=SPECS_HELP)
def run(alerts, specs_dir) -> None:
    """Run alerts now through Dagster (all enabled ones without ALERTS), recorded in DAGSTER_HOME."""
    from sentinel_assets.orchestration.factory import build_sentinel_defs
    from sentinel_assets.orchestration.run_worker import build_run_worker_repository

    config = _config(specs_dir)
    if config.errors:
        # the valid alerts still run
        click.echo(f"{len(config.errors)} spec error(s) (run `sentinel validate`); running the "
                   "valid alerts", err=True)
    chosen = [a for a in config.alerts if (a.name in alerts if alerts else a.enabled)]
    unknown = set(alerts) - {a.name for a in config.alerts}
    if unknown:
        raise click.ClickException(f"unknown alert(s): {', '.join(sorted(unknown))}")
    # only the jobs these runs need are built, as in a run worker (not 10,000 asset checks)
    repo = build_run_worker_repository(
        config, full=lambda: build_sentinel_defs(config, location_name=CODE_LOCATION),
        location_name=CODE_LOCATION)
    instance = _instance()
    store = _store()
    own = [a for a in chosen if repo.has_job(a.name)]
    grouped = [a for a in chosen if not repo.has_job(a.name)]  # beyond the per-alert jobs limit
    with progress(len(chosen), "evaluating") as advance:
        failed = _run_all(repo, instance, store, own, grouped, advance)
    sys.exit(1 if failed else 0)


def _run_all(repo, instance, store, own, grouped, advance) -> int:
    """Each alert with a job of its own in its own run, the others in grouped runs per shard."""
    failed = 0
    for alert in own:
        partition = None
        if alert.window:
            from sentinel_assets.orchestration.windows import last_complete_window_key

            partition = last_complete_window_key(alert, datetime.now(timezone.utc))
        result = repo.get_job(alert.name).execute_in_process(
            instance=instance, raise_on_error=False, run_config=_QUIET, partition_key=partition
        )
        run = instance.get_run_by_id(result.run_id)
        failed += _report_run(alert.name, run.tags.get(STATUS_TAG, NOT_EVALUATED), result.run_id,
                              store, instance)
        advance(1)
    if grouped:
        from sentinel_assets.orchestration.grouped import run_config_for, shards

        job = repo.get_job(GROUP_JOB)
        for _database, shard in shards(grouped):
            result = job.execute_in_process(instance=instance, raise_on_error=False,
                                            run_config={**_QUIET, **run_config_for(job, shard)})
            tags = instance.get_run_by_id(result.run_id).tags
            for alert in shard:
                failed += _report_run(alert.name, tags.get(member_tag(alert.name), NOT_EVALUATED),
                                      result.run_id, store, instance)
            advance(len(shard))
    return failed


def _report_run(alert: str, status: str, run_id: str, store, instance=None) -> int:
    """Print one alert's outcome (one line, also for an ERROR) and the notices its run sent;
    1 when it did not evaluate."""
    from sentinel_assets.orchestration.ops import run_url

    state = store.load(alert)
    message = state.last_message
    if status == NOT_EVALUATED:  # the state's message is an earlier evaluation's
        message = _failure(instance, run_id) if instance is not None else None
    click.echo(f"{alert}: {status} -> state {state.status} ({_one_line(message)}) "
               f"[run {run_url(run_id) or run_id}]")
    sent = [d for d in store.deliveries(alert) if d.run_id == run_id]
    for d in reversed(sent):
        error = f" ({_one_line(d.error)})" if d.error and d.status != "sent" else ""
        click.echo(f"    notice {d.kind} -> {d.channel}: {d.status}{error}")
    if not sent:
        click.echo("    no notice")
    return int(status in (Status.ERROR, NOT_EVALUATED))


def _one_line(text: str | None) -> str:
    return " ".join(str(text).split()) if text else "-"


def _failure(instance, run_id: str) -> str:
    """Why a run ended before it judged its alert: its first failure, in one line."""
    import dagster as dg

    from sentinel_assets.core.redaction import redact

    for of_type in (dg.DagsterEventType.STEP_FAILURE, dg.DagsterEventType.RUN_FAILURE):
        for record in instance.get_records_for_run(run_id, of_type=of_type, limit=1).records:
            event = record.event_log_entry.dagster_event
            error = getattr(event.event_specific_data, "error", None) if event else None
            text = error.message if error else record.event_log_entry.user_message
            if text and text.strip():
                return redact(text.strip().splitlines()[0])
    return "the run ended before the alert was judged; see the run in the Dagster UI"


# -- schema ---------------------------------------------------------------------------------------
@main.command()
@click.option("--out", "out", type=click.Path(dir_okay=False, writable=True),
              help="Write the schema to this file instead of printing it.")
def schema(out: str | None) -> None:
    """Print the JSON Schema of a spec file (for editors: yaml-language-server $schema)."""
    from sentinel_assets.spec.reference import schema_text

    text = schema_text()
    if out is None:
        click.echo(text, nl=False)
        return
    with open(out, "w", encoding="utf-8") as handle:
        handle.write(text)
    click.echo(f"wrote {out}", err=True)


main.add_command(notify_test)
main.add_command(healthcheck)
main.add_command(metrics)
main.add_command(migrate)
main.add_command(import_state)


if __name__ == "__main__":
    main()
