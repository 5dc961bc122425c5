"""What a notice says: Jinja2 templates with defaults per channel type and notice kind.

A message has up to three parts: ``subject`` (one line: the email subject, the Slack header, the
webhook ``summary``), ``body`` (the email text part, the Slack message, the webhook ``text``) and
``html`` (the email HTML part). The defaults live in ``sentinel_assets/core/templates/``. A channel's
``templates:`` and an alert's ``templates:`` may override a part for every kind (``subject``) or
for one kind (``resolved.subject``); the most specific wins, an alert's before its channel's.

A template error is a spec error (``spec.templates`` checks them when specs are loaded). Should an
override still fail when a notice is sent, the default template is used and the problem is
reported with the delivery, so a notice is never lost to a template. Overrides render in a sandbox
with limits on loops, sizes, output and time (``core.template_sandbox``); going past one is such a
failure.
"""

from __future__ import annotations

import functools
import hashlib
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Mapping

from sentinel_assets.core.bounds import MESSAGE_CHARS, bound_rows, bound_value, truncate_text
from sentinel_assets.core.lifecycle import (
    ERROR_KIND,
    ERROR_RESOLVED,
    ESCALATION,
    FIRING,
    REPEAT,
    RESOLVED,
    Notice,
)
from sentinel_assets.core.query_result import to_plain
from sentinel_assets.names import NOTICE_KINDS

if TYPE_CHECKING:  # Jinja2 (and the sandbox built on it) is imported when a template is rendered
    import jinja2

    from sentinel_assets.core.template_sandbox import BoundedSandbox

PARTS = ("subject", "body", "html")
# the default template of each part a channel type renders; `log` writes JSON, no template
DEFAULT_TEMPLATES = {
    ("email", "subject"): "subject.txt.j2",
    ("email", "body"): "body.txt.j2",
    ("email", "html"): "body.html.j2",
    ("slack", "subject"): "subject.txt.j2",
    ("slack", "body"): "slack_body.md.j2",
    ("webhook", "subject"): "subject.txt.j2",
    ("webhook", "body"): "body.txt.j2",
}
KIND_LABELS = {
    FIRING: "FIRING",
    REPEAT: "STILL FIRING",
    ESCALATION: "ESCALATED",
    RESOLVED: "RESOLVED",
    ERROR_KIND: "ERROR",
    ERROR_RESOLVED: "ERROR RESOLVED",
}
_HEADLINES = {
    FIRING: "{alert} is firing",
    REPEAT: "{alert} is still firing",
    ESCALATION: "{alert} is still firing and has been escalated",
    RESOLVED: "{alert} is resolved: back to OK",
    ERROR_KIND: "{alert} could not be evaluated",
    ERROR_RESOLVED: "{alert} can be evaluated again",
}
_COLORS = {FIRING: "#cf222e", REPEAT: "#cf222e", ESCALATION: "#a40e26", RESOLVED: "#1a7f37",
           ERROR_KIND: "#9a6700", ERROR_RESOLVED: "#1a7f37"}
MESSAGE_ROWS = 5


def parts_of(channel_type: str) -> tuple[str, ...]:
    """The message parts a channel type renders (and its templates may override)."""
    return tuple(part for (kind, part) in DEFAULT_TEMPLATES if kind == channel_type)

CELL_WIDTH = 30
SUBJECT_LENGTH = 150


@dataclass(frozen=True)
class NoticeContext:
    """A notice with everything a message about it needs to say."""

    notice: Notice
    channel: str
    description: str = ""
    owner: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    database: str | None = None
    query: str | None = None
    run_id: str | None = None
    run_url: str | None = None
    window: dict[str, str] | None = None
    # the delivery of this episode's `firing` notice on this channel (Slack threads replies on it)
    thread_id: str | None = None
    templates: dict[str, str] = field(default_factory=dict)
    # the alert's display name (AlertSpec.title); None: its name
    title: str | None = None

    @property
    def idempotency_key(self) -> str:
        return self.notice.idempotency_key

    @property
    def silence_hint(self) -> str:
        return f"sentinel silence {self.notice.alert} --for 2h --reason '...'"


@dataclass(frozen=True)
class Message:
    """A rendered notice. ``problems`` lists overrides that failed and were replaced."""

    subject: str
    body: str
    html: str | None = None
    problems: tuple[str, ...] = ()


# -- values ---------------------------------------------------------------------------------------
def format_value(value: Any) -> str:
    """``8512`` -> ``8,512``; ``1234.5678`` -> ``1,234.57``; anything else as text."""
    value = to_plain(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return str(value)
        if value.is_integer() and abs(value) < 1e15:
            return f"{int(value):,}"
        if abs(value) >= 1:
            return f"{value:,.2f}".rstrip("0").rstrip(".")
        return f"{value:.4g}"
    return str(value)


def comparison(value: Any, threshold: Any) -> str:
    """``8,512 < 10,000``: how the value relates to the threshold; "" when not both numbers."""
    left, right = _number(to_plain(value)), _number(to_plain(threshold))
    if left is None or right is None:
        return ""
    sign = "<" if left < right else ">" if left > right else "="
    return f"{format_value(left)} {sign} {format_value(right)}"


def fingerprint(notice: Notice) -> str:
    """The same for every notice of one firing (or error) episode of an alert."""
    family = "error" if notice.kind in (ERROR_KIND, ERROR_RESOLVED) else "firing"
    raw = f"{notice.alert}/{family}/{notice.episode}"
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def text_table(rows: list[Mapping[str, Any]], columns: list[str] | None = None) -> str:
    """The first rows as a small fixed-width text table."""
    if not rows:
        return ""
    columns = columns or _columns(rows)
    cells = [[_cell(row.get(c)) for c in columns] for row in rows[:MESSAGE_ROWS]]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = [" | ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip(),
             "-+-".join("-" * w for w in widths)]
    lines += [" | ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    return "\n".join(lines)


def mrkdwn(text: Any) -> str:
    """Escape the three characters Slack's mrkdwn treats as control characters."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def template_variables(context: NoticeContext) -> dict[str, Any]:
    """Every variable a template can use (documented in docs/notifications.md)."""
    n = context.notice
    rows = [dict(r) for r in bound_rows(n.rows[:MESSAGE_ROWS])]
    columns = _columns(rows)
    evaluated = n.evaluated_at.astimezone(timezone.utc) if n.evaluated_at.tzinfo else n.evaluated_at
    title = context.title or n.alert
    return {
        "alert": n.alert,
        "title": title,
        "kind": n.kind,
        "kind_label": KIND_LABELS.get(n.kind, n.kind.upper()),
        "headline": _HEADLINES.get(n.kind, "{alert}: " + n.kind).format(alert=title),
        "color": _COLORS.get(n.kind, "#57606a"),
        "status": n.status,
        "previous_status": n.previous_status,
        "description": context.description,
        "message": truncate_text(n.message, MESSAGE_CHARS),
        "value": bound_value(n.value),
        "threshold": bound_value(n.threshold),
        "value_text": format_value(bound_value(n.value)),
        "threshold_text": format_value(bound_value(n.threshold)),
        "comparison": comparison(n.value, n.threshold),
        "rows": rows,
        "columns": columns,
        "rows_table": text_table(rows, columns),
        "tags": dict(context.tags),
        "tags_text": ", ".join(f"{k}={v}" for k, v in context.tags.items()),
        "owner": context.owner,
        "database": context.database,
        "run_id": context.run_id,
        "run_url": context.run_url,
        "window": context.window,
        "evaluated_at": evaluated,
        "evaluated_at_text": evaluated.strftime("%Y-%m-%d %H:%M:%S UTC"),
        "episode": n.episode,
        "escalated": n.escalated,
        "fingerprint": fingerprint(n),
        "idempotency_key": context.idempotency_key,
        "channel": context.channel,
        "silence_hint": context.silence_hint,
    }


# -- rendering ------------------------------------------------------------------------------------
def render(
    context: NoticeContext, channel_type: str, channel_templates: Mapping[str, str] | None = None
) -> Message:
    """Render the parts ``channel_type`` uses, with the alert's and channel's overrides."""
    variables = template_variables(context)
    parts: dict[str, str] = {}
    problems: list[str] = []
    for part in parts_of(channel_type):
        override, origin = _override(context.notice.kind, part, context.templates,
                                     channel_templates or {})
        text = None
        if override is not None:
            from sentinel_assets.core.template_sandbox import render_bounded

            try:
                text = render_bounded(_compiled(override, part == "html"), variables)
            except Exception as exc:  # noqa: BLE001 - fall back to the default, say why
                problems.append(f"template {origin} failed ({type(exc).__name__}: "
                                f"{truncate_text(str(exc), 500)}); the default was used")
        if text is None:
            text = _default(channel_type, part).render(variables)
        parts[part] = text
    return Message(
        subject=_one_line(parts["subject"]),
        body=parts["body"].strip() + "\n",
        html=parts.get("html"),
        problems=tuple(problems),
    )


def report_problems(context: NoticeContext, problems: tuple[str, ...], log: Any) -> None:
    """Warn in the run's log that a template override failed and the default was used."""
    if log is None:
        return
    for problem in problems:
        log.warning(f"sentinel notice [{context.notice.kind}] {context.notice.alert} to "
                    f"{context.channel!r}: {problem}")


def _override(kind: str, part: str, alert: Mapping[str, str], channel: Mapping[str, str]):
    for source, templates in (("alert", alert), ("channel", channel)):
        for key in (f"{kind}.{part}", part):
            if key in templates:
                return templates[key], f"{source} templates.{key}"
    return None, None


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= SUBJECT_LENGTH else line[: SUBJECT_LENGTH - 1] + "…"


def _environment(html: bool) -> BoundedSandbox:
    import jinja2

    from sentinel_assets.core.template_sandbox import BoundedSandbox

    env = BoundedSandbox(
        loader=jinja2.PackageLoader("sentinel_assets.core", "templates"),
        autoescape=html,
        undefined=jinja2.ChainableUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(number=format_value, mrkdwn=mrkdwn, table=text_table)
    return env


# the two environments, built on first use (importing Jinja2 costs about a tenth of a second)
_ENVIRONMENTS: dict[bool, BoundedSandbox] = {}
_ENVIRONMENTS_LOCK = threading.Lock()


@functools.lru_cache(maxsize=256)
def _compiled(source: str, html: bool) -> jinja2.Template:
    from sentinel_assets.core.template_sandbox import check_source

    check_source(source)
    return environment(html).from_string(source)


def environment(html: bool) -> BoundedSandbox:
    """The sandboxed Jinja2 environment of text parts, or of HTML parts (autoescaped), with the
    limits of ``core.template_sandbox``."""
    env = _ENVIRONMENTS.get(html)
    if env is None:
        with _ENVIRONMENTS_LOCK:
            env = _ENVIRONMENTS.get(html)
            if env is None:
                env = _ENVIRONMENTS[html] = _environment(html)
    return env


def _default(channel_type: str, part: str) -> jinja2.Template:
    return environment(part == "html").get_template(DEFAULT_TEMPLATES[(channel_type, part)])


def _number(value: Any) -> float | int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, str):
        try:
            text = value.strip().replace(",", "")
            return int(text) if text.lstrip("-").isdigit() else float(text)
        except ValueError:
            return None
    return None


def _columns(rows: list[Mapping[str, Any]]) -> list[str]:
    return list(dict.fromkeys(c for row in rows for c in row))


def _cell(value: Any) -> str:
    text = "" if value is None else str(to_plain(value))
    text = " ".join(text.split())
    return text if len(text) <= CELL_WIDTH else text[: CELL_WIDTH - 1] + "…"


# -- samples (template checks) --------------------------------------------------------------
def sample_context(kind: str) -> NoticeContext:
    notice = Notice(
        alert="example_alert", kind=kind, status="FIRING", previous_status="OK",
        message="1 of 1 rows returned ALERT (value 8512, threshold 10000)",
        evaluated_at=datetime(2026, 1, 1, 9, 0, tzinfo=timezone.utc), episode=1, sequence=0,
        value=8512, threshold=10000,
        rows=({"status": "ALERT", "actual_value": 8512, "threshold": 10000},),
    )
    return NoticeContext(notice=notice, channel="example", description="An example alert",
                         owner="data_team", tags={"team": "finance"}, database="warehouse",
                         run_id="0" * 36, run_url="http://localhost:3000/runs/" + "0" * 36,
                         window={"start": "2026-01-01T00:00:00", "end": "2026-01-02T00:00:00"})


@functools.lru_cache(maxsize=len(NOTICE_KINDS))
def sample_variables(kind: str) -> dict[str, Any]:
    return template_variables(sample_context(kind))



# the names a template may use (computed from a sample, so it cannot drift from the real set)
SAMPLE_VARIABLES = tuple(sample_variables(FIRING))

