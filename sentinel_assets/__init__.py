"""sentinel_assets: SQL alerting compiled into Dagster jobs, schedules and sensors."""

from sentinel_assets.core.judging import Outcome, judge
from sentinel_assets.core.lifecycle import AlertState, Notice, Policy, step
from sentinel_assets.engine.evaluation import Evaluation, evaluate_alert
from sentinel_assets.orchestration.factory import build_sentinel_defs
from sentinel_assets.spec.errors import SpecError
from sentinel_assets.spec.loader import load_specs
from sentinel_assets.spec.models import AlertSpec, SentinelConfig

__all__ = [
    "AlertSpec",
    "AlertState",
    "Evaluation",
    "Notice",
    "Outcome",
    "Policy",
    "SentinelConfig",
    "SpecError",
    "build_sentinel_defs",
    "evaluate_alert",
    "judge",
    "load_specs",
    "step",
]
