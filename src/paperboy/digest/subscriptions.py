"""Subscriptions to the email digest: created pending, active only once the address is confirmed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from paperboy.addresses import AddressError, normalize_email
from paperboy.clock import utcnow
from paperboy.db.models import Subscription

Frequency = Literal["daily", "weekly"]
FREQUENCIES: tuple[Frequency, ...] = ("daily", "weekly")


class SubscriptionError(ValueError):
    """A subscription request is refused; `field` names the input at fault."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class SubscribeOutcome:
    subscription_id: int
    email: str
    needs_confirmation: bool
    """False when the address is already confirmed for this frequency (nothing to send)."""


def subscribe(
    session: Session, email: str, frequency: str = "daily", user_id: int | None = None
) -> SubscribeOutcome:
    """Create (or re-open) a pending subscription for `email`; idempotent per (email, frequency)."""
    try:
        address = normalize_email(email)
    except AddressError as exc:
        raise SubscriptionError("email", str(exc)) from None
    if frequency not in FREQUENCIES:
        raise SubscriptionError("frequency", f"frequency must be daily or weekly, got {frequency!r}")
    query = select(Subscription).where(Subscription.email == address, Subscription.frequency == frequency)
    existing = session.scalar(query)
    if existing is not None:
        if existing.status == "active":
            return SubscribeOutcome(existing.id, address, needs_confirmation=False)
        existing.status = "pending"
        return SubscribeOutcome(existing.id, address, needs_confirmation=True)
    subscription = Subscription(
        email=address,
        user_id=user_id,
        frequency=frequency,
        status="pending",
        categories=[],
        keywords=[],
        authors=[],
        excluded_keywords=[],
        created_at=utcnow(),
    )
    session.add(subscription)
    session.flush()
    return SubscribeOutcome(subscription.id, address, needs_confirmation=True)
