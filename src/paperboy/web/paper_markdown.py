"""A paper as Markdown, for machines and for `hf papers read` (Hugging Face serves `/papers/{id}.md`).

The text is what the paper page shows, without HTML: title, authors, dates, links, the community totals,
the abstract with its TeX math as written (`$…$`, which Markdown renderers with math support display),
and the code links. A `<` that could open a tag is written as `&lt;`, so no renderer reads paper text as
HTML.
"""

from __future__ import annotations

import re

from paperboy.db.models import Paper
from paperboy.db.repositories.community import Totals
from paperboy.links import paper_path
from paperboy.tex import detex_accents_only

MEDIA_TYPE = "text/markdown; charset=utf-8"


_TAG_START = re.compile(r"<(?=[A-Za-z/!?])")


def _text(value: str | None) -> str:
    """Paper text on one line, safe in Markdown: a `<` that could open an HTML tag becomes `&lt;` (math
    such as `$a < b$` keeps its sign)."""
    return " ".join(_TAG_START.sub("&lt;", detex_accents_only(value or "")).split())


def paper_markdown(paper: Paper, totals: Totals, site: str) -> str:
    """The whole document, ending with a newline."""
    lines = [f"# {_text(paper.title)}", ""]
    if paper.authors:
        lines += [f"**Authors:** {', '.join(_text(a) for a in paper.authors)}", ""]
    facts = [f"arXiv: [{paper.arxiv_id}](https://arxiv.org/abs/{paper.arxiv_id})"]
    if paper.published_at:
        facts.append(f"Published: {paper.published_at:%Y-%m-%d}")
    if paper.updated_at and paper.published_at and paper.updated_at.date() != paper.published_at.date():
        facts.append(f"Updated: {paper.updated_at:%Y-%m-%d} (v{paper.version})")
    if paper.categories:
        facts.append(f"Categories: {', '.join(paper.categories)}")
    lines += [" · ".join(facts), ""]
    links = [
        f"[Paperboy page]({site}{paper_path(paper.arxiv_id)})",
        f"[arXiv page](https://arxiv.org/abs/{paper.arxiv_id})",
        f"[PDF](https://arxiv.org/pdf/{paper.arxiv_id})",
    ]
    lines += [f"**Links:** {' · '.join(links)}", ""]
    if paper.code_urls:
        lines += ["**Code:** " + " · ".join(f"<{url}>" for url in paper.code_urls), ""]
    if paper.project_page:
        lines += [f"**Project page:** <{paper.project_page}>", ""]
    if paper.keywords:
        lines += [f"**Keywords:** {', '.join(_text(k) for k in paper.keywords)}", ""]
    lines += [f"**Community:** {totals.describe()}", ""]
    if paper.withdrawn:
        lines += ["> This paper was withdrawn by its authors.", ""]
    lines += ["## Abstract", "", _text(paper.abstract), ""]
    if paper.comments:
        lines += ["## arXiv comments", "", _text(paper.comments), ""]
    if paper.journal_ref:
        lines += [f"Journal reference: {_text(paper.journal_ref)}", ""]
    if paper.doi:
        lines += [f"DOI: [{paper.doi}](https://doi.org/{paper.doi})", ""]
    return "\n".join(lines).rstrip() + "\n"
