"""What runs inside an op or asset check: the resources it needs and the evaluation with the
run's resources, logging, run tags and Pushgateway figures around ``engine.evaluate_alert``."""

import os

from sentinel_assets.engine.evaluation import Evaluation, evaluate_alert
from sentinel_assets.names import STATE_KEY, WINDOW_TAG, channel_key, db_key
from sentinel_assets.observe.logs import log_evaluation
from sentinel_assets.observe.push import push_evaluation
from sentinel_assets.orchestration.metadata import evaluation_tags
from sentinel_assets.orchestration.windows import is_replay, window_params
from sentinel_assets.spec.models import AlertSpec


def run_url(run_id: str) -> str | None:
    """Link to the run in the Dagster UI when ``SENTINEL_WEBSERVER_URL`` is set."""
    base = os.environ.get("SENTINEL_WEBSERVER_URL")
    return f"{base.rstrip('/')}/runs/{run_id}" if base else None


def evaluate_in_op(
    context, alert: AlertSpec, channel_names: list[str], *, tag_run: bool = True
) -> Evaluation:
    """Evaluate ``alert`` with the op's (or check's) resources, logging and tagging the run.

    A batch run evaluates many alerts and tags the run itself (``tag_run=False`` here).
    """
    op_context = getattr(context, "op_execution_context", context)
    resources = op_context.resources
    channels = {
        name: getattr(resources, channel_key(name))
        for name in channel_names
        if hasattr(resources, channel_key(name))
    }
    params, replay = None, False
    if alert.window:
        params = window_params(op_context)
        replay = is_replay(op_context, alert)
    ev = evaluate_alert(
        alert,
        database=getattr(resources, db_key(alert.database)),
        state_store=getattr(resources, STATE_KEY).store(),
        channels=channels,
        params=params,
        run_id=op_context.run_id,
        run_url=run_url(op_context.run_id),
        log=op_context.log,
        record_state=not replay,
        notify_replay=alert.notify_backfills,
    )
    tags = evaluation_tags(ev)
    if params:
        tags[WINDOW_TAG] = f"{params['window_start'].isoformat()}/{params['window_end'].isoformat()}"
    if tag_run:
        op_context.instance.add_run_tags(op_context.run_id, tags)
    replayed = " (replayed window: live state unchanged)" if replay else ""
    retried = f" ({ev.retried_notices} retried)" if ev.retried_notices else ""
    op_context.log.info(
        f"alert {alert.name}: {ev.status} ({ev.outcome.message}); state "
        f"{ev.previous.status} -> {ev.state.status}; {ev.notice_count} notice(s){retried}"
        f"{replayed}"
    )
    log_evaluation(ev, op_context.run_id)
    if not replay:
        push_evaluation(ev, op_context.run_id)  # best effort, only with SENTINEL_PUSHGATEWAY_URL
    return ev


def required_resources(alert: AlertSpec, channel_names: list[str]) -> set[str]:
    return {STATE_KEY, db_key(alert.database)} | {channel_key(c) for c in channel_names}
