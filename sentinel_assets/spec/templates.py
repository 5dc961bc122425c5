"""Checks of the ``templates:`` of channels and alerts, run when specs are loaded.

Each override is parsed, its variables are checked against the ones a notice provides, and it is
rendered against a sample notice of every kind it applies to, so that a broken template is a spec
error with file, alert and field, not a surprise when a notice is sent.
"""

from __future__ import annotations

from typing import Any

from sentinel_assets.core.bounds import truncate_text
from sentinel_assets.core.messages import (
    PARTS,
    SAMPLE_VARIABLES,
    environment,
    parts_of,
    sample_variables,
)
from sentinel_assets.names import NOTICE_KINDS
from sentinel_assets.spec.errors import SpecError


def template_errors(config: Any) -> list[SpecError]:
    """Every problem in the channels' and alerts' ``templates``, as spec errors."""
    errors: list[SpecError] = []
    fallback_file = config.specs_dir or "<specs>"
    for name, spec in config.channels.items():
        if not spec.templates:
            continue
        where = {"file": getattr(spec, "source_file", "") or fallback_file,
                 "line": getattr(spec, "source_line", None), "section": f"channel '{name}'"}
        parts = parts_of(spec.type)
        if not parts:
            errors.append(SpecError(message=f"a {spec.type} channel uses no templates; remove "
                                    "'templates'", field="templates", **where))
            continue
        for key, source in spec.templates.items():
            errors += _check_template(key, source, parts, where)
    for alert in config.alerts:
        where = {"file": alert.source_file or fallback_file, "line": alert.source_line,
                 "alert": alert.name}
        for key, source in alert.templates.items():
            errors += _check_template(key, source, PARTS, where)
    return errors


def _check_template(key: str, source: Any, parts: tuple[str, ...], where: dict) -> list[SpecError]:
    field = f"templates.{key}"

    def error(message: str) -> list[SpecError]:
        return [SpecError(message=message, field=field, **where)]

    kind, _, part = key.rpartition(".")
    if part not in parts or (kind and kind not in NOTICE_KINDS):
        return error(f"unknown template name {key!r}; expected {_or(parts)}, optionally after a "
                     f"notice kind ({_or(NOTICE_KINDS)}), like 'resolved.subject'")
    if not isinstance(source, str):
        return error(f"a template must be text, got {type(source).__name__}")
    # Jinja2 and the sandbox are imported only when a spec has templates to check
    import jinja2
    import jinja2.meta

    from sentinel_assets.core.template_sandbox import (
        TemplateLimitError,
        check_source,
        render_bounded,
    )

    env = environment(html=part == "html")
    try:
        check_source(source)
        parsed = env.parse(source)
        template = env.from_string(source)
        unknown = sorted(jinja2.meta.find_undeclared_variables(parsed) - set(SAMPLE_VARIABLES))
    except TemplateLimitError as exc:
        return error(str(exc))
    except jinja2.TemplateSyntaxError as exc:
        return error(f"template syntax error on line {exc.lineno} of the template: "
                     f"{truncate_text(str(exc.message), 500)}")
    except Exception as exc:  # noqa: BLE001 - nested too deeply for the compiler, and the like
        return error(f"the template cannot be compiled: {type(exc).__name__}: "
                     f"{truncate_text(str(exc), 500)}")
    if unknown:
        return error(f"the template uses unknown variable(s) {', '.join(unknown)}; available: "
                     f"{', '.join(sorted(SAMPLE_VARIABLES))}")
    for sample_kind in [kind] if kind else NOTICE_KINDS:
        try:
            render_bounded(template, sample_variables(sample_kind))
        except TemplateLimitError as exc:
            return error(f"the template goes past a limit when rendering a {sample_kind} "
                         f"notice: {exc}")
        except Exception as exc:  # noqa: BLE001 - any failure is the template's
            return error(f"the template fails to render a {sample_kind} notice: "
                         f"{type(exc).__name__}: {truncate_text(str(exc), 500)}")
    return []


def _or(items) -> str:
    items = list(items)
    return ", ".join(items[:-1]) + f" or {items[-1]}"


