"""How a value written by someone is quoted in a message: ``excerpt``, the one rule every spec
error, template problem and duration error uses. Pure: no Dagster, no I/O.

A spec may hold a 100,000-character timezone or a structure that an alias bomb repeats a billion
times; a message quotes at most ``EXCERPT_CHARS`` characters of it, ending with the marker of
``core.bounds.truncate_text`` when it was cut, and never walks more than a few levels and items
of a list or mapping.
"""

from __future__ import annotations

import reprlib
from typing import Any

from sentinel_assets.core.bounds import truncate_text

EXCERPT_CHARS = 200  # characters of a value quoted in a message


class _Excerpt(reprlib.Repr):
    """``reprlib`` with room for a few levels and items; subclasses of the builtin containers
    (the loader's ``LineDict``) are shown like their base instead of with their full repr."""

    _BASES = (dict, list, tuple, set, frozenset, str, int)

    def __init__(self) -> None:
        super().__init__()
        self.maxlevel = 3
        self.maxdict = self.maxlist = self.maxtuple = self.maxset = self.maxfrozenset = 8
        self.maxstring = self.maxlong = self.maxother = 80

    def repr1(self, x: Any, level: int) -> str:
        for base in self._BASES:
            if isinstance(x, base) and type(x) is not base:
                return getattr(self, f"repr_{base.__name__}")(x, level)
        return super().repr1(x, level)


_REPR = _Excerpt()


def excerpt(value: Any, limit: int = EXCERPT_CHARS) -> str:
    """``repr(value)`` in at most about ``limit`` characters.

    A longer text keeps its first ``limit`` characters and says how long it was
    (``'xxx…' … [truncated, 100,000 chars]``); a list or mapping shows a few levels and items
    (``[[[...], ...], ...]``); a number too long to print says so.
    """
    if isinstance(value, str):
        if len(value) <= limit:
            return repr(value)
        return f"{value[:limit]!r}… [truncated, {len(value):,} chars]"
    if isinstance(value, int) and value.bit_length() > 4 * limit:
        return f"<a number of about {int(value.bit_length() * 0.30103) + 1:,} digits>"
    try:
        text = _REPR.repr(value)
    except Exception:  # noqa: BLE001 - a value whose repr fails is still quoted
        text = f"<{type(value).__name__}>"
    return truncate_text(text, limit)
