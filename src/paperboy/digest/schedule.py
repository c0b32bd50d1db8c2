"""Which digest period is due for a subscriber, in their own time zone.

A daily digest is due once a day at the subscriber's send hour; the period is named by that local date.
A weekly one is due on Mondays at the send hour; the period is the ISO week of that Monday. A run at any
time sends the latest period that is due and not yet sent (the outbox remembers what was).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from paperboy.db.models import Subscription


def _local_now(subscription: Subscription, now: datetime) -> datetime:
    try:
        zone = ZoneInfo(subscription.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    return now.replace(tzinfo=UTC).astimezone(zone)


def due_day(subscription: Subscription, now: datetime) -> date:
    """The local date of the latest send time at or before `now` (naive UTC)."""
    local = _local_now(subscription, now)
    day = local.date()
    if local.hour < subscription.send_hour:
        day -= timedelta(days=1)
    if subscription.frequency == "weekly":
        day -= timedelta(days=day.weekday())
    return day


def due_period(subscription: Subscription, now: datetime) -> str:
    """The outbox key of the period due now: 2026-11-22 (daily) or 2026-W47 (weekly)."""
    day = due_day(subscription, now)
    if subscription.frequency == "weekly":
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    return day.isoformat()
