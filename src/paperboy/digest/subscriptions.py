"""Subscriptions to the email digest: created pending, active only once the address is confirmed.

Topics are checked here (known arXiv categories, sane keywords, a real time zone), so every way in — the
web form, the JSON API and the CLI — refuses the same inputs with the same messages.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal
from zoneinfo import available_timezones

from sqlalchemy import select
from sqlalchemy.orm import Session

from paperboy.addresses import AddressError, normalize_email
from paperboy.clock import utcnow
from paperboy.db.models import Subscription
from paperboy.taxonomy import canonical_category

Frequency = Literal["daily", "weekly"]
FREQUENCIES: tuple[Frequency, ...] = ("daily", "weekly")
MAX_TOPICS = 20
MAX_TOPIC_LENGTH = 200


class SubscriptionError(ValueError):
    """A subscription request is refused; `field` names the input at fault."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Topics:
    """What the "for you" section looks for."""

    categories: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    """Keywords or saved searches (any search query: words, "phrases", author:, cat:)."""
    authors: tuple[str, ...] = ()
    excluded_keywords: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.categories or self.keywords or self.authors)


@dataclass(frozen=True)
class SubscriptionRequest:
    email: str
    frequency: str = "daily"
    send_hour: int = 7
    timezone: str = "UTC"
    max_papers: int = 10
    topics: Topics = field(default_factory=Topics)


@dataclass(frozen=True)
class SubscribeOutcome:
    subscription_id: int
    email: str
    needs_confirmation: bool
    """False when the address is already confirmed for this frequency (nothing to send)."""


def keyword_label(keyword: str) -> str:
    """How a digest names a keyword: “diffusion”, or a saved search with its own quotes shown curly and
    not wrapped in more quotes (the search "diffusion models" cat:cs.CV → the search “diffusion models”
    cat:cs.CV)."""
    if '"' not in keyword:
        return f"“{keyword}”"
    parts = keyword.split('"')
    curly = "".join(part if i % 2 == 0 else f"“{part}”" for i, part in enumerate(parts))
    return f"the search {curly}"


def _clean_list(values: tuple[str, ...] | list[str], name: str) -> tuple[str, ...]:
    cleaned = tuple(dict.fromkeys(v.strip() for v in values if v and v.strip()))
    if len(cleaned) > MAX_TOPICS:
        raise SubscriptionError(name, f"at most {MAX_TOPICS} {name} per subscription, got {len(cleaned)}")
    for value in cleaned:
        if len(value) > MAX_TOPIC_LENGTH:
            raise SubscriptionError(
                name, f"{name}: {value[:40]!r}… is longer than {MAX_TOPIC_LENGTH} characters"
            )
    return cleaned


def check_topics(topics: Topics) -> Topics:
    """The topics with categories spelled as arXiv does; SubscriptionError names an unknown one."""
    categories = []
    for raw in _clean_list(topics.categories, "categories"):
        known = canonical_category(raw)
        if known is None:
            raise SubscriptionError(
                "categories", f"{raw!r} is not an arXiv category (like cs.LG or astro-ph.GA)"
            )
        categories.append(known)
    return Topics(
        categories=tuple(dict.fromkeys(categories)),
        keywords=_clean_list(topics.keywords, "keywords"),
        authors=_clean_list(topics.authors, "authors"),
        excluded_keywords=_clean_list(topics.excluded_keywords, "excluded_keywords"),
    )


def subscription_address(email: str) -> str:
    """How subscriptions store an address: checked and lower-cased whole, so `Ann@X.org` and `ann@x.org`
    are one subscriber (mail systems treat them alike, whatever RFC 5321 allows)."""
    return normalize_email(email).lower()


@lru_cache(maxsize=1)
def time_zones() -> frozenset[str]:
    """Every IANA time zone name this machine knows ("America" is a folder of them, not one)."""
    return frozenset(available_timezones()) | {"UTC"}


def check_request(request: SubscriptionRequest) -> SubscriptionRequest:
    """The request normalized, or SubscriptionError naming the first bad field."""
    try:
        address = subscription_address(request.email)
    except AddressError as exc:
        raise SubscriptionError("email", str(exc)) from None
    if request.frequency not in FREQUENCIES:
        raise SubscriptionError("frequency", f"frequency must be daily or weekly, got {request.frequency!r}")
    if not 0 <= request.send_hour <= 23:
        raise SubscriptionError("send_hour", f"send_hour must be between 0 and 23, got {request.send_hour}")
    if not 1 <= request.max_papers <= 100:
        raise SubscriptionError(
            "max_papers", f"max_papers must be between 1 and 100, got {request.max_papers}"
        )
    if request.timezone not in time_zones():
        raise SubscriptionError(
            "timezone", f"{request.timezone[:60]!r} is not a time zone (like Europe/Paris or UTC)"
        )
    return SubscriptionRequest(
        address,
        request.frequency,
        request.send_hour,
        request.timezone,
        request.max_papers,
        check_topics(request.topics),
    )


def apply_preferences(subscription: Subscription, request: SubscriptionRequest) -> None:
    subscription.send_hour = request.send_hour
    subscription.timezone = request.timezone
    subscription.max_papers = request.max_papers
    subscription.categories = list(request.topics.categories)
    subscription.keywords = list(request.topics.keywords)
    subscription.authors = list(request.topics.authors)
    subscription.excluded_keywords = list(request.topics.excluded_keywords)


def topics_of(subscription: Subscription) -> Topics:
    return Topics(
        tuple(subscription.categories or ()),
        tuple(subscription.keywords or ()),
        tuple(subscription.authors or ()),
        tuple(subscription.excluded_keywords or ()),
    )


def subscribe(session: Session, request: SubscriptionRequest, user_id: int | None = None) -> SubscribeOutcome:
    """Create (or re-open) a pending subscription; idempotent per (email, frequency).

    An active subscription keeps its state (asking again must not let anyone change someone else's
    topics without the emailed link); a pending, paused or unsubscribed one becomes pending again.
    """
    checked = check_request(request)
    query = select(Subscription).where(
        Subscription.email == checked.email, Subscription.frequency == checked.frequency
    )
    existing = session.scalar(query)
    if existing is not None:
        if existing.status == "active":
            return SubscribeOutcome(existing.id, checked.email, needs_confirmation=False)
        apply_preferences(existing, checked)
        existing.status = "pending"
        existing.confirmed_at = None
        return SubscribeOutcome(existing.id, checked.email, needs_confirmation=True)
    subscription = Subscription(
        email=checked.email,
        user_id=user_id,
        frequency=checked.frequency,
        status="pending",
        bounce_count=0,
        created_at=utcnow(),
    )
    apply_preferences(subscription, checked)
    session.add(subscription)
    session.flush()
    return SubscribeOutcome(subscription.id, checked.email, needs_confirmation=True)


def confirm(subscription: Subscription) -> None:
    """Activate a subscription whose address was confirmed (again is harmless)."""
    if subscription.status != "active":
        subscription.status = "active"
        subscription.confirmed_at = utcnow()
        subscription.bounce_count = 0


def unsubscribe(subscription: Subscription) -> None:
    subscription.status = "unsubscribed"
