"""Math and TeX as real arXiv metadata writes them, on the page, in the tab title and in the Markdown; and
highlighting or shortening that never splits a formula. The papers are real: arXiv's own metadata of
0704.0501 (Schr\\"odinger, {\\it tritronqu\\'ee}, Painlev\\'e, \\frac{\\epsilon^2}2), math-ph/0509034
($\\gamma_n $ with a space before the closing dollar) and 0704.0295 (display math), from the starter corpus."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from paperboy.config import Settings
from paperboy.ingest.runner import run_ingest
from paperboy.ingest.sources.files import JsonLinesSource
from paperboy.tex import tex_plain, tex_prose
from paperboy.web.render import rich_text, short_text
from web_support import make_client

REAL = ("0704.0501", "math-ph/0509034", "0704.0295")


@pytest.fixture
def client(
    settings: Settings, sessions: sessionmaker[Session], shared_data: Path, tmp_path: Path
) -> TestClient:
    chosen = tmp_path / "papers.jsonl"
    with (shared_data / "arxiv" / "arxiv_browse_abs.jsonl").open(encoding="utf-8") as lines:
        records = [line for line in lines if json.loads(line).get("id") in REAL]
    assert len(records) == 3
    chosen.write_text("".join(records), encoding="utf-8")
    summary = run_ingest(sessions, JsonLinesSource(chosen))
    assert summary.rejected == 0
    return make_client(settings)


def test_tex_accents_and_fonts_in_titles_and_on_the_tab(client: TestClient) -> None:
    page = client.get("/papers/0704.0501").text
    title = re.search(r"<title>(.*?)</title>", page, re.S)
    assert title is not None
    assert title.group(1).startswith(
        "On universality of critical behaviour in the focusing nonlinear Schrödinger"
    )
    assert "tritronquée solution to the Painlevé-I equation · Paperboy" in title.group(1)
    heading = re.search(r"<h1[^>]*>(.*?)</h1>", page, re.S)
    assert heading is not None and "Schrödinger" in heading.group(1) and "{" not in heading.group(1)
    assert "\\it" not in heading.group(1) and "tritronquée" in heading.group(1)
    assert "\\frac" not in page.split('<h2 id="abstract-title">')[1].split("</section>")[0]
    assert "<mfrac>" in page
    markdown = client.get("/papers/0704.0501.md").text
    assert markdown.startswith(
        "# On universality of critical behaviour in the focusing nonlinear Schrödinger"
    )


def test_a_space_before_the_closing_dollar_is_still_math(client: TestClient) -> None:
    page = client.get("/papers/math-ph/0509034").text
    assert "$\\gamma_n $" not in page and "<mi>\u03b3</mi>" in page


def test_display_math_has_its_own_box(client: TestClient) -> None:
    page = client.get("/papers/0704.0295").text
    assert 'display="block"' in page and "$$" not in page
    assert '<span class="math-display"><math' in page, "a box of its own, which scrolls on a phone"
    assert "<mi>\\R</mi>" not in page and "\u211d" in page, "the authors' \\R macro is the set of reals"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (r"Schr\"odinger and Painlev\'e {\it tritronqu\'ee}", "Schrödinger and Painlevé tritronquée"),
        (r"$\alpha$-divergence of $\mathcal{O}(n)$ models", "\u03b1-divergence of O(n) models"),
        ("A plain title", "A plain title"),
    ],
)
def test_plain_titles(text: str, shown: str) -> None:
    assert tex_plain(text) == shown


def test_prices_stay_prices_and_tex_outside_math_is_prose() -> None:
    assert str(rich_text("costs $5 and $6 each")) == "costs $5 and $6 each"
    assert str(rich_text("pay $5 $ now")) == "pay $5 $ now"
    assert tex_prose(r"{\bf Bold} move") == "Bold move"


def test_highlighting_and_shortening_never_split_a_formula() -> None:
    shown = str(rich_text(r"we bound $\epsilon_{divergence}$ of the divergence", frozenset({"diverg"})))
    assert shown.count("<mark>") == 1 and "<math" in shown and "$" not in shown
    text = "word " * 10 + r"$\sum_{i=1}^n x_i$ and more words after the formula"
    cut = short_text(text, 60)
    assert cut.count("$") % 2 == 0 and cut.endswith("…")
