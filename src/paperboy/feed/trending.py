"""The trending score: upvotes with a time decay, as Hacker News ranks its front page.

    score = upvotes / (hours since submission + 24) ^ gravity

Hours are counted up to the newest submission in the window, so a site whose last submission is a day old
ranks as it did that day instead of flattening every score towards zero.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Protocol

OFFSET_HOURS = 24.0
"""A day, not Hacker News' 2 hours: papers are read over days, and a paper submitted a minute ago with
three upvotes must not outrank yesterday's paper with sixty."""
FORMULA = "score = upvotes ÷ (hours since submission + 24) ^ {gravity:g}"


def trending_score(upvotes: int, submitted_at: datetime, reference: datetime, gravity: float) -> float:
    hours = max((reference - submitted_at).total_seconds() / 3600.0, 0.0)
    return float(upvotes / (hours + OFFSET_HOURS) ** gravity)


def formula_text(gravity: float) -> str:
    return FORMULA.format(gravity=gravity)


ACTIVE_CODE_DAYS = 30
"""A repository pushed to within this many days of the list's newest submission counts as active."""


class _Repository(Protocol):
    @property
    def pushed_at(self) -> datetime | None: ...


def active_code(code: Sequence[_Repository], reference: datetime) -> bool:
    """Whether one of a paper's repositories saw a push lately (known after `paperboy enrich github`):
    PAPERBOY_TRENDING_CODE_BOOST then raises its trending score, as Papers with Code weighs activity."""
    since = reference - timedelta(days=ACTIVE_CODE_DAYS)
    return any(link.pushed_at is not None and link.pushed_at >= since for link in code)
