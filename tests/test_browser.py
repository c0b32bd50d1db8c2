"""Real-browser tests: the real app served by uvicorn, driven by Debian's Chromium through Playwright.

One server (SQLite, the real Hugging Face daily list of 2024-10-25, a real search index built with the
real embedder) and one browser serve the whole module; each test gets a fresh browser context (no
cookies, no storage). Submitting a paper talks real HTTP to the local arXiv fixture server.

The tests also write the screenshots in docs/screenshots/, so every CI run regenerates them.

Order matters in one place only: submitting a paper puts it on *today's* list, which then becomes the
home page, so the submit test comes last.
"""

from __future__ import annotations

import json
import os
import re
import socket
import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Dialog,
    Locator,
    Page,
    ViewportSize,
    expect,
    sync_playwright,
)
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from http_fixture_server import FixtureServer
from paperboy.community.submissions import arxiv_fetcher
from paperboy.config import Settings
from paperboy.db.engine import engine_from_settings, session_factory
from paperboy.db.migrate import upgrade
from paperboy.db.models import DailyEntry, Paper, User
from paperboy.db.records import PaperRecord
from paperboy.db.repositories.papers import upsert_papers
from paperboy.ingest.runner import run_ingest
from paperboy.ingest.sources.files import JsonLinesSource
from paperboy.search.embedder import Embedder
from paperboy.search.indexer import Indexer
from paperboy.web.app import create_app
from search_support import MemoizingEmbedder
from web_support import PASSWORD, ingest_hf_daily, running_server

pytestmark = pytest.mark.slow

CHROMIUM = os.environ.get("PAPERBOY_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
DESKTOP = ViewportSize(width=1280, height=900)
MOBILE = ViewportSize(width=390, height=844)
TIMEOUT_MS = 15_000
expect.set_options(timeout=TIMEOUT_MS)  # a loaded CI machine can be slow

DAY = "2024-10-25"
TOP = "2410.17243"  # Breaking the Memory Barrier…: 64 upvotes, the most upvoted of the day
TOP_TITLE = "Breaking the Memory Barrier"
SECOND = "2410.16251"  # Can Knowledge Editing Really Correct Hallucinations?: 41 upvotes
SUBMITTED = "1605.08386"  # recorded in fixtures/arxiv_atom
SUBMITTED_TITLE = "Heat-bath random walks with Markov bases"

XSS_ID = "2409.99999"
XSS_DAY = "2024-09-02"
IMG_PAYLOAD = '<img src=x onerror="window.__xss=1">'
SCRIPT_PAYLOAD = "<script>window.__xss=1</script>"
SVG_PAYLOAD = "<svg onload=alert(1)>"
XSS_TITLE = f"Sanitizer escapes {IMG_PAYLOAD} and {SCRIPT_PAYLOAD}"
XSS_ABSTRACT = (
    f"We embed markup in paper metadata: {IMG_PAYLOAD} then {SCRIPT_PAYLOAD} then {SVG_PAYLOAD}, "
    "and inside math $\\text{<img src=x onerror=alert(1)>}$ as well. "
    "A page that renders these as markup runs the attacker's code; the words must show as plain text."
)
XSS_AUTHORS = (IMG_PAYLOAD, SCRIPT_PAYLOAD, "Mallory Example")


class SmtpSink:
    """A real SMTP server on 127.0.0.1 that accepts every message and keeps it (for the subscribe flow)."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        sink = self

        class Handler(socketserver.StreamRequestHandler):
            def reply(self, line: str) -> None:
                self.wfile.write(line.encode() + b"\r\n")

            def handle(self) -> None:
                self.reply("220 localhost test SMTP")
                while line := self.rfile.readline():
                    verb = line.decode(errors="replace").strip().split(" ", 1)[0].upper()
                    if verb == "EHLO":
                        self.reply("250-localhost")
                        self.reply("250 8BITMIME")
                    elif verb == "DATA":
                        self.reply("354 end with <CRLF>.<CRLF>")
                        lines = []
                        while (data := self.rfile.readline()) not in (b".\r\n", b".\n", b""):
                            lines.append(data[1:] if data.startswith(b"..") else data)
                        message = BytesParser(policy=policy.default).parsebytes(b"".join(lines))
                        sink.messages.append(message)
                        self.reply("250 queued")
                    elif verb == "QUIT":
                        self.reply("221 bye")
                        return
                    else:  # HELO, MAIL, RCPT, RSET, NOOP
                        self.reply("250 OK")

        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self) -> SmtpSink:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


@dataclass
class Site:
    base: str
    settings: Settings
    sessions: sessionmaker[Session]
    arxiv: FixtureServer
    mail: SmtpSink


@dataclass
class Watch:
    """What a page reported: console errors, uncaught exceptions, dialogs."""

    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def csp_violations(self) -> list[str]:
        return [m for m in self.console_errors if "Content Security Policy" in m]


# --- the server and the browser -------------------------------------------------------------------


def _insert_xss_paper(sessions: sessionmaker[Session]) -> None:
    with sessions() as session, session.begin():
        upsert_papers(
            session,
            [
                PaperRecord(
                    arxiv_id=XSS_ID,
                    title=XSS_TITLE,
                    abstract=XSS_ABSTRACT,
                    source="test",
                    authors=XSS_AUTHORS,
                    categories=("cs.CR",),
                    primary_category="cs.CR",
                    comments=f"{SCRIPT_PAYLOAD} see https://example.org/{IMG_PAYLOAD}",
                    published_at=datetime(2024, 9, 2, 12, 0),
                )
            ],
        )
        paper = session.scalar(select(Paper).where(Paper.arxiv_id == XSS_ID))
        assert paper is not None
        session.add(
            DailyEntry(
                date=date.fromisoformat(XSS_DAY),
                paper_id=paper.id,
                submitter_name=IMG_PAYLOAD,
                submitter_fullname=SCRIPT_PAYLOAD,
                submitted_at=datetime(2024, 9, 2, 12, 0),
                source="test",
            )
        )


MATH_PAPERS = ("0704.0295", "0704.0501")  # real arXiv metadata: display math; TeX accents and fonts


def _insert_math_papers(sessions: sessionmaker[Session], shared_data: Path, home: Path) -> None:
    chosen = home / "math-papers.jsonl"
    with (shared_data / "arxiv" / "arxiv_browse_abs.jsonl").open(encoding="utf-8") as lines:
        chosen.write_text("".join(line for line in lines if json.loads(line).get("id") in MATH_PAPERS))
    assert run_ingest(sessions, JsonLinesSource(chosen)).rejected == 0


@contextmanager
def serve_site(home: Path, shared_data: Path, embedder: Embedder) -> Iterator[Site]:
    """The real app on 127.0.0.1 (SQLite under `home`), its data loaded and indexed, until exit."""
    home.mkdir(parents=True, exist_ok=True)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        base = f"http://127.0.0.1:{sock.getsockname()[1]}"
        with FixtureServer(shared_data / "fixtures") as arxiv, SmtpSink() as mail:
            yield from _load_and_serve(home, shared_data, embedder, sock, base, arxiv, mail)


def _load_and_serve(
    home: Path,
    shared_data: Path,
    embedder: Embedder,
    sock: socket.socket,
    base: str,
    arxiv: FixtureServer,
    mail: SmtpSink,
) -> Iterator[Site]:
    """Migrate, load and index a fresh database, then serve the app on `sock` until the generator closes."""
    settings = Settings(
        home=home,
        shared_data=shared_data,
        base_url=base,
        http_delay=0,
        arxiv_api_url=arxiv.api_url,
        smtp_host="127.0.0.1",
        smtp_port=mail.port,
        rate_limit_auth=1000,
        rate_limit_write=1000,
        submit_window_days=0,  # the recorded arXiv papers are years old
    )
    engine = engine_from_settings(settings)
    upgrade(engine)
    sessions = session_factory(engine)
    ingest_hf_daily(sessions, shared_data)
    _insert_xss_paper(sessions)
    _insert_math_papers(sessions, shared_data, home)
    Indexer(sessions, settings.home, embedder).run()

    app = create_app(settings, embedder=embedder, fetch_paper=arxiv_fetcher(settings))
    try:
        with running_server(app, sock):
            yield Site(base, settings, sessions, arxiv, mail)
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def site(
    tmp_path_factory: pytest.TempPathFactory, shared_data: Path, embedder: MemoizingEmbedder
) -> Iterator[Site]:
    with serve_site(tmp_path_factory.mktemp("browser") / "home", shared_data, embedder) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: apt-get install -y chromium")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def context(browser: Browser, site: Site) -> Iterator[BrowserContext]:
    """A fresh context (no cookies, no storage) at desktop width, light colour scheme."""
    ctx = browser.new_context(base_url=site.base, viewport=DESKTOP, color_scheme="light")
    ctx.set_default_timeout(TIMEOUT_MS)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


def watch(page: Page) -> Watch:
    found = Watch()

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            found.console_errors.append(message.text)

    def on_dialog(dialog: Dialog) -> None:
        found.dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("console", on_console)
    page.on("pageerror", lambda error: found.page_errors.append(str(error)))
    page.on("dialog", on_dialog)
    return found


def shoot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / name), full_page=True, animations="disabled")


def paper_row(page: Page, arxiv_id: str) -> Locator:
    return page.locator(f'li.paper[id="paper-{arxiv_id}"]')


def sign_up(page: Page, site: Site, username: str) -> None:
    """Create an account through the sign-up form and the link it emails; the page is then signed in."""
    address = f"{username}@example.org"
    page.goto("/signup")
    page.fill("#email", address)
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.locator("h1")).to_have_text("Check your inbox")
    message = next(m for m in reversed(site.mail.messages) if address in str(m["To"]))
    text = message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    link = re.search(r"https?://\S+/signup/confirm\?token=\S+", text)
    assert link, text
    page.goto(link.group(0))
    expect(page.locator("h1")).to_have_text("Finish creating your account")
    page.get_by_role("button", name="Create my account").click()
    expect(page.locator(".account .who")).to_have_text(username)


# --- browsing the daily list ----------------------------------------------------------------------


def test_home_lists_the_day_most_upvoted_first_and_navigates(page: Page) -> None:
    seen = watch(page)
    page.goto("/")
    expect(page.locator("h1")).to_have_text("Friday, October 25, 2024")
    rows = page.locator("ol.papers > li.paper")
    expect(rows).to_have_count(29)
    counts = [int(text) for text in page.locator("ol.papers .vote-button .count").all_inner_texts()]
    assert len(counts) == 29
    assert counts == sorted(counts, reverse=True)
    assert counts[0] == 64
    expect(rows.first.locator(".title")).to_contain_text(TOP_TITLE)
    expect(rows.nth(1)).to_have_id(f"paper-{SECOND}")
    shoot(page, "home.png")

    # Previous day: the previous day that has papers (the test paper of 2024-09-02); "Next day" leads back.
    page.get_by_role("link", name="← Previous day: Sep 2").click()
    expect(page).to_have_url(re.compile(rf"/papers\?date={XSS_DAY}$"))
    expect(page.locator("h1")).to_have_text("Monday, September 2, 2024")
    expect(page.locator("ol.papers > li.paper")).to_have_count(1)
    page.get_by_role("link", name="Next day: Oct 25 →").click()
    expect(page).to_have_url(re.compile(rf"/papers\?date={DAY}$"))
    expect(page.locator("ol.papers > li.paper")).to_have_count(29)
    expect(page.locator('a[rel="next"]')).to_have_count(0)
    page.goto("/papers?date=2024-10-24")
    expect(page.locator("ol.papers > li.paper")).to_have_count(0)
    expect(page.locator(".empty")).to_contain_text("No papers on Thursday, October 24, 2024")
    page.get_by_role("link", name="Next day: Oct 25 →").click()
    expect(page).to_have_url(re.compile(rf"/papers\?date={DAY}$"))

    # Week and month tabs.
    page.locator('nav[aria-label="Period"]').get_by_role("link", name="Week").click()
    expect(page).to_have_url(re.compile(r"/papers\?week=2024-W43$"))
    expect(page.locator("h1")).to_have_text("Week 43, 2024 (Oct 21 to Oct 27)")
    expect(page.locator("ol.papers > li.paper")).to_have_count(29)
    expect(page.locator('nav[aria-label="Period"] a[aria-current="page"]')).to_have_text("Week")
    expect(page.locator("ol.papers > li.paper").first).to_have_id(f"paper-{TOP}")
    shoot(page, "week.png")
    page.get_by_role("link", name="← Previous week").click()
    expect(page).to_have_url(re.compile(r"/papers\?week=2024-W42$"))
    expect(page.locator("ol.papers > li.paper")).to_have_count(0)
    page.get_by_role("link", name="Next week →").click()
    expect(page.locator("ol.papers > li.paper")).to_have_count(29)

    page.locator('nav[aria-label="Period"]').get_by_role("link", name="Month").click()
    expect(page).to_have_url(re.compile(r"/papers\?month=2024-10$"))
    expect(page.locator("h1")).to_have_text("October 2024")
    expect(page.locator("ol.papers > li.paper")).to_have_count(29)
    page.locator('nav[aria-label="Period"]').get_by_role("link", name="Day").click()
    expect(page).to_have_url(re.compile(r"/papers\?date=2024-10-01$"))

    assert seen.csp_violations() == [] and seen.page_errors == []


def test_abstract_expands_with_the_keyboard(page: Page, site: Site) -> None:
    page.goto("/")
    row = paper_row(page, TOP)
    details = row.locator("details.abstract")
    full = details.locator(".full")
    expect(full).to_be_hidden()
    with site.sessions() as session:
        abstract = session.scalar(select(Paper.abstract).where(Paper.arxiv_id == TOP))
    assert abstract and len(abstract) > 300
    details.locator("summary").focus()
    page.keyboard.press("Enter")
    expect(details).to_have_attribute("open", "")
    expect(full).to_be_visible()
    text = " ".join(full.inner_text().split())
    assert text == " ".join(abstract.split())
    expect(details.locator(".more")).to_be_hidden()
    page.keyboard.press("Enter")  # and closes again
    expect(full).to_be_hidden()


def test_trending_page(page: Page) -> None:
    seen = watch(page)
    page.goto("/trending")
    expect(page.locator("h1")).to_have_text("Trending papers")
    expect(page.locator("ol.papers > li.paper")).to_have_count(29)
    expect(page.locator("#trending-help code")).to_contain_text("upvotes")
    shoot(page, "trending.png")
    assert seen.csp_violations() == [] and seen.page_errors == []


def test_mobile_home(browser: Browser, site: Site) -> None:
    ctx = browser.new_context(
        base_url=site.base, viewport=MOBILE, device_scale_factor=1, is_mobile=True, has_touch=True
    )
    try:
        page = ctx.new_page()
        page.goto("/")
        expect(page.locator("ol.papers > li.paper")).to_have_count(29)
        # Nothing is wider than the screen: no sideways scrolling on a phone.
        # (A mobile browser widens its layout viewport to fit wider content, so compare with the screen.)
        width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert width == [MOBILE["width"]] * 2, f"the page is wider than the phone screen: {width}"
        expect(page.locator("#site-search")).to_be_visible()
        shoot(page, "home-mobile.png")
        page.goto("/search?q=speculative+sampling")
        visible = page.locator("input[type=search]:visible")
        expect(visible).to_have_count(1)  # the page's own box; the header's is not shown twice
        expect(visible).to_have_id("q")

        # A long display formula scrolls in its own box; the page keeps the phone's width.
        page.goto(f"/papers/{MATH_PAPERS[0]}")
        formula = page.locator('.abstract-full math[display="block"]').first
        expect(formula).to_be_visible()
        width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert width == [MOBILE["width"]] * 2, f"the formula widened the page: {width}"
        inner, box = page.locator(".abstract-full .math-display").first.evaluate(
            "m => [m.scrollWidth, m.clientWidth]"
        )
        assert inner > box, "the formula is wider than the screen, so it scrolls inside its box"
        shoot(page, "paper-math-mobile.png")
    finally:
        ctx.close()


def test_day_pages_step_to_days_with_papers_and_have_a_date_picker(page: Page) -> None:
    seen = watch(page)
    page.goto("/papers?date=2024-10-22")
    expect(page.locator("h1")).to_have_text("Tuesday, October 22, 2024")
    expect(page.locator(".empty")).to_contain_text("The nearest days with papers")
    expect(page.locator(".empty")).not_to_contain_text("submit")
    shoot(page, "daily-empty-day.png")
    page.fill("#pick-date", "2024-09-02")
    page.locator(".date-picker button").click()
    expect(page).to_have_url(re.compile(r"/papers\?date=2024-09-02$"))
    expect(page.locator("ol.papers > li.paper")).to_have_count(1)
    page.get_by_role("link", name="Next day: Oct 25 →").click()
    expect(page.locator("h1")).to_have_text("Friday, October 25, 2024")
    page.get_by_role("link", name="With code").click()
    expect(page.locator("ol.papers > li.paper")).to_have_count(5)
    expect(page.locator("ol.papers .code-link").first).to_be_visible()
    shoot(page, "daily-with-code.png")
    # A paper page: its code link, its keyphrase chips (each searches its phrase), its authors' badges.
    page.goto("/papers/2410.17779")
    expect(page.locator("a.button.code")).to_have_attribute("href", "https://github.com/Hao840/ADEM-VL")
    chips = page.locator("ul.keywords a.tag")
    assert 1 <= chips.count() <= 5
    expect(page.locator("#authors .badge").first).to_be_visible()
    shoot(page, "paper-code-keywords.png")
    phrase = chips.first.inner_text()
    chips.first.click()
    expect(page).to_have_url(re.compile(r"/search\?q="))
    expect(page.locator("#q")).to_have_value(f'"{phrase}"')
    # The tab title and the heading read TeX as text.
    page.goto(f"/papers/{MATH_PAPERS[1]}")
    expect(page).to_have_title(
        re.compile(r"^On universality .* Schrödinger .* tritronquée .* Painlevé-I equation · Paperboy$")
    )
    expect(page.locator("h1")).to_contain_text("Schrödinger")
    assert seen.csp_violations() == [] and seen.page_errors == []


# --- search ---------------------------------------------------------------------------------------


def test_a_misspelled_search_is_corrected_and_an_id_goes_to_the_paper(page: Page) -> None:
    seen = watch(page)
    page.goto("/search?q=specualtive+samplnig+draft")
    correction = page.locator(".correction")
    expect(correction).to_contain_text("Showing results for")
    expect(correction.locator("strong")).to_have_text("speculative sampling draft")
    expect(page.locator("ol.results > li.result").first.locator(".title")).to_contain_text(
        "Multi-Draft Speculative Sampling"
    )
    expect(page.locator("ol.results > li.result").first.locator(".counts")).to_contain_text("▲")
    expect(page.locator(".result-count")).to_contain_text("match")
    shoot(page, "search-corrected.png")
    correction.get_by_role("link", name="specualtive samplnig draft").click()
    expect(page).to_have_url(re.compile(r"correct=0"))
    expect(page.locator(".correction")).to_have_count(0)
    box = page.locator("#site-search")
    box.fill("arXiv:2410.18234v1")
    box.press("Enter")
    expect(page).to_have_url(re.compile(r"/papers/2410\.18234$"))
    assert seen.csp_violations() == [] and seen.page_errors == []


def test_search_from_the_header_box(page: Page) -> None:
    seen = watch(page)
    page.goto("/")
    box = page.locator("#site-search")
    box.fill("speculative sampling draft")
    box.press("Enter")
    expect(page).to_have_url(re.compile(r"/search\?q=speculative\+sampling\+draft$"))
    results = page.locator("ol.results > li.result")
    expect(results.first).to_be_visible()
    assert results.count() >= 3
    first = results.first
    expect(first.locator(".title")).to_contain_text("Multi-Draft Speculative Sampling")
    expect(first.locator(".title a")).to_have_attribute("href", "/papers/2410.18234")
    abstract = first.locator(".abstract")
    assert len(abstract.inner_text()) > 200
    marked = {m.lower() for m in first.locator("mark").all_inner_texts()}
    assert {"speculative", "sampling", "draft"} <= marked
    assert first.locator(".title mark").count() >= 2
    assert abstract.locator("mark").count() >= 3
    expect(page.locator("#q")).to_have_value("speculative sampling draft")
    shoot(page, "search.png")

    # A search that finds nothing explains what to try.
    page.fill("#q", '"zebra crossing marmalade"')
    page.press("#q", "Enter")
    expect(page.locator("ol.results > li.result")).to_have_count(0)
    empty = page.locator(".empty")
    expect(empty.locator("h2")).to_have_text('No papers match “"zebra crossing marmalade"”')
    expect(empty).to_contain_text("Quoted phrases must appear exactly")
    expect(empty.get_by_role("link", name="Submit it from arXiv")).to_have_attribute("href", "/submit")
    assert seen.csp_violations() == [] and seen.page_errors == []


# --- a paper's page -------------------------------------------------------------------------------


def test_paper_page_shows_abstract_links_and_similar_papers(page: Page, site: Site) -> None:
    seen = watch(page)
    page.goto("/")
    paper_row(page, TOP).locator(".title a").click()
    expect(page).to_have_url(re.compile(rf"/papers/{TOP}$"))
    expect(page.locator("h1")).to_contain_text(TOP_TITLE)
    with site.sessions() as session:
        abstract = session.scalar(select(Paper.abstract).where(Paper.arxiv_id == TOP))
    assert abstract
    shown = " ".join(page.locator(".abstract-full p").first.inner_text().split())
    assert shown == " ".join(abstract.split())
    expect(page.get_by_role("link", name="arXiv page")).to_have_attribute(
        "href", f"https://arxiv.org/abs/{TOP}"
    )
    expect(page.get_by_role("link", name="PDF", exact=True)).to_have_attribute(
        "href", f"https://arxiv.org/pdf/{TOP}"
    )
    similar = page.locator("section.similar li a")
    expect(similar).to_have_count(6)
    hrefs = similar.evaluate_all("links => links.map(a => a.getAttribute('href'))")
    assert all(h.startswith("/papers/") for h in hrefs) and f"/papers/{TOP}" not in hrefs
    shoot(page, "paper.png")
    target = hrefs[0]
    similar.first.click()
    expect(page).to_have_url(re.compile(re.escape(target) + "$"))
    expect(page.locator("section.similar li a")).not_to_have_count(0)
    assert seen.csp_violations() == [] and seen.page_errors == []


# --- accounts -------------------------------------------------------------------------------------


def test_sign_up_and_account_page(page: Page, site: Site) -> None:
    seen = watch(page)
    page.goto("/")
    page.get_by_role("link", name="Sign up").click()
    expect(page).to_have_url(re.compile(r"/signup$"))
    expect(page.locator("h1")).to_have_text("Create an account")
    shoot(page, "signup.png")
    page.fill("#email", "alice@example.org")
    page.fill("#username", "alice")
    page.fill("#display_name", "Alice Liddell")
    page.fill("#password", PASSWORD)
    page.get_by_role("button", name="Create account").click()
    # The same answer whether or not the address has an account: the emailed link finishes the sign-up.
    expect(page.locator("h1")).to_have_text("Check your inbox")
    expect(page.locator(".account .who")).to_have_count(0)
    message = next(m for m in reversed(site.mail.messages) if "alice@example.org" in str(m["To"]))
    assert message["Subject"] == "Finish creating your Paperboy account"
    link = re.search(
        r"https?://\S+/signup/confirm\?token=\S+", message.get_body(preferencelist=("plain",)).get_content()
    )  # type: ignore[union-attr]
    assert link
    shoot(page, "signup-check-inbox.png")
    page.goto(link.group(0))
    expect(page.locator("h1")).to_have_text("Finish creating your account")
    expect(page.locator(".account .who")).to_have_count(0)  # opening the link creates nothing yet
    shoot(page, "signup-confirm.png")
    page.get_by_role("button", name="Create my account").click()
    expect(page.locator(".notice")).to_contain_text("Your account is ready")
    expect(page.locator(".account .who")).to_have_text("Alice Liddell")
    expect(page.get_by_role("link", name="Sign up")).to_have_count(0)

    page.locator(".account .who").click()
    expect(page).to_have_url(re.compile(r"/account$"))
    expect(page.locator("h1")).to_have_text("Your account")
    expect(page.locator(".page-head")).to_contain_text("alice@example.org")
    shoot(page, "account.png")

    # The session survives a reload and a sign-out ends it.
    page.reload()
    expect(page.locator(".account .who")).to_have_text("Alice Liddell")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("link", name="Sign up")).to_be_visible()
    assert seen.csp_violations() == [] and seen.page_errors == []


# --- upvotes --------------------------------------------------------------------------------------


def test_upvote_without_reload_persists_and_toggles_back(page: Page, site: Site) -> None:
    seen = watch(page)
    page.goto("/")
    anonymous = paper_row(page, TOP).locator(".vote-button")
    expect(anonymous).to_have_attribute("href", f"/login?next=/papers/{TOP}")

    sign_up(page, site, "voter")
    page.goto("/")
    button = paper_row(page, TOP).locator("button.vote-button")
    count = button.locator(".count")
    expect(count).to_have_text("64")
    expect(button).to_have_attribute("aria-pressed", "false")

    page.evaluate("window.__sameDocument = true")
    button.click()
    expect(count).to_have_text("65")
    expect(button).to_have_attribute("aria-pressed", "true")
    expect(button).to_have_class(re.compile(r"\bvoted\b"))
    assert page.evaluate("window.__sameDocument") is True, "the upvote reloaded the page"

    page.reload()
    button = paper_row(page, TOP).locator("button.vote-button")
    expect(button.locator(".count")).to_have_text("65")
    expect(button).to_have_attribute("aria-pressed", "true")

    page.evaluate("window.__sameDocument = true")
    button.click()
    expect(button.locator(".count")).to_have_text("64")
    expect(button).to_have_attribute("aria-pressed", "false")
    assert page.evaluate("window.__sameDocument") is True
    page.reload()
    expect(paper_row(page, TOP).locator(".count")).to_have_text("64")

    # The paper page's button is the same control.
    page.goto(f"/papers/{SECOND}")
    button = page.locator(".actions button.vote-button")
    expect(button.locator(".count")).to_have_text("41")
    button.click()
    expect(button.locator(".count")).to_have_text("42")
    button.click()
    expect(button.locator(".count")).to_have_text("41")
    assert seen.csp_violations() == [] and seen.page_errors == []


# --- comments -------------------------------------------------------------------------------------


def test_a_markdown_discussion_with_a_reply(browser: Browser, site: Site) -> None:
    first = browser.new_context(base_url=site.base)
    second = browser.new_context(base_url=site.base)
    try:
        asker, answerer = first.new_page(), second.new_page()
        seen = watch(asker)
        sign_up(asker, site, "asker")
        asker.goto(f"/papers/{TOP}")
        asker.fill(
            "#comment-body",
            "Does the **tile size** matter?\n\n- memory $O(n^2)$\n- speed\n\n<script>window.__xss=1</script>",
        )
        asker.get_by_role("button", name="Post comment").click()
        comment = asker.locator("article.comment").first
        expect(comment.locator(".comment-body strong")).to_have_text("tile size")
        expect(comment.locator(".comment-body li")).to_have_count(2)
        expect(comment.locator(".comment-body math")).to_have_count(1)
        expect(comment.locator(".comment-body")).to_contain_text("<script>window.__xss=1</script>")
        sign_up(answerer, site, "answerer")
        answerer.goto(f"/papers/{TOP}")
        answerer.locator("details.reply summary").first.click()
        answerer.locator("details.reply textarea").first.fill("It does not: see *Table 3*.")
        answerer.get_by_role("button", name="Post reply").first.click()
        reply = answerer.locator("ol.replies article.comment")
        expect(reply).to_have_count(1)
        expect(reply.locator(".comment-body em")).to_have_text("Table 3")
        expect(reply.locator(".meta")).to_contain_text("answerer")
        shoot(answerer, "discussion.png")
        assert asker.evaluate("window.__xss === undefined")
        assert seen.csp_violations() == [] and seen.page_errors == []
    finally:
        first.close()
        second.close()


def test_author_page_follow_and_a_claim_approved_by_an_admin(browser: Browser, site: Site) -> None:
    context = browser.new_context(base_url=site.base)
    admin_context = browser.new_context(base_url=site.base)
    try:
        page = context.new_page()
        seen = watch(page)
        page.goto(f"/papers/{TOP}")
        page.locator("#authors").get_by_role("link", name="Zesen Cheng").click()
        expect(page).to_have_url(re.compile(r"/authors/Zesen%20Cheng$"))
        expect(page.locator("h1")).to_contain_text("Zesen Cheng")
        expect(page.locator("h1 .badge")).to_contain_text("Hugging Face: ClownRat")
        expect(page.locator(".coauthors li")).to_have_count(8)
        sign_up(page, site, "lidong")
        page.goto("/authors/Zesen%20Cheng")
        page.get_by_role("button", name="Follow").click()
        expect(page.locator(".notice")).to_contain_text("You follow this author")
        expect(page.get_by_role("button", name="Following ✓")).to_be_visible()
        shoot(page, "author.png")

        page.goto(f"/papers/{SECOND}")
        page.locator("details.claim summary").click()
        page.select_option("#claim-name", index=0)
        page.get_by_role("button", name="Claim authorship").click()
        expect(page.locator(".notice")).to_contain_text("An admin will check your claim")
        expect(page.locator(".claim-status")).to_contain_text("waiting for an admin")

        admin = admin_context.new_page()
        sign_up(admin, site, "boss")
        with site.sessions() as session, session.begin():
            boss = session.scalars(select(User).where(User.username == "boss")).one()
            boss.is_admin = True
        admin.goto("/admin/claims")
        expect(admin.locator("li.claim")).to_have_count(1)
        shoot(admin, "admin-claims.png")
        admin.get_by_role("button", name="Approve").click()
        expect(admin.locator(".notice")).to_contain_text("The claim is decided")

        page.goto(f"/papers/{SECOND}")
        expect(page.locator("#authors .badge.verified")).to_have_count(1)
        page.locator("#authors .badge.verified").click()
        expect(page).to_have_url(re.compile(r"/users/lidong$"))
        expect(page.locator("#claimed-title + ol li")).to_have_count(1)
        shoot(page, "profile.png")
        assert seen.csp_violations() == [] and seen.page_errors == []
    finally:
        context.close()
        admin_context.close()


def test_comment_post_edit_delete(page: Page, site: Site) -> None:
    seen = watch(page)
    sign_up(page, site, "commenter")
    page.goto(f"/papers/{SECOND}")
    expect(page.locator("#comments-title")).to_have_text("Discussion (2)")  # counted from Hugging Face
    expect(page.locator(".imported-comments")).to_contain_text("2 comments from the Hugging Face discussion")
    page.fill("#comment-body", "Does the benchmark cover multi-hop edits?\nSee https://example.org/notes")
    page.get_by_role("button", name="Post comment").click()
    expect(page.locator(".notice")).to_have_text("Your comment is saved.")
    comment = page.locator("article.comment")
    expect(comment).to_have_count(1)
    expect(comment.locator(".comment-body")).to_contain_text("Does the benchmark cover multi-hop edits?")
    expect(comment.locator(".comment-body a")).to_have_attribute("href", "https://example.org/notes")
    expect(comment.locator(".meta")).to_contain_text("commenter")
    expect(page.locator("#comments-title")).to_have_text("Discussion (3)")  # 2 imported + 1

    comment.get_by_role("link", name="Edit").click()
    editor = comment.locator("textarea")
    expect(editor).to_have_value("Does the benchmark cover multi-hop edits?\nSee https://example.org/notes")
    editor.fill("Edited: the benchmark does cover multi-hop edits.")
    comment.get_by_role("button", name="Save").click()
    expect(page.locator(".notice")).to_have_text("Your comment is saved.")
    expect(comment.locator(".comment-body")).to_have_text("Edited: the benchmark does cover multi-hop edits.")
    expect(comment.locator(".meta")).to_contain_text("edited")

    comment.get_by_role("button", name="Delete").click()
    expect(page.locator(".notice")).to_have_text("Your comment is deleted.")
    expect(page.locator("article.comment")).to_have_count(0)
    expect(page.locator("#comments-title")).to_have_text("Discussion (2)")
    assert seen.csp_violations() == [] and seen.page_errors == []


# --- subscribing, theme ---------------------------------------------------------------------------


def test_subscribe_box_emails_a_confirmation_link(page: Page, site: Site) -> None:
    seen = watch(page)
    page.goto(f"/papers/{TOP}")
    box = page.locator("section.subscribe")
    box.locator("#subscribe-email").fill("reader@example.org")
    box.locator("#subscribe-frequency").select_option("weekly")
    sent = len(site.mail.messages)
    box.get_by_role("button", name="Subscribe").click()
    expect(page).to_have_url(re.compile(r"/subscribe$"))
    expect(page.locator("main h1")).to_have_text("Check your inbox")
    expect(page.locator("main")).to_contain_text("reader@example.org")

    assert len(site.mail.messages) == sent + 1
    message = site.mail.messages[-1]
    assert message["To"] == "reader@example.org"
    text = message.get_body(preferencelist=("plain",))
    assert text is not None
    links = re.findall(r"https?://\S+/subscriptions/confirm\?\S+", text.get_content())
    assert links and links[0].startswith(site.base), text.get_content()
    page.goto(links[0])
    expect(page.locator("main h1")).to_have_text("You are subscribed")
    expect(page.locator("main")).to_contain_text("reader@example.org will get the weekly digest")
    assert seen.csp_violations() == [] and seen.page_errors == []


def _background(page: Page) -> str:
    return str(page.evaluate("getComputedStyle(document.body).backgroundColor"))


def test_theme_toggle_switches_and_persists(page: Page) -> None:
    seen = watch(page)
    page.goto("/")
    html = page.locator("html")
    light = _background(page)
    expect(html).not_to_have_attribute("data-theme", "dark")
    page.locator("#theme-toggle").click()
    expect(html).to_have_attribute("data-theme", "dark")
    dark = _background(page)
    assert dark != light

    page.reload()
    expect(html).to_have_attribute("data-theme", "dark")
    assert _background(page) == dark
    page.goto("/trending")
    expect(html).to_have_attribute("data-theme", "dark")
    page.goto("/")
    expect(page.locator("ol.papers > li.paper")).to_have_count(29)
    shoot(page, "home-dark.png")

    page.locator("#theme-toggle").click()
    expect(html).to_have_attribute("data-theme", "light")
    page.reload()
    expect(html).to_have_attribute("data-theme", "light")
    assert _background(page) == light
    assert seen.csp_violations() == [] and seen.page_errors == []


def test_dark_system_setting_is_followed_and_overridable(browser: Browser, site: Site) -> None:
    ctx = browser.new_context(base_url=site.base, viewport=DESKTOP, color_scheme="dark")
    try:
        page = ctx.new_page()
        page.goto("/")
        html = page.locator("html")
        dark = _background(page)
        page.locator("#theme-toggle").click()  # the system says dark: the first click goes light
        expect(html).to_have_attribute("data-theme", "light")
        assert _background(page) != dark
    finally:
        ctx.close()


# --- security in the browser ----------------------------------------------------------------------


def _assert_no_script_ran(page: Page, seen: Watch) -> None:
    assert page.evaluate("typeof window.__xss") == "undefined"
    assert seen.dialogs == []
    assert page.locator("main img[src='x'], main script, main svg[onload]").count() == 0


def test_markup_in_papers_and_comments_never_runs(page: Page, site: Site) -> None:
    seen = watch(page)
    sign_up(page, site, "mallory")

    page.goto(f"/papers/{XSS_ID}")
    expect(page.locator("h1")).to_have_text(XSS_TITLE)
    expect(page.locator(".paper-page .authors")).to_contain_text(IMG_PAYLOAD)
    expect(page.locator(".abstract-full p").first).to_contain_text(SCRIPT_PAYLOAD)
    _assert_no_script_ran(page, seen)

    comment = f'{IMG_PAYLOAD}\n{SCRIPT_PAYLOAD}\n{SVG_PAYLOAD}\n<a href="javascript:window.__xss=1">x</a>'
    page.fill("#comment-body", comment)
    page.get_by_role("button", name="Post comment").click()
    expect(page.locator(".notice")).to_have_text("Your comment is saved.")
    body = page.locator("article.comment .comment-body")
    expect(body).to_contain_text(IMG_PAYLOAD)
    expect(body).to_contain_text(SCRIPT_PAYLOAD)
    assert body.locator("a").count() == 0
    page.reload()
    _assert_no_script_ran(page, seen)

    # The same text on the list of its day, in search results (with highlights) and in the feeds' HTML.
    page.goto(f"/papers?date={XSS_DAY}")
    row = paper_row(page, XSS_ID)
    expect(row.locator(".title")).to_have_text(XSS_TITLE)
    expect(row.locator(".meta")).to_contain_text(SCRIPT_PAYLOAD)  # the submitter's full name
    _assert_no_script_ran(page, seen)

    page.goto("/search?q=sanitizer+onerror+script+window")
    result = page.locator(f'li.result:has(a[href="/papers/{XSS_ID}"])')
    expect(result).to_have_count(1)
    assert result.locator("mark").count() >= 3
    expect(result.locator(".title")).to_have_text(XSS_TITLE)
    _assert_no_script_ran(page, seen)

    page.goto(f"/papers/{XSS_ID}/card.svg")
    assert page.evaluate("typeof window.__xss") == "undefined"
    assert seen.dialogs == [] and seen.page_errors == []


def test_upvote_post_without_csrf_token_is_refused(page: Page, site: Site) -> None:
    sign_up(page, site, "csrfcheck")
    page.goto(f"/papers/{TOP}")
    post = """async ([url, token]) => {
        const headers = {"Accept": "application/json"};
        if (token !== null) headers["X-CSRF-Token"] = token;
        const response = await fetch(url, {method: "POST", headers, credentials: "same-origin"});
        return [response.status, await response.text()];
    }"""
    url = f"/papers/{TOP}/upvote"
    status, _ = page.evaluate(post, [url, None])
    assert status == 403
    status, _ = page.evaluate(post, [url, "not-the-token"])
    assert status == 403
    # A plain form post without the field is refused too.
    status = page.evaluate(
        """async (url) => (await fetch(url, {method: "POST", body: new URLSearchParams({x: "1"}),
                                           credentials: "same-origin"})).status""",
        url,
    )
    assert status == 403
    page.reload()
    expect(page.locator(".actions .count")).to_have_text("64")
    # With the page's token the same request is accepted (so the 403s above were the token's doing).
    token = page.locator(".actions form[data-vote] input[name=csrf_token]").input_value()
    status, body = page.evaluate(post, [url, token])
    assert status == 200 and '"upvotes":65' in body.replace(" ", "")
    status, body = page.evaluate(post, [url, token])
    assert status == 200 and '"upvotes":64' in body.replace(" ", "")


def test_no_csp_violations_on_the_main_pages(page: Page, site: Site) -> None:
    seen = watch(page)
    sign_up(page, site, "cspcheck")
    for path in (
        "/",
        f"/papers?date={DAY}",
        "/papers?week=2024-W43",
        "/trending",
        "/search",
        "/search?q=contrastive+loss",
        f"/papers/{TOP}",
        "/submit",
        "/account",
        "/help",
        "/login",
        "/signup",
        "/papers/9999.99999",
    ):
        page.goto(path)
        page.wait_for_load_state("load")
    assert seen.csp_violations() == [], seen.csp_violations()
    assert seen.page_errors == []


def test_api_docs_render_without_csp_violations(page: Page) -> None:
    seen = watch(page)
    page.goto("/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Paperboy")
    expect(page.locator(".swagger-ui .opblock").first).to_be_visible()
    shoot(page, "docs-api.png")
    assert seen.csp_violations() == [], seen.csp_violations()
    assert seen.page_errors == []


# --- submitting (last: it changes which day the home page shows) ----------------------------------


def test_submit_by_arxiv_id_lands_on_the_paper_and_todays_list(page: Page, site: Site) -> None:
    seen = watch(page)
    page.goto("/submit")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fsubmit$"))
    sign_up(page, site, "submitter")
    page.locator('nav[aria-label="Main"]').get_by_role("link", name="Submit").click()
    expect(page).to_have_url(re.compile(r"/submit$"))
    expect(page.locator("h1")).to_have_text("Submit a paper")
    shoot(page, "submit.png")

    # A malformed id is explained on the form.
    page.fill("#paper", "not an id")
    page.get_by_role("button", name="Submit", exact=True).click()
    expect(page.locator("#paper-error")).to_contain_text("is not an arXiv id")

    site.arxiv.clear_log()
    page.fill("#paper", f"https://arxiv.org/abs/{SUBMITTED}")
    page.get_by_role("button", name="Submit", exact=True).click()
    expect(page).to_have_url(re.compile(rf"/papers/{SUBMITTED}\?notice=submitted$"))
    expect(page.locator("h1")).to_have_text(SUBMITTED_TITLE)
    expect(page.locator(".notice")).to_have_text("Thanks! The paper is on today's list.")
    expect(page.locator(".paper-page .authors")).to_have_text("Caprice Stanley, Tobias Windisch")
    assert [r.params.get("id_list") for r in site.arxiv.logged("/api/query")] == [SUBMITTED]

    today = datetime.now(UTC).date().isoformat()
    page.goto(f"/papers?date={today}")
    row = paper_row(page, SUBMITTED)
    expect(row.locator(".title")).to_have_text(SUBMITTED_TITLE)
    expect(row.locator(".meta")).to_contain_text("submitted by")
    page.goto("/")
    expect(page.locator("ol.papers > li.paper")).to_have_count(1)
    expect(paper_row(page, SUBMITTED)).to_be_visible()

    # A paper listed before is not listed again: the form leads to its day, at the paper.
    page.goto("/submit")
    page.fill("#paper", f"{TOP}v2")
    page.get_by_role("button", name="Submit", exact=True).click()
    expect(page).to_have_url(re.compile(rf"/papers\?date=2024-10-25&notice=already-submitted#paper-{TOP}$"))
    expect(page.locator(".notice")).to_contain_text("That paper was submitted before")
    page.goto("/")
    expect(page.locator("ol.papers > li.paper")).to_have_count(1)
    assert seen.csp_violations() == [] and seen.page_errors == []


# --- the personal library and recommendations ------------------------------------------------------------


def test_import_a_library_get_recommendations_say_less_like_this_and_export(
    page: Page, site: Site, tmp_path: Path
) -> None:
    seen = watch(page)
    sign_up(page, site, "zoe")
    with site.sessions() as session:
        picked = list(
            session.scalars(select(Paper).where(Paper.arxiv_id.like("2410.%")).order_by(Paper.id).limit(3))
        )
    assert picked
    bib = tmp_path / "zotero.bib"
    bib.write_text(
        "\n".join(
            f"@article{{z{n}, title = {{{p.title}}}, eprint = {{{p.arxiv_id}}}, archivePrefix = {{arXiv}}}}"
            for n, p in enumerate(picked)
        )
        + "\n@misc{gone, title = {A Paper Elsewhere}, abstract = {Diffusion models for images and video.}}\n"
    )
    page.goto("/library")
    shoot(page, "library.png")
    page.set_input_files("#import-file", str(bib))
    page.get_by_role("button", name="Import", exact=True).click()
    expect(page.locator("h1")).to_have_text("Imported into Reading list")
    expect(page.locator("table.import-report tbody tr")).to_have_count(len(picked) + 1)
    expect(page.locator(".page-head")).to_contain_text(
        f"{len(picked)} matched library papers, 1 kept as seeds"
    )
    shoot(page, "import-report.png")
    page.get_by_role("link", name="See your recommendations").click()
    rows = page.locator("li.recommendation")
    expect(rows.first).to_be_visible()
    expect(rows.first.locator(".reasons")).to_contain_text("Close to “")
    first = rows.first.get_attribute("id")
    shoot(page, "for-you.png")
    rows.first.get_by_role("button", name="Less like this").click()
    expect(page.locator("div.notice")).to_contain_text("fewer papers like this")
    expect(page.locator(f'li.recommendation[id="{first}"]')).to_have_count(0)
    with page.expect_download() as download:
        page.goto("/library")
        page.get_by_role("link", name="BibTeX").first.click()
    exported = Path(download.value.path()).read_text()
    assert all(p.arxiv_id in exported for p in picked) and "A Paper Elsewhere" in exported
    page.goto(f"/papers/{picked[0].arxiv_id}")
    library = page.locator("#library")
    expect(library.get_by_role("button", name="Saved ✓")).to_be_visible()
    library.get_by_role("button", name="Mark as read").click()
    expect(page.locator("#library").get_by_role("button", name="Read ✓")).to_be_visible()
    page.locator("#library summary").click()
    page.fill("#note-body", "Compare with the ablation in section 4.")
    page.get_by_role("button", name="Save note").click()
    expect(page.locator("div.notice")).to_contain_text("Your note is saved")
    expect(page.locator("#note-body")).to_have_value("Compare with the ablation in section 4.")
    page.evaluate("window.scrollTo(0, 0)")  # the save redirects to the note's anchor
    shoot(page, "paper-library.png")
    page.goto("/interests")
    expect(page.locator("ol.interests > li").first).to_be_visible()
    expect(page.locator("#signals-title")).to_be_visible()
    shoot(page, "interests.png")
    assert not seen.page_errors and not seen.csp_violations(), (seen.page_errors, seen.console_errors)
