"""The base of every spec model: strict (unknown keys are errors), frozen, and, for entries that
are reported by name (alerts, channels), the file and line they were read from."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, PrivateAttr


class Model(BaseModel):
    """A spec model: unknown keys are errors, values cannot change after loading."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class Sourced(Model):
    """A spec entry that remembers the file and line it was read from."""

    _file: str = PrivateAttr(default="")
    _line: int | None = PrivateAttr(default=None)

    @property
    def source_file(self) -> str:
        return self._file

    @property
    def source_line(self) -> int | None:
        return self._line
