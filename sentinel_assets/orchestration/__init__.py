"""The Dagster layer: resources, op glue, jobs, schedules, sensors, windows, asset checks and the
``build_sentinel_defs`` factory."""
