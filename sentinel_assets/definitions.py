"""The code location: ``dagster dev -m sentinel_assets.definitions``."""

from sentinel_assets.names import CODE_LOCATION
from sentinel_assets.orchestration.factory import build_sentinel_defs

defs = build_sentinel_defs(location_name=CODE_LOCATION)
