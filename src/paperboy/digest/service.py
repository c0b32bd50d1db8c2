"""What the web app, the API and the CLI call: subscribe (with the confirmation email), confirm,
unsubscribe, change preferences and preview — one place, so every way in behaves the same."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from paperboy.addresses import AddressError
from paperboy.clock import utcnow
from paperboy.config import Settings
from paperboy.db.engine import transaction
from paperboy.db.models import Subscription
from paperboy.digest.compose import DigestComposer
from paperboy.digest.links import CONFIRM, FOREVER, MANAGE, SubscriptionLinks, links_for, read_token
from paperboy.digest.mailer import Mailer
from paperboy.digest.messages import confirmation_message, digest_html
from paperboy.digest.subscriptions import (
    SubscribeOutcome,
    SubscriptionRequest,
    apply_preferences,
    check_request,
    confirm,
    subscribe,
    subscription_address,
    unsubscribe,
)
from paperboy.search.embedder import Embedder
from paperboy.signing import Signer, TokenError, load_secret_key


def _stored_form(email: str) -> str:
    """An address as subscriptions store it, so `Alice@Example.org` finds it."""
    try:
        return subscription_address(email)
    except AddressError:
        return email.strip()


@dataclass(frozen=True)
class Preview:
    html: str
    papers: int


class DigestService:
    def __init__(self, settings: Settings, sessions: sessionmaker[Session]):
        self.settings = settings
        self.sessions = sessions
        self.signer = Signer(load_secret_key(settings))

    def links(self, subscription: Subscription) -> SubscriptionLinks:
        return links_for(self.settings, self.signer, subscription)

    def request(self, request: SubscriptionRequest, user_id: int | None = None) -> SubscribeOutcome:
        """Record the subscription (pending) and email the confirmation link (to an address already
        subscribed: a note with its preferences link, changing nothing).

        SubscriptionError for bad input; DeliveryError when the email cannot be sent now (the pending
        subscription stays, and asking again resends the link).
        """
        with transaction(self.sessions) as session:
            outcome = subscribe(session, request, user_id)
            subscription = session.get(Subscription, outcome.subscription_id)
            assert subscription is not None
            message = confirmation_message(self.settings, subscription, self.links(subscription), utcnow())
        with Mailer(self.settings) as mailer:
            mailer.send(message)
        return outcome

    def subscribe_confirmed(self, request: SubscriptionRequest) -> SubscribeOutcome:
        """Subscribe and activate at once (an operator vouching for the address, from the CLI)."""
        with transaction(self.sessions) as session:
            outcome = subscribe(session, request)
            subscription = session.get(Subscription, outcome.subscription_id)
            assert subscription is not None
            apply_preferences(subscription, check_request(request))
            confirm(subscription)
            return outcome

    def unsubscribe_address(self, email: str, frequency: str | None = None) -> int:
        with transaction(self.sessions) as session:
            query = select(Subscription).where(
                Subscription.email == _stored_form(email), Subscription.status != "unsubscribed"
            )
            if frequency:
                query = query.where(Subscription.frequency == frequency)
            found = list(session.scalars(query))
            for subscription in found:
                subscription.status = "unsubscribed"
            return len(found)

    def _subscription(self, session: Session, purpose: str, token: str) -> Subscription:
        max_age = self.settings.confirm_days * 86400 if purpose == CONFIRM else FOREVER
        subscription_id, email = read_token(self.signer, purpose, token, max_age)
        subscription = session.get(Subscription, subscription_id)
        if subscription is None or subscription.email != email:
            raise TokenError("this subscription no longer exists")
        return subscription

    def confirm(self, token: str) -> Subscription:
        with transaction(self.sessions) as session:
            subscription = self._subscription(session, CONFIRM, token)
            confirm(subscription)
            return subscription

    def unsubscribe(self, token: str) -> Subscription:
        with transaction(self.sessions) as session:
            subscription = self._subscription(session, MANAGE, token)
            unsubscribe(subscription)
            return subscription

    def find(self, token: str) -> Subscription:
        """The subscription a preferences/unsubscribe link names (TokenError when it does not)."""
        with self.sessions() as session:
            return self._subscription(session, MANAGE, token)

    def update(self, token: str, request: SubscriptionRequest) -> Subscription:
        """Save new preferences; the address and frequency stay those of the link."""
        with transaction(self.sessions) as session:
            subscription = self._subscription(session, MANAGE, token)
            checked = check_request(
                SubscriptionRequest(
                    subscription.email,
                    subscription.frequency,
                    request.send_hour,
                    request.timezone,
                    request.max_papers,
                    request.topics,
                )
            )
            apply_preferences(subscription, checked)
            if subscription.status == "paused":
                subscription.status = "active"  # saving preferences from the emailed link resumes delivery
                subscription.bounce_count = 0
            # An unsubscribed address stays so: an old link (kept in a mailbox, forwarded) must not start
            # the digest again; subscribing anew asks for a new confirmation.
            return subscription

    def preview(
        self, subscription_id: int, embedder: Embedder | None, now: datetime | None = None
    ) -> Preview:
        """The digest this subscriber would get now, as HTML (nothing is recorded or sent)."""
        moment = now or utcnow()
        with self.sessions() as session:
            subscription = session.get(Subscription, subscription_id)
            assert subscription is not None
            composer = DigestComposer(
                session,
                subscription.frequency,
                moment,
                embedder,
                self.settings.trending_days,
                self.settings.trending_gravity,
                self.settings.trending_code_boost,
            )
            content = composer.compose(session, subscription)
            html = digest_html(self.settings, subscription, content, self.links(subscription), moment)
        return Preview(html, len(content.paper_ids))

    def by_email(self, email: str, frequency: str | None = None) -> Subscription | None:
        with self.sessions() as session:
            query = select(Subscription).where(Subscription.email == _stored_form(email))
            if frequency:
                query = query.where(Subscription.frequency == frequency)
            return session.scalars(query.order_by(Subscription.id)).first()
