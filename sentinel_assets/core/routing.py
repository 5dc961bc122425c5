"""Routing: which channels receive which notice. Pure: no Dagster, no I/O.

- an alert's ``notify`` entries get ``firing``, ``repeat`` and ``resolved`` (or the kinds their
  ``on:`` lists);
- ``escalate.notify`` channels get the ``escalation`` notice and, once an episode is escalated,
  its ``repeat`` and ``resolved`` notices too, so whoever was paged hears the end of it;
- ``error`` and ``error_resolved`` go to the ``owner``; an alert without an owner sends them to
  its ``notify`` channels so that a broken alert is never silent.
"""

from __future__ import annotations

from dataclasses import dataclass

from sentinel_assets.core.lifecycle import (
    ERROR_KIND,
    ERROR_RESOLVED,
    ESCALATION,
    FIRING,
    REPEAT,
    RESOLVED,
    Notice,
)

DEFAULT_KINDS = frozenset({FIRING, REPEAT, RESOLVED})
ERROR_KINDS = frozenset({ERROR_KIND, ERROR_RESOLVED})


@dataclass(frozen=True)
class Route:
    """One ``notify`` entry: a channel and the notice kinds it wants (None: the default kinds)."""

    channel: str
    kinds: frozenset[str] | None = None

    def wants(self, kind: str) -> bool:
        return kind in (self.kinds if self.kinds is not None else DEFAULT_KINDS)


@dataclass(frozen=True)
class Routing:
    """Where one alert's notices go."""

    notify: tuple[Route, ...] = ()
    owner: str | None = None
    escalate: tuple[str, ...] = ()

    def channels_for(self, notice: Notice) -> list[str]:
        """The channels, in order and without duplicates, that receive ``notice``."""
        chosen = [r.channel for r in self.notify if r.wants(notice.kind)]
        if notice.kind in ERROR_KINDS:
            if self.owner:
                chosen.insert(0, self.owner)
            elif not chosen:
                chosen = [r.channel for r in self.notify]
        elif notice.kind == ESCALATION or (notice.escalated and notice.kind in (REPEAT, RESOLVED)):
            chosen.extend(self.escalate)
        return list(dict.fromkeys(chosen))
