"""Signed links in emails: confirm a subscription (expires), unsubscribe and preferences (do not)."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from paperboy.config import Settings
from paperboy.db.models import Subscription
from paperboy.signing import Signer, TokenError

CONFIRM = "digest-confirm"
MANAGE = "digest-manage"
FOREVER = 10 * 365 * 86400


@dataclass(frozen=True)
class SubscriptionLinks:
    confirm: str
    unsubscribe: str
    preferences: str
    preview: str


def site_url(settings: Settings) -> str:
    """Where links in emails point: the configured public address, else the address `serve` listens on
    (`paperboy serve --host/--port` put theirs into the settings it runs with)."""
    if settings.base_url:
        return settings.base_url.rstrip("/")
    host = settings.host
    if host in ("0.0.0.0", "::", ""):  # every interface: name the machine, not "0.0.0.0"
        host = socket.gethostname()
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.port}"


def _payload(subscription: Subscription) -> dict[str, Any]:
    return {"s": subscription.id, "e": subscription.email}


def links_for(settings: Settings, signer: Signer, subscription: Subscription) -> SubscriptionLinks:
    base = site_url(settings)
    manage = urlencode({"token": signer.sign(MANAGE, _payload(subscription))})
    confirm = urlencode({"token": signer.sign(CONFIRM, _payload(subscription))})
    return SubscriptionLinks(
        confirm=f"{base}/subscriptions/confirm?{confirm}",
        unsubscribe=f"{base}/subscriptions/unsubscribe?{manage}",
        preferences=f"{base}/subscriptions/preferences?{manage}",
        preview=f"{base}/subscriptions/preview?{manage}",
    )


def read_token(signer: Signer, purpose: str, token: str, max_age_seconds: int = FOREVER) -> tuple[int, str]:
    """(subscription id, email) from a signed link; TokenError when forged, cut or expired."""
    data = signer.verify(purpose, token, max_age_seconds)
    if not isinstance(data, dict) or not isinstance(data.get("s"), int) or not isinstance(data.get("e"), str):
        raise TokenError("the link is not valid")
    return data["s"], data["e"]
