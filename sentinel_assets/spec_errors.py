"""Spec errors: each names the file, the alert (or database/channel), the field and the line."""

from __future__ import annotations

import difflib
from dataclasses import dataclass


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
    matches = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6)
    return f"; did you mean '{matches[0]}'?" if matches else ""


class SpecLoadError(Exception):
    """Raised when specs cannot be used at all; carries every error."""

    def __init__(self, errors: list[SpecError]):
        self.errors = errors
        lines = "\n".join(f"  - {e}" for e in errors)
        super().__init__(f"{len(errors)} spec error(s):\n{lines}")
