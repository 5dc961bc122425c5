"""The sandbox notice templates render in: Jinja2's ``ImmutableSandboxedEnvironment`` with limits.

A template in a spec file is untrusted text. Jinja2's sandbox already refuses private attributes
and changes to lists and dicts; on top of it a template may not build more than it could ever
send (docs/notifications.md, "Template limits"):

- ``range()`` yields at most ``MAX_RANGE`` items;
- no string, list or mapping a template builds may hold more than ``MAX_VALUE`` characters:
  ``*``, ``**``, ``%``, ``+``, ``str.format``, a ``namespace`` attribute, the filters and string
  methods that repeat text (``center``, ``indent``, ``join``, ``replace``, ``wordwrap``, ``format``,
  ``ljust`` ...) are checked before they run, every call and filter result after;
- ``render_bounded`` gives one render ``MAX_STEPS`` steps (loop iterations, calls, filters),
  ``MAX_WORK`` characters of produced text (also inside macros and ``{% set %}`` blocks), at most
  ``MAX_SECONDS`` of time, and ``MAX_OUTPUT`` characters of output.

Exceeding a limit raises ``TemplateLimitError``. Pure: no threads, no signals, no I/O.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import re
import string
import time
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator

import jinja2
from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError
from jinja2.runtime import LoopContext
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import Namespace

MAX_SOURCE = 65_536  # characters of one template's source
MAX_OUTPUT = 65_536  # characters one render may return
MAX_VALUE = 65_536  # characters of any string, list or mapping a template builds
MAX_RANGE = 10_000  # items of one range()
MAX_STEPS = 100_000  # loop iterations, calls and filters of one render
MAX_WORK = 1_000_000  # characters one render may produce, kept or not (macros, set blocks)
MAX_SECONDS = 2.0  # time of one render
MAX_INT_BITS = 10_000  # bits of an integer a template computes (10 ** 3000 is fine)

_PERCENT = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?[a-zA-Z%]")
_NUMBER = re.compile(r"\d+")


class TemplateLimitError(SecurityError):
    """A template went past one of the limits of this module."""


# -- the budget of one render ---------------------------------------------------------------
@dataclass
class _Budget:
    deadline: float = field(default_factory=lambda: time.monotonic() + MAX_SECONDS)
    steps: int = 0
    work: int = 0

    def step(self, work: int = 0) -> None:
        self.steps += 1
        self.work += work
        if self.steps > MAX_STEPS:
            raise TemplateLimitError(f"the template took more than {MAX_STEPS:,} steps (loop "
                                     "iterations, calls and filters)")
        if self.work > MAX_WORK:
            raise TemplateLimitError(f"the template produced more than {MAX_WORK:,} characters")
        if time.monotonic() > self.deadline:
            raise TemplateLimitError(f"the template took longer than {MAX_SECONDS:g} seconds")


_BUDGET: contextvars.ContextVar[_Budget | None] = contextvars.ContextVar(
    "sentinel_template_budget", default=None)


def _step(work: int = 0) -> None:
    budget = _BUDGET.get()
    if budget is not None:
        budget.step(work)


def render_bounded(template: jinja2.Template, variables: dict[str, Any]) -> str:
    """Render ``template`` within the limits; raises ``TemplateLimitError`` past one."""
    token = _BUDGET.set(_Budget())
    chunks = template.generate(variables)
    try:
        out: list[str] = []
        size = 0
        for chunk in chunks:
            size += len(chunk)
            if size > MAX_OUTPUT:
                raise TemplateLimitError(f"the rendered text is longer than {MAX_OUTPUT:,} "
                                         "characters")
            out.append(chunk)
        return "".join(out)
    finally:
        chunks.close()
        _BUDGET.reset(token)


def check_source(source: str) -> None:
    """Refuse a template source longer than ``MAX_SOURCE`` characters."""
    if len(source) > MAX_SOURCE:
        raise TemplateLimitError(f"the template is {len(source):,} characters long; at most "
                                 f"{MAX_SOURCE:,}")


# -- sizes --------------------------------------------------------------------------------------
def size_of(value: Any, depth: int = 0) -> int:
    """About how many characters ``value`` stands for: the length of a string, the items of a
    list or mapping and their sizes (stopping once past ``MAX_VALUE``), 1 for anything else."""
    if isinstance(value, (str, bytes)):
        return len(value)
    if isinstance(value, (list, tuple, set, frozenset, dict)) and depth < 4:
        total = len(value)
        items = value.items() if isinstance(value, dict) else value
        for item in items:
            total += size_of(item, depth + 1)
            if total > MAX_VALUE:
                break
        return total
    return 1


def _refuse_over(size: int, what: str) -> None:
    if size > MAX_VALUE:
        raise TemplateLimitError(f"{what} would be longer than {MAX_VALUE:,} characters")


def _int_bits(value: Any) -> int:
    return abs(value).bit_length() if isinstance(value, int) else 0


def _widths(specs: Iterable[str]) -> int:
    return sum(int(n) for spec in specs for n in _NUMBER.findall(spec or "")[:4])


def _check_percent(fmt: str | bytes, args: Any) -> None:
    """``fmt % args`` (and the ``format`` filter): widths and repeated arguments in bounds."""
    text = fmt.decode("latin-1") if isinstance(fmt, bytes) else fmt
    specs = [m.group(0) for m in _PERCENT.finditer(text)]
    values = list(args.values()) if isinstance(args, dict) else (
        list(args) if isinstance(args, tuple) else [args])
    widest = max((size_of(v) for v in values), default=0)
    stars = sum(spec.count("*") for spec in specs)
    star_width = max((v for v in values if isinstance(v, int)), default=0) * stars
    _refuse_over(len(text) + len(specs) * widest + _widths(specs) + star_width,
                 "the formatted text")


def _check_str_format(fmt: str, args: tuple, kwargs: dict) -> None:
    """``fmt.format(...)``: widths and repeated arguments in bounds."""
    try:
        fields = [(name, spec) for _, name, spec, _ in string.Formatter().parse(fmt)
                  if name is not None]
    except ValueError:
        return  # str.format raises the same error
    values = list(args) + list(kwargs.values())
    widest = max((size_of(v) for v in values), default=0)
    nested = max((v for v in values if isinstance(v, int)), default=0)
    nested_width = nested * sum((spec or "").count("{") for _, spec in fields)
    _refuse_over(len(fmt) + len(fields) * widest + _widths(s for _, s in fields) + nested_width,
                 "the formatted text")


def _check_replace(text: Any, old: Any, new: Any, count: Any) -> None:
    if not isinstance(text, (str, bytes)) or not isinstance(new, (str, bytes)):
        return
    found = len(text) + 1 if not old else text.count(old) if type(old) is type(text) else 0
    if isinstance(count, int) and count >= 0:
        found = min(found, count)
    _refuse_over(len(text) + found * len(new), "the text after replace")


def _check_repeat(left: Any, right: Any) -> None:
    """``seq * n`` and ``n * seq``; integers with at most ``MAX_INT_BITS`` bits."""
    if isinstance(left, int) and not isinstance(right, int):
        left, right = right, left
    if isinstance(left, (str, bytes, list, tuple)) and isinstance(right, int):
        _refuse_over(size_of(left) * max(right, 0), "the repeated value")
    elif isinstance(left, int) and isinstance(right, int):
        _refuse_bits(_int_bits(left) + _int_bits(right))


def _refuse_bits(bits: int) -> None:
    if bits > MAX_INT_BITS:
        raise TemplateLimitError(f"the number would have more than {MAX_INT_BITS:,} bits")


# -- filters and methods checked before they run -------------------------------------------------
def _filter_check(name: str, bound: inspect.BoundArguments) -> None:
    a = bound.arguments
    if name == "center":
        _refuse_over(max(size_of(a.get("value")), _int(a.get("width", 80))), "the centered text")
    elif name == "indent":
        text, width = a.get("s"), a.get("width", 4)
        each = len(width) if isinstance(width, str) else _int(width)
        lines = str(text).count("\n") + 1 if isinstance(text, str) else 1
        _refuse_over(size_of(text) + lines * each, "the indented text")
    elif name == "join":
        items = a.get("value")
        sep = a.get("d", "")
        count = len(items) if isinstance(items, (list, tuple, str)) else 0
        _refuse_over(size_of(items) + count * size_of(sep), "the joined text")
    elif name == "replace":
        _check_replace(a.get("s"), a.get("old"), a.get("new"), a.get("count"))
    elif name == "wordwrap":
        text = a.get("s")
        if isinstance(text, str):
            lines = len(text) // max(_int(a.get("width", 79)), 1) + text.count("\n") + 1
            _refuse_over(len(text) + lines * size_of(a.get("wrapstring") or "\n"),
                         "the wrapped text")
    elif name == "format":
        value = a.get("value")
        if isinstance(value, str):
            _check_percent(value, a.get("kwargs") or tuple(a.get("args", ())))
    elif name in ("batch", "slice"):
        count = _int(a.get("linecount" if name == "batch" else "slices", 0))
        _refuse_over(count * (1 + size_of(a.get("fill_with"))), f"the {name}")
    elif name == "tojson":
        _refuse_over(size_of(a.get("value")) * (1 + _int(a.get("indent") or 0)), "the JSON text")


def _int(value: Any) -> int:
    return value if isinstance(value, int) else 0


def _method_check(method: Any, args: tuple, kwargs: dict) -> tuple:
    """Check a call of a ``str``/``bytes`` method; returns the arguments to call it with."""
    text = getattr(method, "__self__", None)
    if not isinstance(text, (str, bytes)):
        return args
    name = getattr(method, "__name__", "")
    if name in ("center", "ljust", "rjust", "zfill"):
        width = args[0] if args else kwargs.get("width", 0)
        _refuse_over(max(len(text), _int(width)), f"the text after {name}")
    elif name == "expandtabs":
        size = args[0] if args else kwargs.get("tabsize", 8)
        _refuse_over(len(text) + text.count("\t" if isinstance(text, str) else b"\t")
                     * _int(size), "the text after expandtabs")
    elif name == "replace":
        _check_replace(text, *(list(args) + [None, None, None])[:3])
    elif name == "join" and args:
        items = list(args[0])
        _refuse_over(size_of(items) + len(items) * len(text), "the joined text")
        return (items, *args[1:])
    elif name in ("translate", "maketrans"):
        raise TemplateLimitError(f"str.{name} is not available in templates")
    return args


# -- the environment ---------------------------------------------------------------------------
def bounded_range(*args: int) -> range:
    """``range()`` of at most ``MAX_RANGE`` items."""
    numbers = range(*args)
    if len(numbers) > MAX_RANGE:
        raise TemplateLimitError(f"range() of {len(numbers):,} items; at most {MAX_RANGE:,}")
    return numbers


class BoundedNamespace(Namespace):
    """``namespace()`` whose attributes stay within ``MAX_VALUE`` (a loop cannot grow one)."""

    def __setitem__(self, name: str, value: Any) -> None:
        _refuse_over(size_of(value), f"namespace attribute {name!r}")
        _refuse_bits(_int_bits(value))
        Namespace.__setitem__(self, name, value)


def _finalize(value: Any) -> Any:
    """Every ``{{ ... }}`` passes here, in macros and ``{% set %}`` blocks too: count its size."""
    if _BUDGET.get() is not None:
        _step(size_of(value) if isinstance(value, (str, bytes, list, tuple, dict)) else 1)
    return value


def _guard_filter(name: str, function: Any) -> Any:
    if getattr(function, "_sentinel_guarded", False):
        return function
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        signature = None
    # Jinja passes the context, eval context or environment first when the filter asks for it;
    # a few (async variants like `slice`) ask without naming it in their signature
    first = next(iter(signature.parameters), "") if signature else ""
    skip = int(getattr(function, "jinja_pass_arg", None) is not None
               and first not in ("context", "eval_ctx", "environment", "env"))

    @functools.wraps(function)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        _step()
        if signature is not None:
            try:
                bound = signature.bind(*args[skip:], **kwargs)
            except TypeError:
                bound = None  # the filter itself reports the wrong arguments
            if bound is not None:
                if name == "join" and not isinstance(bound.arguments.get("value"),
                                                     (list, tuple, str)):
                    bound.arguments["value"] = list(bound.arguments.get("value") or ())
                    args, kwargs = (*args[:skip], *bound.args), bound.kwargs
                _filter_check(name, bound)
        result = function(*args, **kwargs)
        _refuse_over(size_of(result), f"the result of the {name} filter")
        return result

    guarded._sentinel_guarded = True  # type: ignore[attr-defined]
    return guarded


class _GuardedFilters(dict):
    """The filters of a bounded environment: each one added is wrapped by ``_guard_filter``."""

    def __setitem__(self, name: str, function: Any) -> None:
        super().__setitem__(name, _guard_filter(name, function))

    def update(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        for name, function in dict(*args, **kwargs).items():
            self[name] = function


class _CountedLoops(CodeGenerator):
    """Compiles ``{% for x in items %}`` as ``for x in environment.sentinel_iter(items, n)``,
    ``n`` being the literal text of the loop's body, so every iteration is a step of the
    budget."""

    def visit_For(self, node: nodes.For, frame: Frame) -> None:
        literal = sum(len(n.data) for n in node.find_all(nodes.TemplateData)) + sum(
            len(n.value) for n in node.find_all(nodes.Const) if isinstance(n.value, str))
        counted = nodes.Call(nodes.EnvironmentAttribute("sentinel_iter"),
                             [node.iter, nodes.Const(literal)], [], None, None,
                             lineno=node.iter.lineno)
        clone = nodes.For(node.target, counted, node.body, node.else_, node.test,
                          node.recursive, lineno=node.lineno)
        clone.set_environment(self.environment)
        super().visit_For(clone, frame)


class BoundedSandbox(ImmutableSandboxedEnvironment):
    """Jinja2's immutable sandbox with the limits of this module."""

    code_generator_class = _CountedLoops
    intercepted_binops = frozenset({"*", "**", "%", "+"})

    def __init__(self, **options: Any) -> None:
        super().__init__(finalize=_finalize, **options)
        guarded = _GuardedFilters()
        guarded.update(self.filters)
        self.filters = guarded
        self.globals["range"] = bounded_range
        self.globals["namespace"] = BoundedNamespace
        self.globals.pop("lipsum", None)  # paragraphs of filler text: nothing a notice needs

    @staticmethod
    def sentinel_iter(items: Any, literal: int = 0) -> Iterator[Any]:
        for item in items:
            _step(literal)
            yield item

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        _step()
        if operator == "*":
            _check_repeat(left, right)
        elif operator == "**" and isinstance(left, int) and isinstance(right, int) and right > 0:
            _refuse_bits(max(_int_bits(left), 1) * right)
        elif operator == "%" and isinstance(left, (str, bytes)):
            _check_percent(left, right)
        elif operator == "+" and isinstance(left, (str, bytes, list, tuple)):
            _refuse_over(size_of(left) + size_of(right), "the joined value")
        return super().call_binop(context, operator, left, right)

    def wrap_str_format(self, value: Any) -> Any:
        wrapper = super().wrap_str_format(value)
        if wrapper is None:
            return None
        fmt = value.__self__
        is_map = value.__name__ == "format_map"

        @functools.wraps(wrapper)
        def checked(*args: Any, **kwargs: Any) -> str:
            mapping = args[0] if is_map and args and isinstance(args[0], dict) else kwargs
            _check_str_format(fmt, () if is_map else args, mapping)
            return wrapper(*args, **kwargs)

        return checked

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        _step()
        if isinstance(__obj, LoopContext) and args:  # loop(children) of a recursive loop
            args = (__self.sentinel_iter(args[0]), *args[1:])
        args = _method_check(__obj, args, kwargs)
        for value in (*args, *kwargs.values()):  # a macro calling itself with a doubled text
            _refuse_over(size_of(value), "an argument")
        result = super().call(__context, __obj, *args, **kwargs)
        _refuse_over(size_of(result), "the result of a call")
        return result
