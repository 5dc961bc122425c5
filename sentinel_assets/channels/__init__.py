"""Notification channels: each turns a notice into a message and delivers it."""

from sentinel_assets.channels.base import DeliveryResult
from sentinel_assets.channels.log import LogChannel
from sentinel_assets.core.messages import NoticeContext

__all__ = ["DeliveryResult", "LogChannel", "NoticeContext"]
