"""The embedded default channel: one JSON line per notice in a local outbox file."""

from __future__ import annotations

import fcntl
import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import dagster as dg

from sentinel_assets.channels.base import DeliveryResult
from sentinel_assets.core.bounds import MESSAGE_CHARS, bound_rows, bound_value, truncate_text
from sentinel_assets.core.messages import NoticeContext
from sentinel_assets.spec.channels import LogSettings

DEFAULT_OUTBOX = ".sentinel/outbox.jsonl"


def outbox_path(path: str | None = None) -> Path:
    """``path``, else ``$SENTINEL_OUTBOX``, else ``.sentinel/outbox.jsonl`` in the working dir."""
    return Path(path or os.environ.get("SENTINEL_OUTBOX") or DEFAULT_OUTBOX)


def notice_record(context: NoticeContext) -> dict[str, Any]:
    """The JSON object written for a notice."""
    n = context.notice
    return {
        "alert": n.alert,
        "kind": n.kind,
        "status": n.status,
        "previous_status": n.previous_status,
        "value": bound_value(n.value),
        "threshold": bound_value(n.threshold),
        "message": truncate_text(n.message, MESSAGE_CHARS),
        "evaluated_at": n.evaluated_at.isoformat(),
        "channel": context.channel,
        "description": context.description,
        "owner": context.owner,
        "tags": context.tags,
        "rows": list(bound_rows(n.rows[:5])),
        "run_id": context.run_id,
        "run_url": context.run_url,
        "window": context.window,
        "idempotency_key": context.idempotency_key,
        "written_at": datetime.now(timezone.utc).isoformat(),
    }


class LogChannel(dg.ConfigurableResource, LogSettings):
    """Writes each notice as a JSON line to a local outbox and to the Dagster log.

    Example:
        .. code-block:: python

            outbox = LogChannel(path=".sentinel/outbox.jsonl")
    """

    def deliver(self, context: NoticeContext, log: Any = None) -> DeliveryResult:
        record = notice_record(context)
        line = json.dumps(record, default=str)
        try:
            target = outbox_path(self.path)
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(target, "a", encoding="utf-8") as fh:
                fcntl.flock(fh, fcntl.LOCK_EX)
                fh.write(line + "\n")
                fh.flush()
                fcntl.flock(fh, fcntl.LOCK_UN)
        except OSError as exc:
            return DeliveryResult(ok=False, error=f"cannot write outbox {self.path!r}: {exc}")
        if log is not None:
            # one readable line; the whole record is the outbox line
            log.info(f"sentinel notice [{record['kind']}] {record['alert']}: written to channel "
                     f"{context.channel!r} ({target}) in 1 attempt(s): {record['message']}")
        return DeliveryResult(ok=True, detail={"path": str(target)})
