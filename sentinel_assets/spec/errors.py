"""Spec errors: each names the file, the alert (or database/channel), the field and the line."""

from __future__ import annotations

import difflib
import functools
import re
import types
import typing
from dataclasses import dataclass
from typing import Any, Collection

from pydantic import BaseModel, ValidationError

from sentinel_assets.core.bounds import MESSAGE_CHARS, NAME_CHARS, truncate_text
from sentinel_assets.core.excerpt import excerpt


@dataclass(frozen=True)
class SpecError:
    """One problem in the specs, phrased for the person who has to fix it."""

    file: str
    message: str
    line: int | None = None
    alert: str | None = None
    field: str | None = None
    section: str | None = None  # "database 'x'", "channel 'y'", "defaults" when not an alert
    warning: bool = False

    def __post_init__(self) -> None:
        # values in messages are quoted with `excerpt`; this bounds what a message adds up to
        for name, limit in (("message", MESSAGE_CHARS), ("alert", NAME_CHARS),
                            ("field", NAME_CHARS), ("section", NAME_CHARS)):
            value = getattr(self, name)
            if isinstance(value, str) and len(value) > limit:
                object.__setattr__(self, name, truncate_text(value, limit))

    @property
    def where(self) -> str:
        location = f"{self.file}:{self.line}" if self.line else self.file
        parts = []
        if self.alert:
            parts.append(f"alert '{self.alert}'")
        elif self.section:
            parts.append(self.section)
        if self.field:
            parts.append(f"field '{self.field}'")
        return f"{location}: {', '.join(parts)}" if parts else location

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"

    def as_dict(self) -> dict:
        return {
            "file": self.file,
            "line": self.line,
            "alert": self.alert,
            "section": self.section,
            "field": self.field,
            "message": self.message,
            "warning": self.warning,
        }


def did_you_mean(key: str, allowed: list[str]) -> str:
    """``"; did you mean 'schedule'?"`` when a close match exists, else ``""``."""
    key = str(key)
    if len(key) > NAME_CHARS:  # no typo of a known name is that long
        return ""
    matcher = difflib.SequenceMatcher(b=key)
    scored = []
    for candidate in allowed:
        matcher.set_seq1(candidate)
        scored.append((matcher.ratio(), set(candidate) == set(key), candidate))
    # ties (``=`` is as close to ``>=`` as to ``==``) go to the one made of the same characters
    best = max((s for s in scored if s[0] >= 0.6), default=None, key=lambda s: s[:2])
    return f"; did you mean '{best[2]}'?" if best else ""


class SpecLoadError(Exception):
    """Raised when specs cannot be used at all; carries every error."""

    def __init__(self, errors: list[SpecError]):
        self.errors = errors
        lines = "\n".join(f"  - {e}" for e in errors)
        super().__init__(f"{len(errors)} spec error(s):\n{lines}")


# -- pydantic validation errors as sentences ----------------------------------------------------
MAX_PROBLEMS = 20  # problems listed for one alert, database or channel; the rest are counted
@dataclass(frozen=True)
class Problem:
    """One validation problem: where in the validated data (no union noise), and what is wrong."""

    loc: tuple
    message: str


_EXPECTED = {
    "string_type": "text",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
}
# what a field looks like, for messages about a value of the wrong shape ("*" is a list index)
_EXAMPLES = {
    "notify": "a list of channels like [data_team, {channel: ops_hook, on: [firing, resolved]}]",
    "notify.*": "a channel name or a mapping like {channel: NAME, on: [firing, resolved]}",
    "escalate": "a mapping like {after: 3, notify: [oncall]}",
    "condition": 'a mapping like {column: total, op: "<", threshold: 10000}',
    "tags": "a mapping like {team: finance}",
    "headers": "a mapping of header name to value",
    "templates": "a mapping of notice kind to template",
}
_UNION_BRANCH_TEXT = {"str": "text", "int": "a whole number", "float": "a number",
                      "bool": "true or false"}


def validation_problems(
    model: type[BaseModel], exc: ValidationError, data: Any, inherited: Collection[str] = ()
) -> list[Problem]:
    """Turn pydantic's errors for ``data`` into problems a person can act on.

    A value that fits no branch of a union (``notify: [42]``) gives one problem, not one per
    branch; the branch tags pydantic puts in locations (``notify.0.str``) are removed; an
    unknown key that looks like a typo of a required one hides the "is required" of that key.
    ``inherited`` names the keys that may also come from ``defaults``.
    """
    problems: list[Problem] = []
    errors = exc.errors()
    # errors inside a union, by the location of the union and then by branch (one pass)
    unions: dict[tuple, dict[str, list[dict]]] = {}
    for err in errors:
        loc = tuple(err["loc"])
        tag = next((i for i, part in enumerate(loc) if _is_union_tag(part)), None)
        if tag is None:
            problems.append(Problem(loc, _sentence(model, err, loc, inherited)))
            continue
        prefix = loc[:tag]
        if prefix not in unions:
            unions[prefix] = {}
            problems.append(Problem(prefix, ""))  # its place in the list; filled in below
        unions[prefix].setdefault(loc[tag], []).append(err)
    filled: list[Problem] = []
    uncounted = 0  # problems past twice the limit are counted, not phrased
    for problem in problems:
        if len(filled) >= 2 * MAX_PROBLEMS:
            uncounted += 1
        elif problem.message or problem.loc not in unions:
            filled.append(problem)
        else:
            filled.extend(_union_problems(model, unions.pop(problem.loc), problem.loc, data,
                                          inherited))
    filled = _drop_required_hidden_by_typos(model, filled, errors)
    if len(filled) + uncounted > MAX_PROBLEMS:
        more = len(filled) + uncounted - MAX_PROBLEMS + 1
        filled = [*filled[: MAX_PROBLEMS - 1],
                  Problem(filled[MAX_PROBLEMS - 1].loc, f"and {more:,} more problems like these")]
    return filled


def _union_problems(model, branches: dict[str, list[dict]], prefix: tuple, data: Any,
                    inherited) -> list[Problem]:
    """The problems of the branch the value was meant for, or one problem if none fits."""
    value = _value_at(data, prefix)
    meant = next((b for b in branches if _branch_accepts(b, value)), None)
    if meant is not None:
        out = []
        for err in branches[meant]:
            loc = tuple(p for p in err["loc"] if not _is_union_tag(p))
            out.append(Problem(loc, _sentence(model, err, loc, inherited)))
        return out
    example = _EXAMPLES.get(_pattern(prefix))
    if example is None:
        texts = [_UNION_BRANCH_TEXT.get(b, "a list" if b.startswith("list[") else "a mapping")
                 for b in branches]
        if "a number" in texts and "a whole number" in texts:
            texts.remove("a whole number")
        texts = list(dict.fromkeys(texts))
        example = " or ".join(texts)
    return [Problem(prefix, f"expected {example}, got {excerpt(value)}")]


def _sentence(model, err: dict, loc: tuple, inherited) -> str:
    kind, got, ctx = err["type"], err.get("input"), err.get("ctx") or {}
    if kind == "extra_forbidden":
        key = loc[-1] if loc else "?"
        allowed = _allowed_keys(_model_at(model, loc[:-1]))
        hint = did_you_mean(key, allowed)
        if hint:
            return f"unknown key {excerpt(key)}{hint}"
        expected = f"; expected one of: {', '.join(allowed)}" if allowed else ""
        return f"unknown key {excerpt(key)}{expected}"
    if kind == "missing":
        key = loc[-1] if loc else ""
        if len(loc) == 1 and key in inherited:
            return f"is required, here or in defaults.{key}"
        return "is required"
    if kind in _EXPECTED:
        expected = _EXAMPLES.get(_pattern(loc), _EXPECTED[kind])
        if got is None:
            return f"has no value; expected {expected}"
        return f"expected {expected}, got {excerpt(got)}"
    if kind == "literal_error":
        options = re.findall(r"'([^']*)'", ctx.get("expected", ""))
        hint = did_you_mean(got, options) if isinstance(got, str) else ""
        return f"expected one of {ctx.get('expected')}, got {excerpt(got)}{hint}"
    bounds = {
        "greater_than_equal": ("must be at least", "ge"),
        "greater_than": ("must be greater than", "gt"),
        "less_than_equal": ("must be at most", "le"),
        "less_than": ("must be less than", "lt"),
    }
    if kind in bounds:
        words, key = bounds[kind]
        return f"{words} {ctx.get(key)}, got {excerpt(got)}"
    if kind == "string_too_short":
        return "must not be empty"
    if kind == "too_short":
        need = ctx.get("min_length", 1)
        have = ctx.get("actual_length", 0)
        return f"must list at least {need} item{'s' if need != 1 else ''}, got {have or 'none'}"
    msg = err["msg"]
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            return msg[len(prefix):]
    if isinstance(got, (dict, list)):
        return msg[:1].lower() + msg[1:]
    return f"{msg[:1].lower() + msg[1:]}, got {excerpt(got)}"


def _drop_required_hidden_by_typos(model, problems: list[Problem], errors) -> list[Problem]:
    """``shedule:`` already says "did you mean 'schedule'?"; "schedule is required" is noise."""
    meant: set[tuple] = set()
    for problem in problems:
        if problem.message.startswith("unknown key ") and "did you mean '" in problem.message:
            suggestion = problem.message.split("did you mean '", 1)[1].split("'", 1)[0]
            meant.add(problem.loc[:-1] + (suggestion,))
    return [p for p in problems if not (p.message.startswith("is required") and p.loc in meant)]


def _is_union_tag(part: Any) -> bool:
    """pydantic names the branch of a union in error locations: ``str``, ``NotifyEntry``..."""
    if not isinstance(part, str):
        return False
    return "[" in part or part in _UNION_BRANCH_TEXT or part in _model_names()


def _branch_accepts(branch: str, value: Any) -> bool:
    if branch == "str":
        return isinstance(value, str)
    if branch == "bool":
        return isinstance(value, bool)
    if branch == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if branch == "float":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if branch.startswith("list["):
        return isinstance(value, list)
    return isinstance(value, dict)  # dict[...] or a model


@functools.lru_cache(maxsize=1)
def _model_names() -> frozenset[str]:
    """Names of the spec models (the branch tags of model members in unions)."""
    from sentinel_assets.spec import channels, models

    return frozenset(
        name for module in (models, channels) for name, value in vars(module).items()
        if isinstance(value, type) and issubclass(value, BaseModel)
    )


def _pattern(loc: tuple) -> str:
    return ".".join("*" if isinstance(p, int) else str(p) for p in loc)


def _value_at(data: Any, loc: tuple) -> Any:
    for part in loc:
        if isinstance(data, dict):
            data = data.get(part)
        elif isinstance(data, list) and isinstance(part, int) and part < len(data):
            data = data[part]
        else:
            return None
    return data


def _model_at(model: Any, loc: tuple) -> type[BaseModel] | None:
    """The model class that validates the mapping at ``loc`` (union tags already removed)."""
    current = model
    for part in loc:
        current = _unwrap(current, part)
        if isinstance(current, type) and issubclass(current, BaseModel) and isinstance(part, str):
            field = _field(current, part)
            if field is None:
                return None
            current = field.annotation
        elif typing.get_origin(current) is list and isinstance(part, int):
            current = typing.get_args(current)[0]
        elif typing.get_origin(current) is dict:
            current = typing.get_args(current)[1]
        else:
            return None
    current = _unwrap(current, "")
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap(annotation: Any, part: Any) -> Any:
    """Strip Annotated/Optional; of a union, take the member that ``part`` can index."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            members = [a for a in typing.get_args(annotation) if a is not type(None)]
            wanted = [a for a in members if (typing.get_origin(a) is list) == isinstance(part, int)
                      and a is not str]
            annotation = (wanted or members)[0]
        else:
            return annotation


def _field(model: type[BaseModel], key: str):
    for name, field in model.model_fields.items():
        if key in (name, field.alias):
            return field
    return None


def _allowed_keys(model: type[BaseModel] | None) -> list[str]:
    if model is None:
        return []
    return [f.alias or n for n, f in model.model_fields.items()]
