"""In the run log, each notice is one readable line (kind, channel, result, attempts), not JSON."""

from __future__ import annotations

import dagster as dg

from sentinel_assets.orchestration.factory import build_sentinel_defs
from sentinel_assets_tests.demo_project import make_demo


def test_a_notice_is_one_readable_line_in_the_run_log(tmp_path, monkeypatch, outbox, state_url):
    make_demo(tmp_path, monkeypatch)
    job = build_sentinel_defs().resolve_job_def("orders_revenue_low")
    with dg.DagsterInstance.ephemeral() as instance:
        result = job.execute_in_process(instance=instance, raise_on_error=False)
        lines = [r.event_log_entry.user_message for r in instance.get_records_for_run(
            result.run_id).records if not r.event_log_entry.is_dagster_event]
    notices = [line for line in lines if line.startswith("sentinel notice")]
    assert len(notices) == 1
    (line,) = notices
    assert line.startswith("sentinel notice [firing] orders_revenue_low: written to channel "
                           "'outbox'")
    assert "in 1 attempt(s)" in line and "{" not in line
    assert outbox.read_text().count('"kind": "firing"') == 1  # the whole record is in the outbox
