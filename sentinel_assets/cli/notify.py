"""``sentinel notify-test CHANNEL``: send a test notice through a configured channel."""

from __future__ import annotations

import sys
from datetime import datetime, timezone

import click

from sentinel_assets.channels.base import DeliveryResult
from sentinel_assets.cli.format import echo_json, output_option
from sentinel_assets.core.lifecycle import FIRING, Notice
from sentinel_assets.core.messages import NoticeContext
from sentinel_assets.names import NOTICE_KINDS
from sentinel_assets.spec.env_vars import MissingEnvVar, expand
from sentinel_assets.spec.loader import load_specs
from sentinel_assets.spec.models import SECRET_KEYS

TEST_ALERT = "sentinel_notify_test"


def notify_test_context(channel: str, kind: str = FIRING, now: datetime | None = None) -> NoticeContext:
    """A notice that reads as a test, with every part a real one has."""
    now = now or datetime.now(timezone.utc)
    notice = Notice(
        alert=TEST_ALERT,
        kind=kind,
        status="OK" if kind in ("resolved", "error_resolved") else "FIRING",
        previous_status="OK",
        message="This is a test notice from `sentinel notify-test`; no alert is firing.",
        evaluated_at=now,
        # a fresh episode each time, so receivers that deduplicate by key still show it
        episode=int(now.timestamp() * 1000),
        sequence=0,
        value=8512,
        threshold=10000,
        rows=({"status": "ALERT", "actual_value": 8512, "threshold": 10000},),
    )
    return NoticeContext(
        notice=notice,
        channel=channel,
        description="Test notice: if you can read this, the channel works.",
        owner=channel,
        tags={"test": "true"},
    )


@click.command("notify-test")
@click.argument("channel")
@click.option("--specs", "specs_dir", type=click.Path(),
              help="Specs directory (default $SENTINEL_SPECS_DIR or ./alert_specs).")
@click.option("--kind", type=click.Choice(NOTICE_KINDS), default=FIRING, show_default=True,
              help="The kind of notice to send.")
@output_option("one object per channel tried")
def notify_test(channel: str, specs_dir: str | None, kind: str, output: str) -> None:
    """Send a test notice to CHANNEL (a name under `channels:`) and print what happened."""
    from sentinel_assets.orchestration.resources import channel_resource

    config = load_specs(specs_dir)
    spec = config.channels.get(channel)
    if spec is None:
        problems = [e for e in config.errors if e.section == f"channel '{channel}'"]
        if problems:
            raise click.ClickException(f"channel {channel!r} is invalid: "
                                       + "; ".join(str(e) for e in problems))
        known = ", ".join(sorted(config.channels)) or "none"
        raise click.ClickException(f"no channel named {channel!r} in {config.specs_dir}; "
                                   f"defined: {known}")
    resource = channel_resource(spec)
    context = notify_test_context(channel, kind)
    missing = _missing_variables(spec)
    if missing:
        result = DeliveryResult(ok=False, attempts=0, error=f"{missing}; set it where you run this command")
    else:
        result = _send(resource, context)
    report = {
        "channel": channel,
        "type": spec.type,
        "kind": kind,
        "ok": result.ok,
        "attempts": result.attempts,
        "error": result.error,
        "external_id": result.external_id,
        "idempotency_key": context.idempotency_key,
    }
    if output == "json":
        echo_json(report)
    elif result.ok:
        extra = f"; message id {result.external_id}" if result.external_id else ""
        click.echo(f"sent a test {kind} notice to {channel} ({spec.type}) in "
                   f"{result.attempts} attempt(s){extra}")
    else:
        click.echo(f"FAILED to send a test {kind} notice to {channel} ({spec.type}) after "
                   f"{result.attempts} attempt(s): {result.error}", err=True)
    sys.exit(0 if result.ok else 1)


def _send(resource, context: NoticeContext) -> DeliveryResult:
    import dagster as dg

    try:
        # build_resources resolves EnvVar fields exactly as a Dagster run does
        with dg.build_resources({"channel": resource}) as resources:
            return resources.channel.deliver(context, None)
    except Exception as exc:  # noqa: BLE001 - a configuration Dagster cannot resolve
        errors = getattr(exc, "errors", None)
        text = (errors[0].message if errors else str(exc)).strip().splitlines()
        return DeliveryResult(ok=False, attempts=0, error="the channel's configuration could not "
                              f"be resolved: {text[0] if text else type(exc).__name__}")


def _missing_variables(spec) -> str | None:
    """The first unset ${VAR} among the channel's secret settings, said as a sentence."""
    values = [getattr(spec, key, None) for key in SECRET_KEYS]
    values += list((getattr(spec, "headers", None) or {}).values())
    for value in values:
        if isinstance(value, str) and "${" in value:
            try:
                expand(value)
            except MissingEnvVar as exc:
                return str(exc)
    return None
