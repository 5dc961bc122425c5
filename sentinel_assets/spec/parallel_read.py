"""Reading spec files, in worker processes when there is much to read.

Holds ``parse_file``, the part of reading a spec file that depends on that file alone (its size
limit, its YAML, the shape of the parsed document and its duplicate keys), and ``read_in_pool``,
which runs it over many files at once in spawned processes. The loader does the rest in the
parent, file by file in order: the SQL Sentinel conversion shares databases, channels and job
names across files, so it must see the files one after the other, as the sequential read does.

A worker process imports only this module and what it needs (PyYAML, ``yaml_lines``, two small
helpers of ``core``), no pydantic: it starts in a fraction of a second. Processes are spawned,
never forked, since the loader runs inside Dagster's code server, which has threads; and only
where a spawned process does not run the main module again (``main_runs_in_workers``).
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from pathlib import Path
from typing import Any, Callable

import yaml

from sentinel_assets.core.bounds import truncate_text
from sentinel_assets.core.excerpt import excerpt
from sentinel_assets.spec.yaml_lines import MAX_CHARS, LineDict, YamlLimitError, load_yaml

#: spec files are read in worker processes only when there are two or more and they hold more
#: bytes than this together; below it starting the processes costs more than it saves
PARALLEL_MIN_BYTES = 1024 * 1024

#: ``error(file, message, **where)``: records one ``SpecError``
ErrorSink = Callable[..., None]
#: what a worker returns for one file: the document (None: not loaded), the problems found as
#: ``(file, message, where)`` and, when reading it raised, the message of that exception
WorkerResult = tuple[Any, list[tuple[str, str, dict]], str | None]


def left_out_message(exc: BaseException) -> str:
    """The message of a spec error for an entry whose reading raised ``exc``."""
    return (f"could not be read ({type(exc).__name__}: {truncate_text(str(exc), 300)}); it was "
            "left out")


def parse_file(path: Path, error: ErrorSink) -> LineDict | None:
    """The parsed document of one spec file; None, after recording why with ``error``, when the
    file cannot be loaded (too large, not YAML, not a mapping, a key written twice)."""
    name = str(path)
    try:
        if path.stat().st_size > MAX_CHARS:  # before reading it
            raise YamlLimitError(f"the file has {path.stat().st_size:,} bytes; at most "
                                 f"{MAX_CHARS:,} (5 MiB)")
        doc = load_yaml(path.read_text(encoding="utf-8"), duplicates="record")
    except YamlLimitError as exc:
        mark = exc.problem_mark
        error(name, f"{exc.problem}; the file was not loaded (see the limits in "
              "docs/spec-reference.md)", line=mark.line + 1 if mark else None)
        return None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        error(name, f"invalid YAML: {problem}; the file was not loaded",
              line=mark.line + 1 if mark else None)
        return None
    except (OSError, UnicodeDecodeError) as exc:
        error(name, f"cannot read the file: {exc}")
        return None
    if doc is None:
        return LineDict()
    if not isinstance(doc, dict):
        error(name, "expected a mapping with databases, channels, defaults and alerts at the top "
              f"level, got {type(doc).__name__}", line=1)
        return None
    if doc.duplicates:
        for key, first, line in doc.duplicates:
            error(name, f"duplicate key {excerpt(key)} (first at line {first}); the file was not "
                  "loaded", line=line, field=str(key))
        return None
    return doc


def read_one(name: str) -> WorkerResult:
    """``parse_file`` in a worker process: what it returns and records, and what it raised."""
    problems: list[tuple[str, str, dict]] = []

    def error(file: str, message: str, **where: Any) -> None:
        problems.append((file, message, where))

    try:
        return parse_file(Path(name), error), problems, None
    except Exception as exc:  # noqa: BLE001 - the file's error, as the loader's ``guarded``
        return None, problems, left_out_message(exc)


def main_runs_in_workers() -> bool:
    """Whether a spawned process runs this process's main module again before it does anything:
    it does for ``python script.py`` and ``python -m module`` (a console script such as
    ``sentinel`` or ``pytest`` too), not for ``python -m package`` (Dagster starts its code
    servers and run workers with ``python -m dagster``), ``python -c`` or an interactive session.

    Running it again would cost each worker the script's imports (seconds for the CLI), and
    would repeat the top-level code of a script without ``if __name__ == "__main__":``.
    """
    main = sys.modules.get("__main__")
    name = getattr(getattr(main, "__spec__", None), "name", None)
    if name is not None:  # as multiprocessing.spawn decides
        return not (name == "__main__" or name.endswith(".__main__"))
    return getattr(main, "__file__", None) is not None


def worth_a_pool(files: list[Path]) -> bool:
    """Two files or more holding more than ``PARALLEL_MIN_BYTES`` together, two CPUs or more,
    and workers that need not run the main module again (``main_runs_in_workers``)."""
    if len(files) < 2 or (os.cpu_count() or 1) < 2 or main_runs_in_workers():
        return False
    total = 0
    for path in files:
        try:
            total += path.stat().st_size
        except OSError:
            continue  # reading it reports the problem
    return total > PARALLEL_MIN_BYTES


def read_in_pool(files: list[Path]) -> list[WorkerResult]:
    """``read_one`` of each file, in file order, in spawned worker processes.

    Raises whatever the executor raises (no process can be started, a worker died): the
    caller then reads the files itself, which only ever costs time.
    """
    from concurrent.futures import ProcessPoolExecutor

    workers = min(os.cpu_count() or 1, len(files))
    with ProcessPoolExecutor(max_workers=workers,
                             mp_context=multiprocessing.get_context("spawn")) as pool:
        return list(pool.map(read_one, [str(p) for p in files]))
