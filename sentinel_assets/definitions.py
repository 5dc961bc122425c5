"""The code location: ``dagster dev -m sentinel_assets.definitions``.

``defs`` is loaded lazily. A process that serves the location (a code server, the CLI) builds
every alert's definitions (``build_sentinel_defs``), once for as long as the spec files and the
environment they read stay the same; a run's own process (``dagster api execute_run``, a Celery
worker) builds only the job it runs (``orchestration.run_worker``), so a run of a location of
10,000 alerts starts in seconds.

Dagster says why it loads definitions: to serve them (initialization) or to run a job
(reconstruction). A code server does both, one after the other, and must serve the full
definitions both times; a run worker only reconstructs. So the lazy path is taken by a process
that reconstructs without having served the location first.
"""

import dagster as dg

from sentinel_assets.names import CODE_LOCATION

_BUILT: dict[str | None, dg.Definitions] = {}
_SERVING = {"location": False}  # this process has loaded the location to serve it


def location_defs() -> dg.Definitions:
    """The whole code location, as the code server serves it."""
    from sentinel_assets.orchestration.factory import build_sentinel_defs
    from sentinel_assets.spec.loader import specs_fingerprint

    key = specs_fingerprint()
    if key is None or key not in _BUILT:
        _BUILT.clear()
        # in process also for the asset job Dagster makes itself ("Execute" on a check in the
        # UI): one op, and a Celery worker's process may start no step subprocess
        # (docs/scale-out.md)
        _BUILT[key] = dg.Definitions.merge(build_sentinel_defs(location_name=CODE_LOCATION),
                                           dg.Definitions(executor=dg.in_process_executor))
    return _BUILT[key]


def _reconstructing() -> bool:
    """Whether Dagster loads the location to run a job (not to serve it). Dagster says so through
    its definitions load context, which it does not export yet; without it, build it all."""
    try:
        from dagster._core.definitions.definitions_load_context import (
            DefinitionsLoadContext,
            DefinitionsLoadType,
        )
    except ImportError:  # pragma: no cover - a Dagster that moved it
        return False
    return DefinitionsLoadContext.get().load_type == DefinitionsLoadType.RECONSTRUCTION


@dg.definitions
def defs():
    if not _reconstructing():
        _SERVING["location"] = True
    elif not _SERVING["location"]:
        from sentinel_assets.orchestration.run_worker import run_worker_repository

        return run_worker_repository(full=location_defs, location_name=CODE_LOCATION)
    return location_defs()
