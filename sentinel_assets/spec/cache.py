"""Parsed specs cached across processes: a code server, each run worker and the CLI parse a large
specs directory once, not each.

The key is a hash of every spec file's path and bytes, of the values of the environment
variables the files reference (hashed, never stored), and of the loader's own source, so an
edit, a changed ``${VAR}`` or a new sentinel version all miss. Entries are pickles of the loaded
``SentinelConfig`` in ``$SENTINEL_SPEC_CACHE_DIR`` (default ``$DAGSTER_HOME/.sentinel_cache``,
else ``~/.cache/sentinel_assets``); ``SENTINEL_SPEC_CACHE=off`` turns the cache off. A cache that
cannot be read or written is skipped silently: it only ever saves time.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import re
import tempfile
from pathlib import Path
from typing import Callable

from sentinel_assets.spec.compat import compat_env_names

_log = logging.getLogger("sentinel_assets")
_VAR = re.compile(rb"\$\{([A-Za-z_][A-Za-z0-9_]*)")
_KEEP = 20  # entries kept per directory (older ones are removed)


def cache_dir() -> Path | None:
    """Where entries live; None when the cache is off."""
    if os.environ.get("SENTINEL_SPEC_CACHE", "").lower() in ("off", "0", "false", "no"):
        return None
    if os.environ.get("SENTINEL_SPEC_CACHE_DIR"):
        return Path(os.environ["SENTINEL_SPEC_CACHE_DIR"])
    if os.environ.get("DAGSTER_HOME"):
        return Path(os.environ["DAGSTER_HOME"]) / ".sentinel_cache"
    return Path.home() / ".cache" / "sentinel_assets"


def _code_digest() -> bytes:
    digest = hashlib.sha256()
    for path in sorted(Path(__file__).resolve().parents[1].rglob("*.py")):
        if path.parent.name in ("spec", "core") or path.name == "names.py":
            digest.update(path.read_bytes())
    # what the loader's answers also depend on: the query guard's parser and the models' library
    from importlib.metadata import version

    for dist in ("sqlglot", "pydantic", "jinja2"):
        digest.update(f"{dist}=={version(dist)}".encode())
    return digest.digest()


def cache_key(files: list[Path]) -> str:
    """The key of a set of spec files as they are now, with the environment they read."""
    digest = hashlib.sha256(_code_digest())
    names: set[bytes] = set()
    for path in files:
        data = path.read_bytes()
        digest.update(str(path.resolve()).encode() + b"\0" + hashlib.sha256(data).digest())
        names.update(_VAR.findall(data))
        names.update(compat_env_names(data))  # a SQL Sentinel file reads SMTP_* and the like
    for name in sorted(names):
        value = os.environ.get(name.decode())
        digest.update(name + b"=" + (b"\1" + value.encode() if value is not None else b"\0"))
    return digest.hexdigest()


def cached(files: list[Path], load: Callable[[], object]) -> object:
    """``load()``'s result for ``files``, from the cache when it has it."""
    where = cache_dir()
    if where is None or not files:
        return load()
    try:
        key = cache_key(files)
        entry = where / f"specs-{key}.pickle"
        if entry.is_file():
            with entry.open("rb") as handle:
                return pickle.load(handle)  # noqa: S301 - our own cache, keyed by content
    except Exception as exc:  # noqa: BLE001 - a broken cache only costs time
        _log.debug("spec cache unreadable: %s", exc)
        key = None
    value = load()
    if key is not None:
        _store(where, key, value)
    return value


def _store(where: Path, key: str, value: object) -> None:
    try:
        where.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=where, delete=False, suffix=".tmp") as handle:
            pickle.dump(value, handle, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(handle.name, where / f"specs-{key}.pickle")  # atomic for concurrent writers
        entries = sorted(where.glob("specs-*.pickle"), key=lambda p: p.stat().st_mtime)
        for old in entries[:-_KEEP]:
            old.unlink(missing_ok=True)
    except Exception as exc:  # noqa: BLE001 - a read-only disk only costs time
        _log.debug("spec cache not written: %s", exc)
