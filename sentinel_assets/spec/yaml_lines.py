"""A YAML reader that remembers line numbers and refuses duplicate keys.

PyYAML's safe loader follows YAML 1.1, where ``on``/``off``/``yes``/``no`` are booleans; that
would turn ``on: [firing]`` into ``True: [firing]``. Here only true/false are booleans.

A spec file is read with limits (``YamlLimitError``, a ``yaml.YAMLError``), checked on the parsed
node graph before any Python value is built: at most ``MAX_CHARS`` characters, lists and mappings
nested at most ``MAX_DEPTH`` deep, at most ``MAX_ALIASES`` aliases (``*name``) and at most
``MAX_NODES`` values once every alias is expanded, so that an alias bomb ("billion laughs")
stops here, in about the time it takes to parse the file.
"""

from __future__ import annotations

import re

import yaml

from sentinel_assets.core.bounds import truncate_text

MAX_CHARS = 5 * 1024 * 1024  # characters of one file (5 MiB)
MAX_DEPTH = 64  # lists and mappings inside each other
MAX_ALIASES = 10_000  # uses of an anchor (*name)
MAX_NODES = 500_000  # values of one file, each alias expanded


class LineDict(dict):
    """A dict that knows the line of its own start and of each of its keys (1-based).

    ``duplicates`` lists ``(key, first_line, line)`` for keys written twice (the last value is
    kept), when the document was read with ``load_yaml(text, duplicates="record")``.
    """

    line: int | None = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.key_lines: dict = {}
        self.duplicates: list[tuple] = []

    def line_of(self, key) -> int | None:
        return self.key_lines.get(key, self.line)


class DuplicateKey(yaml.YAMLError):
    def __init__(self, key, first_line: int, line: int):
        self.key, self.first_line, self.line = key, first_line, line
        super().__init__(f"duplicate key {key!r} (first at line {first_line})")


class YamlLimitError(yaml.MarkedYAMLError):
    """A file past one of the limits of this module (``problem`` says which)."""

    def __init__(self, problem: str, mark=None):
        super().__init__(problem=problem, problem_mark=mark)


_CONTAINERS = (yaml.SequenceNode, yaml.MappingNode)


def check_limits(root: yaml.Node) -> None:
    """Refuse a node graph nested too deeply, with too many aliases or too many values once its
    aliases are expanded. Iterative and linear in the size of the graph (not of its expansion):
    an alias is a second reference to a node, whose expanded size is counted once and reused."""
    if not isinstance(root, _CONTAINERS):
        return
    size: dict[int, int] = {}  # id(list or mapping) -> values in it, aliases expanded
    height: dict[int, int] = {}  # id(list or mapping) -> levels of lists and mappings in it
    seen = {id(root)}
    on_path: set[int] = set()
    aliases = 0
    scalar = yaml.ScalarNode
    stack: list[tuple] = [(root, 1, None)]
    while stack:
        node, level, kids = stack.pop()
        key = id(node)
        if kids is not None:  # every list and mapping inside is done
            on_path.discard(key)
            total, tallest = 1, 0
            for kid in kids:
                if kid.__class__ is scalar:
                    total += 1
                else:
                    total += size[id(kid)]
                    tallest = max(tallest, height[id(kid)])
            size[key], height[key] = total, tallest + 1
            if level + tallest > MAX_DEPTH:
                raise YamlLimitError(f"lists and mappings are nested more than {MAX_DEPTH} "
                                     "levels deep", node.start_mark)
            if total > MAX_NODES:
                raise YamlLimitError(f"the file holds more than {MAX_NODES:,} values once its "
                                     "aliases (*name) are expanded", node.start_mark)
            continue
        if key in size:
            continue
        if level > MAX_DEPTH:
            raise YamlLimitError(f"lists and mappings are nested more than {MAX_DEPTH} levels "
                                 "deep", node.start_mark)
        kids = (node.value if isinstance(node, yaml.SequenceNode)
                else [part for pair in node.value for part in pair])
        on_path.add(key)
        stack.append((node, level, kids))
        for kid in kids:
            ident = id(kid)
            if ident in seen:
                if ident in on_path:
                    raise YamlLimitError("an alias (*name) refers to a list or mapping that "
                                         "contains it", node.start_mark)
                aliases += 1
                if aliases > MAX_ALIASES:
                    raise YamlLimitError(f"the file uses aliases (*name) more than "
                                         f"{MAX_ALIASES:,} times", node.start_mark)
            else:
                seen.add(ident)
            if kid.__class__ is not scalar and ident not in size:
                stack.append((kid, level + 1, None))


# libyaml's parser (C) where PyYAML was built with it: ten times faster on large spec files;
# constructors and resolvers stay the Python ones below
_BASE = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_BASE):
    record_duplicates = False

    def get_single_data(self):
        try:
            node = self.get_single_node()
        except RecursionError:  # PyYAML without libyaml composes recursively
            raise YamlLimitError(f"lists and mappings are nested more than {MAX_DEPTH} levels "
                                 "deep") from None
        if node is None:
            return None
        check_limits(node)
        try:
            return self.construct_document(node)
        except yaml.YAMLError:
            raise
        except (ValueError, TypeError, OverflowError, ArithmeticError) as exc:
            # a date like 2026-13-45, an integer of more than 4300 digits
            raise yaml.constructor.ConstructorError(
                problem=f"a value cannot be read ({type(exc).__name__}: "
                f"{truncate_text(str(exc), 200)})") from None


class _RecordingLoader(_Loader):
    record_duplicates = True


# YAML 1.2 booleans only: keep `on:` a string key
_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def _construct_mapping(loader: _Loader, node: yaml.MappingNode, deep: bool = False) -> LineDict:
    loader.flatten_mapping(node)
    mapping = LineDict()
    mapping.line = node.start_mark.line + 1
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        try:
            hash(key)
        except TypeError:
            raise yaml.constructor.ConstructorError(
                "while reading a mapping", node.start_mark, "a key is a list or mapping (written "
                "with '?'); keys must be plain text", key_node.start_mark) from None
        if key in mapping:
            if not loader.record_duplicates:
                raise DuplicateKey(key, mapping.key_lines[key], line)
            # like other YAML readers, the last value wins; the caller reports the duplicate
            mapping.duplicates.append((key, mapping.key_lines[key], line))
        mapping[key] = loader.construct_object(value_node, deep=True)
        mapping.key_lines[key] = line
    return mapping


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_yaml(text: str, duplicates: str = "raise"):
    """Parse one YAML document into LineDicts, lists and scalars.

    Args:
        text: the YAML text.
        duplicates: ``"raise"`` raises ``DuplicateKey`` at the first key written twice in one
            mapping; ``"record"`` keeps the last value and lists the repeats in
            ``LineDict.duplicates``, so a caller can reject only the part that holds them.
    """
    if len(text) > MAX_CHARS:
        raise YamlLimitError(f"the file has {len(text):,} characters; at most {MAX_CHARS:,} "
                             "(5 MiB)")
    loader = _RecordingLoader if duplicates == "record" else _Loader
    return yaml.load(text, Loader=loader)  # noqa: S506 - a SafeLoader subclass
