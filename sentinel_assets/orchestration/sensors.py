"""Sensors that make sentinel's own problems visible in the Dagster UI."""

from __future__ import annotations

import dagster as dg

from sentinel_assets.names import SPEC_ERRORS_SENSOR
from sentinel_assets.spec.errors import SpecError


class SpecErrorsFound(Exception):
    """Raised by the spec-errors sensor so that its tick fails and shows every error."""


def build_spec_errors_sensor(errors: list[SpecError], name: str = SPEC_ERRORS_SENSOR) -> dg.SensorDefinition:
    """A sensor whose ticks fail, listing every spec error, while the specs have errors."""
    problems = [e for e in errors if not e.warning]
    listing = "\n".join(f"- {e}" for e in problems)

    @dg.sensor(
        name=name,
        description=(f"{len(problems)} spec error(s): alerts with errors were not loaded.\n{listing}"
                     if problems else "The alert specs loaded without errors."),
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=60,  # errors of reloaded specs show within a minute
    )
    def _sensor(context: dg.SensorEvaluationContext):
        if problems:
            raise SpecErrorsFound(
                f"{len(problems)} spec error(s); the alerts concerned were not loaded:\n{listing}"
            )
        return dg.SkipReason("the alert specs loaded without errors")

    return _sensor
