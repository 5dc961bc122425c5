"""``${VAR}`` and ``${VAR:-default}`` substitution in spec values."""

from __future__ import annotations

import os
import re
from typing import Mapping

ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_WHOLE_REF = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")


class MissingEnvVar(ValueError):
    """A ``${VAR}`` without a default refers to a variable that is not set."""

    def __init__(self, names: list[str]):
        self.names = list(dict.fromkeys(names))
        listed = ", ".join(self.names)
        if len(self.names) == 1:
            what = f"environment variable {listed} is not set (or is empty); set it"
        else:
            what = f"environment variables {listed} are not set (or are empty); set them"
        super().__init__(f"{what}, or write ${{{self.names[0]}:-default}} to give a default")


def expand(text: str, environ: Mapping[str, str] | None = None) -> str:
    """Replace every ``${VAR}`` / ``${VAR:-default}`` in ``text``.

    Raises:
        MissingEnvVar: naming every variable that is unset and has no default.
    """
    env = os.environ if environ is None else environ
    missing: list[str] = []

    def replace(match: re.Match) -> str:
        name, default = match.group(1), match.group(2)
        if name in env and env[name] != "":
            return env[name]
        if default is not None:
            return default
        missing.append(name)
        return ""

    result = ENV_REF.sub(replace, text)
    if missing:
        raise MissingEnvVar(missing)
    return result


def referenced_vars(text: str) -> list[str]:
    """Names of the variables ``text`` refers to."""
    return [m.group(1) for m in ENV_REF.finditer(text)]


def whole_env_var(text: str) -> str | None:
    """``"${NAME}"`` -> ``"NAME"``; None when the text is anything else."""
    match = _WHOLE_REF.match(text.strip())
    return match.group(1) if match else None
