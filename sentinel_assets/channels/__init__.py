"""Notification channels: each turns a notice into a message and delivers it."""

from sentinel_assets.channels.base import DeliveryResult, NoticeContext
from sentinel_assets.channels.log import LogChannel

__all__ = ["DeliveryResult", "LogChannel", "NoticeContext"]
