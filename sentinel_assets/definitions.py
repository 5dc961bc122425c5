"""The code location: ``dagster dev -m sentinel_assets.definitions``."""

import dagster as dg

from sentinel_assets.names import CODE_LOCATION
from sentinel_assets.orchestration.factory import build_sentinel_defs

# in process also for the asset job Dagster makes itself ("Execute" on a check in the UI): one
# op, and a Celery worker's process may start no step subprocess (docs/scale-out.md)
defs = dg.Definitions.merge(build_sentinel_defs(location_name=CODE_LOCATION),
                            dg.Definitions(executor=dg.in_process_executor))
