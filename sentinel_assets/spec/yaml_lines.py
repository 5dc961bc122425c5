"""A YAML reader that remembers line numbers and refuses duplicate keys.

PyYAML's safe loader follows YAML 1.1, where ``on``/``off``/``yes``/``no`` are booleans; that
would turn ``on: [firing]`` into ``True: [firing]``. Here only true/false are booleans.
"""

from __future__ import annotations

import re

import yaml


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


# libyaml's parser (C) where PyYAML was built with it: ten times faster on large spec files;
# constructors and resolvers stay the Python ones below
_BASE = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_BASE):
    record_duplicates = False


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
    loader = _RecordingLoader if duplicates == "record" else _Loader
    return yaml.load(text, Loader=loader)  # noqa: S506 - a SafeLoader subclass
