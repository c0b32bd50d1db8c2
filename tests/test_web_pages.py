"""The HTML pages over HTTP: daily lists, trending, paper pages, upvotes, comments and moderation, submit,
the subscribe box, the API docs, and a crawl of every page the home page links.

Every test runs against SQLite and PostgreSQL (the `db_url`-parametrized fixtures) with the real Hugging Face
daily-papers response of 2024-10-25 where it needs data, and talks to the real app through its HTTP interface.
Accounts, CSRF, rate limits, escaping and security headers are in test_web_accounts.py, which uses
the page helpers defined here.
"""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from html import unescape
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from aiosmtpd.controller import Controller
from fastapi.testclient import TestClient
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from http_fixture_server import FixtureServer
from paperboy.clock import utcnow
from paperboy.community.submissions import SubmissionError, SubmissionRules, arxiv_fetcher, submit_paper
from paperboy.config import Settings
from paperboy.db.models import Comment, DailyEntry, Paper, Subscription
from paperboy.db.records import DailyRecord, DeletedRecord, PaperRecord
from paperboy.db.repositories.daily import upsert_daily
from paperboy.db.repositories.papers import mark_deleted, upsert_papers
from search_support import MemoizingEmbedder
from web_support import HF_DAILY, csrf_token, ingest_hf_daily, make_admin, make_client, sign_up

DAY = date(2024, 10, 25)
ADEM_VL = "2410.17779"  # a real daily paper whose abstract links its code on GitHub
TOP = "2410.17243"  # the most upvoted paper of the day (64 upvotes, 3 comments)


# --- helpers -------------------------------------------------------------------------------------


class _Elements(HTMLParser):
    """Every start tag with its attributes, and the text inside each <script>."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.script_bodies: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, {name: value or "" for name, value in attrs}))
        if tag == "script":
            self._in_script = True
            self.script_bodies.append("")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, {name: value or "" for name, value in attrs}))

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.script_bodies[-1] += data


def parse(html: str) -> _Elements:
    parser = _Elements()
    parser.feed(html)
    parser.close()
    return parser


def elements(html: str, tag: str) -> list[dict[str, str]]:
    return [attrs for name, attrs in parse(html).elements if name == tag]


def assert_no_active_content(html: str) -> None:
    """Nothing in the page runs code except the site's own script files."""
    parsed = parse(html)
    scripts = [attrs for name, attrs in parsed.elements if name == "script"]
    assert scripts, "every page loads the site's scripts"
    for attrs in scripts:
        assert attrs.get("src", "").startswith(("/static/", "/static-docs/")), attrs
    assert all(not body.strip() for body in parsed.script_bodies), "inline <script> block"
    for tag, attrs in parsed.elements:
        assert tag not in ("iframe", "object", "embed", "base"), tag
        for name, value in attrs.items():
            assert not name.startswith("on"), f"<{tag} {name}=...>"
            if name in ("href", "src", "action", "formaction", "xlink:href"):
                scheme = re.sub(r"[\s\x00-\x1f]", "", unescape(value)).lower()
                assert not scheme.startswith(("javascript:", "vbscript:", "data:")), (
                    f"<{tag} {name}={value!r}>"
                )
        if tag == "img":
            assert attrs.get("src", "").startswith("/static/"), attrs


@dataclass(frozen=True)
class Item:
    """One paper of a list page, as shown."""

    arxiv_id: str
    title: str
    authors: str
    submitter: str | None
    upvotes: int
    comments: int
    score: str | None
    html: str


_ITEM = re.compile(r'<li class="paper" id="paper-([^"]+)">(.*?)</li>', re.S)
_TAG = re.compile(r"<[^>]+>")


def _text(fragment: str) -> str:
    return " ".join(unescape(_TAG.sub("", fragment)).split())


def first_match(pattern: str, text: str) -> str | None:
    match = re.search(pattern, text, re.S)
    return match.group(1) if match else None


def list_items(html: str) -> list[Item]:
    items = []
    for arxiv_id, block in _ITEM.findall(html):
        title = first_match(r'<h3 class="title"><a href="/papers/[^"]+">(.*?)</a></h3>', block)
        authors = first_match(r'<p class="authors">(.*?)</p>', block)
        upvotes = first_match(r'<span class="count"[^>]*>(\d+)</span>', block)
        comments = first_match(r'#comments">(\d+) comments?</a>', block)
        assert title is not None and authors is not None and upvotes and comments, block
        submitter = first_match(r"submitted by <strong>(.*?)</strong>", block)
        items.append(
            Item(
                arxiv_id,
                _text(title),
                _text(authors),
                _text(submitter) if submitter is not None else None,
                int(upvotes),
                int(comments),
                first_match(r'title="trending score">score ([\d.]+)</span>', block),
                block,
            )
        )
    return items


def listed(html: str) -> list[str]:
    return [item.arxiv_id for item in list_items(html)]


def item_of(html: str, arxiv_id: str) -> Item:
    (item,) = [item for item in list_items(html) if item.arxiv_id == arxiv_id]
    return item


def pager(html: str) -> dict[str, str]:
    """The previous/next links of a list page, by rel."""
    return {
        attrs["rel"]: attrs["href"] for attrs in elements(html, "a") if attrs.get("rel") in ("prev", "next")
    }


def heading(html: str) -> str:
    found = first_match(r"<h1>(.*?)</h1>", html)
    assert found is not None
    return _text(found)


def closed_port() -> int:
    """A local port nothing listens on (connections are refused at once)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def browser(client: TestClient) -> TestClient:
    """Another browser (its own cookies) on the same app."""
    return TestClient(client.app, raise_server_exceptions=False, follow_redirects=False)


def hf_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).replace(tzinfo=None)


def add_paper(
    sessions: sessionmaker[Session],
    arxiv_id: str,
    title: str = "A paper added by a test",
    abstract: str = "An abstract written for a test.",
    authors: tuple[str, ...] = ("Ada Lovelace",),
    day: date | None = None,
    upvotes: int = 0,
    submitted_at: datetime | None = None,
    submitter: str | None = None,
    **extra: Any,
) -> None:
    """A paper (and its daily entry on `day`) through the repositories ingest uses."""
    record = PaperRecord(
        arxiv_id=arxiv_id,
        title=title,
        abstract=abstract,
        source="test",
        version=1,
        authors=authors,
        categories=("cs.LG",),
        primary_category="cs.LG",
        published_at=datetime(2024, 10, 1),
        upvotes=upvotes,
        **extra,
    )
    with sessions() as session, session.begin():
        upsert_papers(session, [record])
        if day is not None:
            entry = DailyRecord(
                arxiv_id=arxiv_id,
                date=day,
                submitted_at=submitted_at or datetime.combine(day, time(12)),
                source="test",
                submitter_name=submitter,
                submitter_fullname=submitter,
            )
            upsert_daily(session, [entry])


def post(client: TestClient, path: str, token: str, **data: str) -> Any:
    return client.post(path, data={"csrf_token": token, **data})


def comment_id_of(response: Any) -> int:
    assert response.status_code == 303, response.text
    found = first_match(r"#comment-(\d+)$", response.headers["location"])
    assert found is not None, response.headers["location"]
    return int(found)


# --- fixtures ------------------------------------------------------------------------------------


@pytest.fixture
def client(settings: Settings, embedder: MemoizingEmbedder) -> TestClient:
    return make_client(settings, embedder)


@pytest.fixture
def daily(sessions: sessionmaker[Session], shared_data: Path) -> list[dict[str, Any]]:
    """The real daily list of 2024-10-25, ingested; returns the raw Hugging Face entries."""
    ingest_hf_daily(sessions, shared_data)
    entries: list[dict[str, Any]] = json.loads((shared_data / HF_DAILY).read_text())
    return entries


@pytest.fixture
def arxiv(shared_data: Path) -> Iterator[FixtureServer]:
    """The local HTTP server replaying recorded arXiv API responses."""
    with FixtureServer(shared_data / "fixtures") as server:
        yield server


# --- daily lists ---------------------------------------------------------------------------------


def test_home_lists_the_newest_day_most_upvoted_first(
    client: TestClient, daily: list[dict[str, Any]]
) -> None:
    page = client.get("/")

    assert page.status_code == 200
    assert heading(page.text) == "Friday, October 25, 2024"
    items = list_items(page.text)
    assert len(items) == 29
    # Hugging Face's order: most upvoted first, ties to the latest submission
    expected = sorted(daily, key=lambda e: (-e["paper"]["upvotes"], -hf_time(e["publishedAt"]).timestamp()))
    assert [item.arxiv_id for item in items] == [entry["paper"]["id"] for entry in expected]
    for item, entry in zip(items, expected, strict=True):
        names = [author["name"] for author in entry["paper"]["authors"] if not author["hidden"]]
        shown = ", ".join(names[:8]) + (f", +{len(names) - 8} more" if len(names) > 8 else "")
        assert item.title == " ".join(entry["title"].split())
        assert item.authors == shown
        assert item.submitter == entry["submittedBy"]["fullname"]
        assert item.upvotes == entry["paper"]["upvotes"]
        assert item.comments == entry["numComments"]
        assert f'href="/papers/{item.arxiv_id}"' in item.html
    assert items[0].arxiv_id == TOP and items[0].upvotes == 64 and items[0].comments == 3


@pytest.mark.parametrize(
    ("query", "title", "previous", "following"),
    [
        ("date=2024-10-25", "Friday, October 25, 2024", None, None),  # no other day has papers
        (
            "week=2024-W43",
            "Week 43, 2024 (Oct 21 to Oct 27)",
            "/papers?week=2024-W42",
            "/papers?week=2024-W44",
        ),
        ("month=2024-10", "October 2024", "/papers?month=2024-09", "/papers?month=2024-11"),
    ],
)
def test_day_week_and_month_pages_list_the_period_with_neighbour_links(
    client: TestClient,
    daily: list[dict[str, Any]],
    query: str,
    title: str,
    previous: str,
    following: str | None,
) -> None:
    home = listed(client.get("/").text)
    page = client.get(f"/papers?{query}")

    assert page.status_code == 200
    assert heading(page.text) == title
    assert listed(page.text) == home
    links = pager(page.text)
    assert links.get("prev") == previous
    assert links.get("next") == following
    for href in links.values():
        assert client.get(href).status_code == 200


@pytest.mark.parametrize(
    ("query", "previous", "following"),
    [
        ("week=2021-W01", "/papers?week=2020-W53", "/papers?week=2021-W02"),
        ("week=2020-W53", "/papers?week=2020-W52", "/papers?week=2021-W01"),
        ("month=2024-01", "/papers?month=2023-12", "/papers?month=2024-02"),
        ("month=2023-12", "/papers?month=2023-11", "/papers?month=2024-01"),
    ],
)
def test_week_and_month_navigation_crosses_year_boundaries(
    client: TestClient, query: str, previous: str, following: str
) -> None:
    page = client.get(f"/papers?{query}")
    assert page.status_code == 200
    assert pager(page.text) == {"prev": previous, "next": following}


def test_day_navigation_skips_empty_days_and_empty_days_say_so(
    client: TestClient, sessions: sessionmaker[Session], daily: list[dict[str, Any]]
) -> None:
    add_paper(sessions, "2410.10001", title="An Earlier Paper", day=date(2024, 10, 20), submitter="earlybird")

    home = client.get("/").text
    assert pager(home) == {"prev": "/papers?date=2024-10-20"}
    earlier = client.get(pager(home)["prev"]).text
    assert heading(earlier) == "Sunday, October 20, 2024"
    assert listed(earlier) == ["2410.10001"]
    assert pager(earlier) == {"next": "/papers?date=2024-10-25"}, "no earlier day has papers: no step back"
    assert "Next day: Oct 25" in earlier

    gap = client.get("/papers?date=2024-10-22")
    assert gap.status_code == 200
    assert listed(gap.text) == []
    assert "No papers on Tuesday, October 22, 2024" in gap.text
    assert "submit a paper" not in gap.text, "a past day never invites a submission"
    assert "The nearest days with papers:" in gap.text
    assert '<a href="/papers?date=2024-10-20">Sunday, October 20, 2024</a>' in gap.text
    assert '<a href="/papers?date=2024-10-25">Friday, October 25, 2024</a>' in gap.text
    assert pager(gap.text) == {"prev": "/papers?date=2024-10-20", "next": "/papers?date=2024-10-25"}
    picker = [f for f in elements(gap.text, "form") if f.get("class") == "date-picker"]
    assert picker == [{"class": "date-picker", "action": "/papers", "method": "get"}]
    assert 'id="pick-date" type="date" name="date" value="2024-10-22"' in gap.text

    # Oct 20 is the Sunday of ISO week 42; the month holds both days, the earlier paper (0 upvotes) last
    assert listed(client.get("/papers?week=2024-W42").text) == ["2410.10001"]
    assert "2410.10001" not in listed(client.get("/papers?week=2024-W43").text)
    assert listed(client.get("/papers?month=2024-10").text)[-1] == "2410.10001"


def test_empty_site_shows_the_empty_state_for_today(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert listed(page.text) == []
    label = f"{date.today():%A, %B} {date.today().day}, {date.today().year}"
    assert f"No papers for {label} yet" in page.text
    assert "next" not in pager(page.text)  # nothing after today


def test_no_next_link_into_the_future(client: TestClient, sessions: sessionmaker[Session]) -> None:
    today = date.today()
    add_paper(sessions, "2410.10003", day=today)
    year, week, _ = today.isocalendar()
    for query in (f"date={today}", f"week={year}-W{week:02d}", f"month={today:%Y-%m}"):
        page = client.get(f"/papers?{query}")
        assert page.status_code == 200
        assert listed(page.text) == ["2410.10003"], query
        # No next period into the future; the day has no earlier day with papers to step back to.
        assert set(pager(page.text)) == (set() if query.startswith("date") else {"prev"}), query
    assert "Be the first" not in client.get(f"/papers?date={today}&has=code").text
    past = client.get(f"/papers?date={today - timedelta(days=1)}")
    assert pager(past.text)["next"] == f"/papers?date={today}"


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("date=yesterday", "date must be a date like 2024-10-25, got 'yesterday'"),
        ("date=2024-02-30", "date must be a date like 2024-10-25, got '2024-02-30'"),
        ("week=2024-W99", "week '2024-W99' does not exist"),
        ("week=43", "week must look like 2024-W43, got '43'"),
        ("month=2024-13", "month must look like 2024-10, got '2024-13'"),
        ("month=October", "month must look like 2024-10, got 'October'"),
        ("date=2024-10-25&week=2024-W43", "give only one of date, week and month (got date and week)"),
        ("date=" + "9" * 30, "parameter 'date'"),
        ("date=2024-10-25&sort=random", "parameter 'sort'"),
    ],
)
def test_bad_period_parameters_are_a_400_page_naming_the_parameter(
    client: TestClient, query: str, message: str
) -> None:
    page = client.get(f"/papers?{query}")
    assert page.status_code == 400
    assert page.headers["content-type"].startswith("text/html")
    assert message in unescape(page.text)
    assert 'action="/subscribe"' in page.text  # a full page of the site, not a bare error


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("date=0001-01-01", "date"),
        ("date=9999-12-31", "date"),
        ("week=0001-W01", "week"),
        ("month=0001-01", "month"),
        ("month=9999-12", "month"),
    ],
)
def test_periods_at_the_ends_of_the_calendar_are_a_400_not_a_500(
    client: TestClient, daily: list[dict[str, Any]], query: str, parameter: str
) -> None:
    """The page links the neighbouring periods, which do not exist before year 1 or after 9999."""
    page = client.get(f"/papers?{query}")
    assert page.status_code == 400
    message = first_match(r'<section class="card error-page">\s*<h1>.*?</h1>\s*<p>(.*?)</p>', page.text)
    assert message is not None and unescape(message).startswith(f"{parameter} ")
    assert "out of range" in message


def test_navigation_skips_days_whose_only_paper_was_withdrawn(
    client: TestClient, sessions: sessionmaker[Session], daily: list[dict[str, Any]]
) -> None:
    add_paper(sessions, "2410.10005", title="Withdrawn Later", day=date(2024, 10, 22))
    add_paper(sessions, "2410.10006", title="Still Here", day=date(2024, 10, 18))
    with sessions() as session, session.begin():
        mark_deleted(session, [DeletedRecord("2410.10005", "test")])

    assert listed(client.get("/papers?date=2024-10-22").text) == []
    assert pager(client.get("/").text) == {"prev": "/papers?date=2024-10-18"}
    assert pager(client.get("/papers?date=2024-10-18").text)["next"] == "/papers?date=2024-10-25"


def test_papers_without_a_period_redirects_home(client: TestClient) -> None:
    response = client.get("/papers")
    assert response.status_code == 303
    assert response.headers["location"] == "/"


# --- trending ------------------------------------------------------------------------------------


FRESH = "2410.10004"
_FORMULA = re.compile(r"score = upvotes ÷ \(hours since submission \+ (\d+(?:\.\d+)?)\) \^ (\d+(?:\.\d+)?)")


def _stated_formula(client: TestClient) -> tuple[float, float]:
    """The (offset hours, gravity) the trending page's help text states."""
    page = client.get("/trending")
    help_text = first_match(r'<p class="help" id="trending-help">(.*?)</p>', page.text)
    assert help_text is not None
    match = _FORMULA.search(unescape(help_text))
    assert match, help_text
    return float(match.group(1)), float(match.group(2))


def _trending_order(
    entries: list[tuple[str, int, datetime]], offset: float, gravity: float
) -> list[tuple[str, float]]:
    """The expected ranking of (arXiv id, upvotes, submitted at) by the stated formula."""
    reference = max(submitted for _, _, submitted in entries)
    scores = {
        arxiv_id: upvotes / ((reference - submitted).total_seconds() / 3600 + offset) ** gravity
        for arxiv_id, upvotes, submitted in entries
    }
    return sorted(scores.items(), key=lambda pair: -pair[1])


def _with_fresh_paper(
    sessions: sessionmaker[Session], daily: list[dict[str, Any]]
) -> list[tuple[str, int, datetime]]:
    """The real list plus a paper submitted late that day with fewer upvotes (60) than the top one (64)."""
    submitted = datetime(2024, 10, 25, 21, 0)
    add_paper(sessions, FRESH, title="Fresh Paper", day=DAY, upvotes=60, submitted_at=submitted)
    entries = [(e["paper"]["id"], e["paper"]["upvotes"], hf_time(e["publishedAt"])) for e in daily]
    return [*entries, (FRESH, 60, submitted)]


@pytest.mark.parametrize("gravity", [1.5, 0.5])
def test_trending_ranks_by_the_decayed_score_and_explains_it(
    settings: Settings,
    embedder: MemoizingEmbedder,
    sessions: sessionmaker[Session],
    daily: list[dict[str, Any]],
    gravity: float,
) -> None:
    entries = _with_fresh_paper(sessions, daily)
    # an old, very popular paper outside the trending window
    add_paper(sessions, "2410.10002", title="Old Favourite", day=date(2024, 10, 10), upvotes=5000)
    client = make_client(settings.model_copy(update={"trending_gravity": gravity}), embedder)

    page = client.get("/trending")

    assert page.status_code == 200
    help_text = first_match(r'<p class="help" id="trending-help">(.*?)</p>', page.text)
    assert help_text is not None and "7 days" in help_text
    offset, stated_gravity = _stated_formula(client)
    assert stated_gravity == gravity
    expected = _trending_order(entries, offset, gravity)
    items = list_items(page.text)
    assert [item.arxiv_id for item in items] == [arxiv_id for arxiv_id, _ in expected]
    assert [item.score for item in items] == [f"{score:.3f}" for _, score in expected]
    assert "2410.10002" not in [item.arxiv_id for item in items]
    # the decay at work: the fresh paper outranks the day's most upvoted one, which it trails on upvotes
    ranked = [item.arxiv_id for item in items]
    assert ranked.index(FRESH) < ranked.index(TOP)
    assert listed(client.get("/").text)[:2] == [TOP, FRESH]


def test_trending_sort_of_a_day_uses_the_same_score(
    client: TestClient, sessions: sessionmaker[Session], daily: list[dict[str, Any]]
) -> None:
    entries = _with_fresh_paper(sessions, daily)
    offset, gravity = _stated_formula(client)
    page = client.get("/papers?date=2024-10-25&sort=trending")
    assert page.status_code == 200
    assert listed(page.text) == [arxiv_id for arxiv_id, _ in _trending_order(entries, offset, gravity)]


# --- paper page ----------------------------------------------------------------------------------


def test_paper_page_shows_the_paper_links_upvote_and_discussion(
    client: TestClient, daily: list[dict[str, Any]]
) -> None:
    (entry,) = [e for e in daily if e["paper"]["id"] == ADEM_VL]
    page = client.get(f"/papers/{ADEM_VL}")

    assert page.status_code == 200
    html = page.text
    assert heading(html) == " ".join(entry["title"].split())
    authors = first_match(r'<p class="authors" id="authors">(.*?)</p>', html)
    assert authors is not None
    shown = re.sub(r"\s+,", ",", _text(re.sub(r'<(a|span) class="badge[^"]*"[^>]*>.*?</\1>', "", authors)))
    assert shown == ", ".join(a["name"] for a in entry["paper"]["authors"] if not a["hidden"])
    assert "✓ HF" in authors, "Hugging Face's claimed-and-verified author has a badge"
    abstract = first_match(r'<section class="abstract-full".*?<p>(.*?)</p>', html)
    assert abstract is not None and _text(abstract) == " ".join(entry["paper"]["summary"].split())
    hrefs = [attrs.get("href") for attrs in elements(html, "a")]
    assert f"https://arxiv.org/abs/{ADEM_VL}" in hrefs
    assert f"https://arxiv.org/pdf/{ADEM_VL}" in hrefs
    # the code link from the abstract, without the sentence's full stop
    assert "https://github.com/Hao840/ADEM-VL." in entry["paper"]["summary"]
    assert "https://github.com/Hao840/ADEM-VL" in hrefs
    assert "Code: github.com/Hao840/ADEM-VL<" in html
    # signed out: the upvote button asks to sign in, with the imported count
    vote = [a for a in elements(html, "a") if "vote-button" in a.get("class", "")]
    assert vote == [
        {
            "class": "vote-button",
            "href": f"/login?next=/papers/{ADEM_VL}",
            "aria-label": f"Sign in to upvote ({entry['paper']['upvotes']} upvotes)",
        }
    ]
    assert 'id="comments"' in html
    # The Hugging Face discussion's comments count (as on the list), their text is not imported.
    imported = entry["numComments"]
    assert f'Discussion <span class="muted">({imported})</span>' in html
    assert f"{imported} comments from the Hugging Face discussion are counted here" in html
    assert f'href="https://huggingface.co/papers/{ADEM_VL}"' in html
    assert "No comments yet" not in html
    assert f'href="/login?next=/papers/{ADEM_VL}%23comments"' in html

    sign_up(client)
    signed_in = client.get(f"/papers/{ADEM_VL}").text
    forms = [f.get("action") for f in elements(signed_in, "form")]
    assert f"/papers/{ADEM_VL}/upvote" in forms
    assert f"/papers/{ADEM_VL}/comments" in forms


def test_math_in_titles_and_abstracts_renders_as_mathml_and_never_as_script(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    add_paper(
        sessions,
        "2410.20001",
        title=r"$\alpha$-Sorting in Quadratic Time",
        abstract=r"We sort in $O(n^2)$ time. Attacks: $\text{<script>alert(1)</script>}$ and "
        r"$\href{javascript:alert(2)}{x}$ and \(\text{<img src=x onerror=alert(3)>}\). It costs $5 and $6 dollars.",
        day=DAY,
    )
    for path in ("/papers/2410.20001", "/"):
        html = client.get(path).text
        assert_no_active_content(html)
        assert "<script>alert" not in html and "<img src=x" not in html
        assert (
            '<math xmlns="http://www.w3.org/1998/Math/MathML" display="inline"><mrow><mi>\u03b1</mi>' in html
        )
    page = client.get("/papers/2410.20001").text
    assert "<msup><mi>n</mi><mn>2</mn></msup>" in page
    assert "It costs $5 and $6 dollars." in page  # dollar amounts are not math


def test_unknown_paper_is_a_404_page_offering_to_submit_it(client: TestClient) -> None:
    page = client.get("/papers/2501.99999")
    assert page.status_code == 404
    assert "Paper not found" in page.text
    assert "No paper 2501.99999 in this library" in page.text
    assert 'href="/submit?paper=2501.99999"' in page.text

    hostile = client.get("/papers/<script>alert(1)</script>")
    assert hostile.status_code == 404
    assert_no_active_content(hostile.text)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in hostile.text


# --- upvotes -------------------------------------------------------------------------------------


def test_upvote_toggles_on_top_of_imported_upvotes(client: TestClient, daily: list[dict[str, Any]]) -> None:
    token = sign_up(client)

    voted = post(client, f"/papers/{TOP}/upvote", token)
    assert voted.status_code == 303
    assert voted.headers["location"] == f"/papers/{TOP}"
    home = item_of(client.get("/").text, TOP)
    assert home.upvotes == 65
    assert 'class="vote-button voted" aria-pressed="true"' in home.html
    assert '<span class="count" data-count>65</span>' in client.get(f"/papers/{TOP}").text

    back = client.post(f"/papers/{TOP}/upvote", headers={"Accept": "application/json", "X-CSRF-Token": token})
    assert back.status_code == 200
    assert back.json() == {"upvoted": False, "upvotes": 64}
    home = item_of(client.get("/").text, TOP)
    assert home.upvotes == 64 and 'aria-pressed="false"' in home.html

    again = client.post(
        f"/papers/{TOP}/upvote", data={"csrf_token": token}, headers={"Accept": "application/json"}
    )
    assert again.json() == {"upvoted": True, "upvotes": 65}

    # the form post goes back to the page it came from
    referred = client.post(
        f"/papers/{TOP}/upvote", data={"csrf_token": token}, headers={"Referer": "http://testserver/trending"}
    )
    assert referred.status_code == 303 and referred.headers["location"] == "/trending"
    # ... but never to another site
    elsewhere = client.post(
        f"/papers/{TOP}/upvote", data={"csrf_token": token}, headers={"Referer": "https://evil.example/x"}
    )
    assert elsewhere.status_code == 303 and elsewhere.headers["location"] == f"/papers/{TOP}"


def test_one_vote_per_user(client: TestClient, daily: list[dict[str, Any]]) -> None:
    alice = sign_up(client, "alice")
    bob_client = browser(client)
    bob = sign_up(bob_client, "bob")
    json_accept = {"Accept": "application/json"}

    assert client.post(f"/papers/{TOP}/upvote", data={"csrf_token": alice}, headers=json_accept).json() == {
        "upvoted": True,
        "upvotes": 65,
    }
    assert bob_client.post(f"/papers/{TOP}/upvote", data={"csrf_token": bob}, headers=json_accept).json() == {
        "upvoted": True,
        "upvotes": 66,
    }
    assert item_of(browser(client).get("/").text, TOP).upvotes == 66
    # a user's second post withdraws their own vote only
    assert client.post(f"/papers/{TOP}/upvote", data={"csrf_token": alice}, headers=json_accept).json() == {
        "upvoted": False,
        "upvotes": 65,
    }
    assert item_of(client.get("/").text, TOP).upvotes == 65


def test_upvote_needs_sign_in_and_a_known_paper(client: TestClient, daily: list[dict[str, Any]]) -> None:
    token = csrf_token(client)
    anonymous = post(client, f"/papers/{TOP}/upvote", token)
    assert anonymous.status_code == 303 and anonymous.headers["location"] == "/login"
    as_json = client.post(
        f"/papers/{TOP}/upvote", headers={"Accept": "application/json", "X-CSRF-Token": token}
    )
    assert as_json.status_code == 401 and as_json.json() == {"error": "sign in first"}
    assert item_of(client.get("/").text, TOP).upvotes == 64

    token = sign_up(client)
    missing = post(client, "/papers/2501.99999/upvote", token)
    assert missing.status_code == 404


def test_votes_reorder_the_daily_list(client: TestClient, daily: list[dict[str, Any]]) -> None:
    """2410.18647 and 2410.18234 tie at 2 upvotes; one vote puts 2410.18234 ahead."""
    before = listed(client.get("/").text)
    assert before.index("2410.18647") < before.index("2410.18234")
    token = sign_up(client)
    post(client, "/papers/2410.18234/upvote", token)
    after = listed(client.get("/").text)
    assert after.index("2410.18234") < after.index("2410.18647")
    assert after.index("2410.18234") < after.index("2410.16429")


# --- comments ------------------------------------------------------------------------------------


def test_comment_add_edit_delete_by_the_author_only(
    client: TestClient, sessions: sessionmaker[Session], daily: list[dict[str, Any]]
) -> None:
    alice = sign_up(client, "alice")
    cid = comment_id_of(
        post(client, f"/papers/{TOP}/comments", alice, body="  Great paper!\nSee https://example.org/x  ")
    )
    page = client.get(f"/papers/{TOP}?notice=comment-saved")
    assert "Your comment is saved." in page.text
    assert f'id="comment-{cid}"' in page.text
    assert "Great paper!<br>\nSee " in page.text
    assert 'Discussion <span class="muted">(4)</span>' in page.text  # 3 imported + 1, as on the list
    assert item_of(client.get("/").text, TOP).comments == 4

    bob_client = browser(client)
    bob = sign_up(bob_client, "bob")
    # bob sees no edit or delete controls, and cannot edit or delete through the forms' URLs
    bob_page = bob_client.get(f"/papers/{TOP}").text
    assert f'action="/comments/{cid}/edit"' not in bob_client.get(f"/papers/{TOP}?edit={cid}").text
    assert f'action="/comments/{cid}/delete"' not in bob_page
    refused = post(bob_client, f"/comments/{cid}/edit", bob, body="Bob was here")
    assert refused.status_code == 400
    assert "only its author can change a comment" in refused.text
    refused = post(bob_client, f"/comments/{cid}/delete", bob)
    assert refused.status_code == 400
    with sessions() as session:
        stored = session.get(Comment, cid)
        assert stored is not None
        assert (stored.body, stored.deleted, stored.edited_at) == (
            "Great paper!\nSee https://example.org/x",
            False,
            None,
        )

    # alice edits through her edit form
    form = client.get(f"/papers/{TOP}?edit={cid}").text
    assert f'action="/comments/{cid}/edit"' in form
    edited = post(client, f"/comments/{cid}/edit", alice, body="Great paper, edited.")
    assert edited.status_code == 303
    assert edited.headers["location"] == f"/papers/{TOP}?notice=comment-saved#comment-{cid}"
    page = bob_client.get(f"/papers/{TOP}").text
    assert "Great paper, edited." in page and "Great paper!" not in page and " · edited" in page

    deleted = post(client, f"/comments/{cid}/delete", alice)
    assert deleted.status_code == 303
    assert deleted.headers["location"] == f"/papers/{TOP}?notice=comment-deleted#comments"
    page = bob_client.get(f"/papers/{TOP}").text
    assert f'id="comment-{cid}"' not in page and "Great paper" not in page
    assert item_of(bob_client.get("/").text, TOP).comments == 3
    assert post(client, f"/comments/{cid}/edit", alice, body="resurrected").status_code == 400


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("", "the comment is empty"),
        (" \n\t ", "the comment is empty"),
        ("x" * 5001, "longer than 5000 characters"),
    ],
)
def test_empty_or_long_comment_is_refused_with_a_message(
    client: TestClient, sessions: sessionmaker[Session], daily: list[dict[str, Any]], body: str, message: str
) -> None:
    token = sign_up(client)
    refused = post(client, f"/papers/{TOP}/comments", token, body=body)
    assert refused.status_code == 400
    assert message in refused.text
    assert f'href="/papers/{TOP}"' in refused.text
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Comment)) == 0


def test_admin_hides_a_comment_and_others_cannot(
    client: TestClient, sessions: sessionmaker[Session], daily: list[dict[str, Any]]
) -> None:
    alice = sign_up(client, "alice")
    cid = comment_id_of(post(client, f"/papers/{TOP}/comments", alice, body="Buy cheap watches"))
    carol_client = browser(client)
    carol = sign_up(carol_client, "carol")
    admin_client = browser(client)
    admin = sign_up(admin_client, "bob")
    make_admin(sessions, "bob")
    anonymous = browser(client)

    assert f'action="/comments/{cid}/hide"' not in carol_client.get(f"/papers/{TOP}").text
    refused = post(carol_client, f"/comments/{cid}/hide", carol)
    assert refused.status_code == 403 and "Only an admin can do that." in refused.text
    assert "Buy cheap watches" in anonymous.get(f"/papers/{TOP}").text

    assert f'action="/comments/{cid}/hide"' in admin_client.get(f"/papers/{TOP}").text
    hidden = post(admin_client, f"/comments/{cid}/hide", admin, hidden="true")
    assert hidden.status_code == 303
    for other in (anonymous, carol_client, client):  # the author is not an admin either
        page = other.get(f"/papers/{TOP}").text
        assert "Buy cheap watches" not in page and f'id="comment-{cid}"' not in page
    assert item_of(anonymous.get("/").text, TOP).comments == 3
    admin_page = admin_client.get(f"/papers/{TOP}").text
    block = first_match(
        rf'<article class="comment hidden-comment" id="comment-{cid}">(.*?)</article>', admin_page
    )
    assert block is not None
    assert "Buy cheap watches" in block and "hidden by a moderator" in block and ">Unhide</button>" in block

    shown = post(admin_client, f"/comments/{cid}/hide", admin, hidden="false")
    assert shown.status_code == 303
    assert "Buy cheap watches" in anonymous.get(f"/papers/{TOP}").text


def test_admin_removes_a_daily_entry(
    client: TestClient, sessions: sessionmaker[Session], daily: list[dict[str, Any]]
) -> None:
    with sessions() as session:
        entry_id = session.scalar(
            select(DailyEntry.id).join(Paper, Paper.id == DailyEntry.paper_id).where(Paper.arxiv_id == TOP)
        )
    alice = sign_up(client, "alice")
    assert 'action="/daily/' not in client.get("/").text
    refused = post(client, f"/daily/{entry_id}/remove", alice)
    assert refused.status_code == 403
    assert TOP in listed(client.get("/").text)

    admin_client = browser(client)
    admin = sign_up(admin_client, "root")
    make_admin(sessions, "root")
    assert f'action="/daily/{entry_id}/remove"' in item_of(admin_client.get("/").text, TOP).html
    removed = post(admin_client, f"/daily/{entry_id}/remove", admin)
    assert removed.status_code == 303
    assert removed.headers["location"] == "/papers?date=2024-10-25&notice=entry-removed"
    page = admin_client.get(removed.headers["location"]).text
    assert "The entry was removed from the daily list." in page

    home = listed(client.get("/").text)
    assert len(home) == 28 and TOP not in home
    assert TOP not in listed(client.get("/trending").text)
    api = client.get("/api/daily_papers", params={"date": "2024-10-25"}).json()
    assert len(api) == 28 and TOP not in [e["paper"]["id"] for e in api]
    assert TOP not in [e["paper"]["id"] for e in client.get("/api/daily_papers").json()]
    assert client.get(f"/papers/{TOP}").status_code == 200  # the paper itself stays
    assert post(admin_client, "/daily/999999/remove", admin).status_code == 404


# --- submit --------------------------------------------------------------------------------------


def _submit_client(settings: Settings, embedder: MemoizingEmbedder, api_url: str, **rules: int) -> TestClient:
    """An app fetching from `api_url`; the recorded papers are years old, so no submission window unless
    `rules` (submit_window_days, submit_daily_quota) set one."""
    fetch = arxiv_fetcher(settings.model_copy(update={"arxiv_api_url": api_url}))
    return make_client(settings.model_copy(update={"submit_window_days": 0, **rules}), embedder, fetch)


def _entries(sessions: sessionmaker[Session]) -> list[tuple[str, date, str | None]]:
    with sessions() as session:
        query = select(Paper.arxiv_id, DailyEntry.date, DailyEntry.submitter_name).join(
            Paper, Paper.id == DailyEntry.paper_id
        )
        return sorted((row.arxiv_id, row.date, row.submitter_name) for row in session.execute(query))


def test_submit_needs_sign_in(client: TestClient, sessions: sessionmaker[Session]) -> None:
    page = client.get("/submit?paper=1605.08386")
    assert page.status_code == 303
    assert page.headers["location"] == "/login?next=%2Fsubmit%3Fpaper%3D1605.08386"
    login = client.get(page.headers["location"]).text
    assert 'name="next" value="/submit?paper=1605.08386"' in login
    refused = post(client, "/submit", csrf_token(client), paper="1605.08386")
    assert refused.status_code == 303 and refused.headers["location"] == "/login"
    assert _entries(sessions) == []


def test_submit_adds_the_paper_to_todays_list(
    settings: Settings,
    embedder: MemoizingEmbedder,
    sessions: sessionmaker[Session],
    arxiv: FixtureServer,
    daily: list[dict[str, Any]],
) -> None:
    client = _submit_client(settings, embedder, arxiv.api_url)
    token = sign_up(client, "alice", email="alice@example.org")
    form = client.get("/submit?paper=1605.08386")
    assert form.status_code == 200 and 'value="1605.08386"' in form.text

    added = post(client, "/submit", token, paper="1605.08386")
    assert added.status_code == 303
    assert added.headers["location"] == "/papers/1605.08386?notice=submitted"
    page = client.get(added.headers["location"]).text
    assert "Thanks! The paper is on today&#39;s list." in page
    assert heading(page) == "Heat-bath random walks with Markov bases"
    assert [(r.path, r.params.get("id_list")) for r in arxiv.logged()] == [("/api/query", "1605.08386")]

    by_url = post(client, "/submit", token, paper="https://arxiv.org/abs/1707.08567v1")
    assert by_url.headers["location"] == "/papers/1707.08567?notice=submitted"

    today = utcnow().date()
    assert [e for e in _entries(sessions) if e[1] == today] == [
        ("1605.08386", today, "alice"),
        ("1707.08567", today, "alice"),
    ]
    home = client.get("/").text
    assert heading(home) == f"{today:%A, %B} {today.day}, {today.year}"
    assert sorted(listed(home)) == ["1605.08386", "1707.08567"]
    assert item_of(home, "1605.08386").submitter == "alice"
    assert pager(home)["prev"] == "/papers?date=2024-10-25"

    again = post(client, "/submit", token, paper="arXiv:1605.08386")
    assert again.status_code == 303
    location = f"/papers?date={today.isoformat()}&notice=already-submitted#paper-1605.08386"
    assert again.headers["location"] == location
    assert "That paper was submitted before" in client.get(again.headers["location"]).text
    assert len([e for e in _entries(sessions) if e[0] == "1605.08386"]) == 1


def test_submitting_a_paper_already_in_the_library_needs_no_fetch(
    settings: Settings,
    embedder: MemoizingEmbedder,
    sessions: sessionmaker[Session],
    arxiv: FixtureServer,
    daily: list[dict[str, Any]],
) -> None:
    with sessions() as session, session.begin():  # a paper in the library that no list holds yet
        session.execute(delete(DailyEntry).where(DailyEntry.paper_id == _paper_id(sessions, TOP)))
    client = _submit_client(settings, embedder, arxiv.api_url)
    token = sign_up(client)
    added = post(client, "/submit", token, paper=f"https://arxiv.org/pdf/{TOP}v2")
    assert added.headers["location"] == f"/papers/{TOP}?notice=submitted"
    assert arxiv.logged() == []
    assert (TOP, utcnow().date(), "alice") in _entries(sessions)


def _paper_id(sessions: sessionmaker[Session], arxiv_id: str) -> int:
    with sessions() as session:
        found = session.scalar(select(Paper.id).where(Paper.arxiv_id == arxiv_id))
        assert found is not None
        return found


def test_a_paper_is_listed_once_and_a_resubmission_links_to_its_day(
    settings: Settings,
    embedder: MemoizingEmbedder,
    sessions: sessionmaker[Session],
    arxiv: FixtureServer,
    daily: list[dict[str, Any]],
) -> None:
    """The day's top paper (64 upvotes on 2024-10-25) cannot be pushed to the top of today and trending."""
    client = _submit_client(settings, embedder, arxiv.api_url)
    token = sign_up(client)
    again = post(client, "/submit", token, paper=f"https://arxiv.org/abs/{TOP}v1")
    assert again.status_code == 303
    assert again.headers["location"] == f"/papers?date={DAY}&notice=already-submitted#paper-{TOP}"
    assert [e for e in _entries(sessions) if e[0] == TOP] == [
        (TOP, date(2024, 10, 25), daily[0]["submittedBy"]["name"])
    ]
    assert heading(client.get("/").text) == "Friday, October 25, 2024", "today got no list"
    assert arxiv.logged() == []
    with sessions() as session, session.begin():  # a moderator removed it: it cannot come back
        session.execute(
            update(DailyEntry).where(DailyEntry.paper_id == _paper_id(sessions, TOP)).values(hidden=True)
        )
    refused = post(client, "/submit", token, paper=TOP)
    assert refused.status_code == 400
    assert "a moderator removed it: it cannot be submitted again" in unescape(refused.text)


def test_submission_window_and_daily_quota(
    settings: Settings,
    embedder: MemoizingEmbedder,
    sessions: sessionmaker[Session],
    arxiv: FixtureServer,
    shared_data: Path,
) -> None:
    window = _submit_client(settings, embedder, arxiv.api_url, submit_window_days=14)
    token = sign_up(window)
    submit_page = window.get("/submit").text
    assert "Each paper is listed once, within 14 days of its first arXiv version" in submit_page
    old = post(window, "/submit", token, paper="1605.08386")
    assert old.status_code == 400
    message = unescape(old.text)
    assert "1605.08386 was first published on arXiv on May 26, 2016" in message
    assert "papers join the daily list within 14 days of their first version" in message
    assert 'value="1605.08386"' in old.text and _entries(sessions) == []
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Paper)) == 0, "nothing saved"

    # Inside the window (the list of a day 14 days after the first version), through the same service.
    fetch = arxiv_fetcher(settings.model_copy(update={"arxiv_api_url": arxiv.api_url}))
    rules = SubmissionRules(window_days=14, daily_quota=10)
    inside = submit_paper(sessions, None, "1605.08386", fetch, rules, on_date=date(2016, 6, 9))
    assert inside.added and inside.date == date(2016, 6, 9)
    with pytest.raises(SubmissionError, match="within 14 days"):
        submit_paper(sessions, None, "1707.08567", fetch, rules, on_date=date(2017, 8, 20))

    # Two a day for this user; the third is refused with the reason, an admin has no quota.
    quota = _submit_client(settings, embedder, arxiv.api_url, submit_daily_quota=2)
    bob = sign_up(quota, "bob_quota", email="bob@example.org")
    ingest_hf_daily(sessions, shared_data)
    with sessions() as session, session.begin():
        session.execute(delete(DailyEntry))
    ids = [e["paper"]["id"] for e in json.loads((shared_data / HF_DAILY).read_text())[:4]]
    assert [post(quota, "/submit", bob, paper=i).status_code for i in ids[:2]] == [303, 303]
    third = post(quota, "/submit", bob, paper=ids[2])
    assert third.status_code == 400
    assert "you have submitted 2 papers today, the most one person can" in unescape(third.text)
    make_admin(sessions, "bob_quota")
    assert post(quota, "/submit", bob, paper=ids[2]).status_code == 303


@pytest.mark.parametrize(
    ("paper", "message"),
    [
        ("not a paper", "“not a paper” is not an arXiv id or arXiv URL"),
        ("https://evil.example/abs/1605.08386", "is not an arXiv id or arXiv URL"),
        ("", "enter an arXiv id"),
        ("0808.05394", "arXiv has no paper 0808.05394"),
    ],
)
def test_submit_refuses_what_is_not_an_arxiv_paper(
    settings: Settings,
    embedder: MemoizingEmbedder,
    sessions: sessionmaker[Session],
    arxiv: FixtureServer,
    paper: str,
    message: str,
) -> None:
    client = _submit_client(settings, embedder, arxiv.api_url)
    token = sign_up(client)
    refused = post(client, "/submit", token, paper=paper)
    assert refused.status_code == 400
    assert message in unescape(refused.text)
    assert 'id="paper-error"' in refused.text
    assert _entries(sessions) == []
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Paper)) == 0


def test_submit_when_arxiv_is_unreachable_saves_nothing(
    settings: Settings, embedder: MemoizingEmbedder, sessions: sessionmaker[Session]
) -> None:
    client = _submit_client(settings, embedder, f"http://127.0.0.1:{closed_port()}/api/query")
    token = sign_up(client)

    refused = post(client, "/submit", token, paper="1605.08386")

    assert refused.status_code == 400
    assert "arXiv could not be reached to fetch 1605.08386; nothing was saved" in refused.text
    assert 'value="1605.08386"' in refused.text  # the form keeps what was typed
    assert _entries(sessions) == []
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Paper)) == 0


# --- subscribe -----------------------------------------------------------------------------------


def test_every_page_has_the_subscribe_box(client: TestClient, daily: list[dict[str, Any]]) -> None:
    for path in (
        "/",
        "/papers?week=2024-W43",
        "/trending",
        f"/papers/{TOP}",
        "/search",
        "/help",
        "/login",
        "/signup",
        "/papers/2501.99999",
        "/papers?date=nope",
        "/nowhere",
    ):
        page = client.get(path)
        assert page.status_code < 500, path
        forms = [f for f in elements(page.text, "form") if f.get("action") == "/subscribe"]
        assert forms == [{"method": "post", "action": "/subscribe"}], path
        assert "Get trending papers in your email inbox" in page.text
    own = client.get("/subscribe").text  # the page is the box: one subscribe form, not two
    assert len([f for f in elements(own, "form") if f.get("action") == "/subscribe"]) == 1
    assert 'id="subscribe-email"' not in own, "the side box is not repeated on the subscribe page"


def test_page_titles_name_the_page_once(client: TestClient, daily: list[dict[str, Any]]) -> None:
    for path, title in (
        ("/nowhere", "Page not found · Paperboy"),
        ("/papers/2501.99999", "Paper not found · Paperboy"),
        ("/papers?date=nope", "Not a valid date · Paperboy"),
    ):
        shown = first_match(r"<title>(.*?)</title>", client.get(path).text)
        assert shown == title, (path, shown)
    assert "Paperboy · Paperboy" not in client.get("/").text


class MailSink:
    """A real SMTP server (aiosmtpd) on 127.0.0.1 that keeps every message it is given."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.port = closed_port()  # free until the server binds it
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(BytesParser(policy=policy.default).parsebytes(envelope.content))  # type: ignore[arg-type]
        return "250 Message accepted for delivery"

    def __enter__(self) -> MailSink:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()


@pytest.fixture
def mail() -> Iterator[MailSink]:
    with MailSink() as sink:
        yield sink


def _mail_client(settings: Settings, embedder: MemoizingEmbedder, port: int) -> TestClient:
    return make_client(
        settings.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": port, "mail_outbox": None}),
        embedder,
    )


def _subscriptions(sessions: sessionmaker[Session]) -> list[tuple[str, str, str]]:
    with sessions() as session:
        rows = session.execute(select(Subscription.email, Subscription.frequency, Subscription.status))
        return sorted((row.email, row.frequency, row.status) for row in rows)


def test_subscribing_creates_one_pending_subscription_and_mails_a_confirmation(
    settings: Settings, embedder: MemoizingEmbedder, sessions: sessionmaker[Session], mail: MailSink
) -> None:
    client = _mail_client(settings, embedder, mail.port)
    token = csrf_token(client, "/")

    first = post(client, "/subscribe", token, email=" Reader@Example.org ", frequency="daily")

    assert first.status_code == 200
    assert "Check your inbox" in first.text
    assert "We sent an email to reader@example.org." in first.text
    assert _subscriptions(sessions) == [("reader@example.org", "daily", "pending")]
    (message,) = mail.messages
    assert message["To"] == "reader@example.org"
    assert "/subscriptions/confirm?token=" in message.get_body(preferencelist=("plain",)).get_content()

    again = post(client, "/subscribe", token, email="Reader@Example.org")
    assert again.status_code == 200 and "Check your inbox" in again.text
    assert _subscriptions(sessions) == [("reader@example.org", "daily", "pending")]
    assert len(mail.messages) == 2  # asking again resends the link, still one subscription


@pytest.mark.parametrize(
    ("email", "frequency", "field", "message"),
    [
        ("not-an-email", "daily", "email", "'not-an-email' is not a valid email address"),
        ("", "daily", "email", "an email address is required"),
        ("a@b.c <x@evil.example>", "daily", "email", "is not a valid email address"),
        ("reader@example.org", "hourly", "frequency", "frequency must be daily or weekly, got 'hourly'"),
    ],
)
def test_subscribing_refuses_bad_input_with_a_message(
    settings: Settings,
    embedder: MemoizingEmbedder,
    sessions: sessionmaker[Session],
    mail: MailSink,
    email: str,
    frequency: str,
    field: str,
    message: str,
) -> None:
    client = _mail_client(settings, embedder, mail.port)
    refused = post(client, "/subscribe", csrf_token(client, "/"), email=email, frequency=frequency)
    assert refused.status_code == 400
    shown = first_match(rf'<p class="field-error" id="{field}-error" role="alert">(.*?)</p>', refused.text)
    assert shown is not None and message in unescape(shown)
    assert _subscriptions(sessions) == []
    assert mail.messages == []


def test_subscribing_when_mail_cannot_be_sent_keeps_the_request(
    settings: Settings, embedder: MemoizingEmbedder, sessions: sessionmaker[Session]
) -> None:
    client = _mail_client(settings, embedder, closed_port())
    response = post(client, "/subscribe", csrf_token(client, "/"), email="reader@example.org")
    assert response.status_code == 503
    assert "We could not send the confirmation email just now" in response.text
    assert _subscriptions(sessions) == [("reader@example.org", "daily", "pending")]


# --- API docs ----------------------------------------------------------------------------------


def test_docs_use_local_swagger_ui_assets(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    assert re.search(r"https?://", page.text) is None
    assets = [a["src"] for a in elements(page.text, "script")] + [
        link["href"] for link in elements(page.text, "link") if link.get("rel") == "stylesheet"
    ]
    assert "/static-docs/swagger-ui-bundle.js" in assets and "/static/docs-init.js" in assets
    for asset in assets:
        response = client.get(asset)
        assert response.status_code == 200, asset
        assert len(response.content) > 100, asset
    assert "/openapi.json" in client.get("/static/docs-init.js").text
    spec = client.get("/openapi.json")
    assert spec.status_code == 200
    paths = spec.json()["paths"]
    assert "/api/daily_papers" in paths and "get" in paths["/api/daily_papers"]
    assert not any(path in paths for path in ("/", "/login", "/signup", "/submit"))  # pages stay out


# --- crawl ---------------------------------------------------------------------------------------


def _same_site_links(html: str) -> set[str]:
    links = set()
    for tag, attribute in (("a", "href"), ("link", "href"), ("script", "src"), ("img", "src")):
        for attrs in elements(html, tag):
            target = attrs.get(attribute, "")
            parts = urlsplit(target)
            if parts.scheme in ("http", "https") and parts.netloc != "testserver":
                continue
            if parts.scheme not in ("", "http", "https") or target.startswith("//") or not parts.path:
                continue
            links.add(parts.path + (f"?{parts.query}" if parts.query else ""))
    return links


@pytest.mark.parametrize("signed_in", [False, True], ids=["anonymous", "signed-in"])
def test_every_page_linked_from_home_works(
    client: TestClient, daily: list[dict[str, Any]], signed_in: bool
) -> None:
    if signed_in:
        sign_up(client)
    links = _same_site_links(client.get("/").text)
    assert len([link for link in links if re.fullmatch(r"/papers/\d{4}\.\d{5}", link)]) == 29
    assert {"/trending", "/submit", "/help", "/docs", "/feeds/daily.atom", "/papers?week=2024-W43"} <= links
    assert ("/account" in links) == signed_in
    failures = {}
    for link in sorted(links):
        response = client.get(link)
        if response.status_code >= 500:
            failures[link] = response.status_code
        if response.status_code in (301, 302, 303, 307, 308):
            assert urlsplit(response.headers["location"]).netloc in ("", "testserver"), link
    assert failures == {}
