"""The resource class that sends each channel type's notices, looked up by the type's word.

The types themselves are declared once, with their settings, in ``spec.channels``; this map only
pairs each with its sender, and refuses to import if one is missing.
"""

from __future__ import annotations

import dagster as dg

from sentinel_assets.channels.email import EmailChannel
from sentinel_assets.channels.log import LogChannel
from sentinel_assets.channels.slack import SlackChannel
from sentinel_assets.channels.webhook import WebhookChannel
from sentinel_assets.spec.channels import CHANNEL_SPECS

CHANNEL_RESOURCES: dict[str, type[dg.ConfigurableResource]] = {
    cls.kind: cls for cls in (LogChannel, SlackChannel, EmailChannel, WebhookChannel)
}
if set(CHANNEL_RESOURCES) != set(CHANNEL_SPECS):  # a new type needs both halves
    raise ImportError(f"channel types without a sender: {set(CHANNEL_SPECS) ^ set(CHANNEL_RESOURCES)}")
