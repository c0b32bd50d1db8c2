"""Papers and daily entries in the Hugging Face Papers API shape (field names and value formats), so
existing clients work. Fields Paperboy keeps from a Hugging Face import are served back as given."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from paperboy.db.models import DailyEntry, Paper
from paperboy.db.repositories.code import CodeLink
from paperboy.db.repositories.community import Totals
from paperboy.feed.daily import FeedItem
from paperboy.links import paper_path

AVATAR_URL = "/static/avatar.svg"


def iso_millis(value: datetime | None) -> str | None:
    """2024-10-25T00:57:09.392Z, as the Hugging Face API writes dates."""
    if value is None:
        return None
    return value.isoformat(timespec="milliseconds") + "Z"


def _stable_id(*numbers: int) -> str:
    """A 24-hex-digit id like the API's object ids, derived from our own keys (stable across calls)."""
    return "".join(f"{n:012x}" for n in numbers)[-24:].rjust(24, "0")


class PaperFields(Protocol):
    """What the `paper` object is made of: a stored Paper, or a search hit's PaperContent."""

    @property
    def id(self) -> int: ...
    @property
    def arxiv_id(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def abstract(self) -> str: ...
    @property
    def published_at(self) -> datetime | None: ...
    @property
    def project_page(self) -> str | None: ...
    @property
    def authors(self) -> Sequence[str]: ...
    @property
    def code_urls(self) -> Sequence[str]: ...


def _extra(entry: DailyEntry | None) -> dict[str, Any]:
    return (entry.extra or {}) if entry is not None else {}


def authors_json(paper: PaperFields, entry: DailyEntry | None = None) -> list[dict[str, Any]]:
    imported = _extra(entry).get("paper", {}).get("authors")
    if isinstance(imported, list):
        visible = [a for a in imported if isinstance(a, dict) and not a.get("hidden")]
        if [a.get("name") for a in visible] == list(paper.authors):
            return imported
    return [
        {"_id": _stable_id(paper.id, position), "name": name, "hidden": False}
        for position, name in enumerate(paper.authors)
    ]


def paper_json(
    paper: PaperFields,
    totals: Totals,
    entry: DailyEntry | None = None,
    code: Sequence[CodeLink] | None = None,
) -> dict[str, Any]:
    """The `paper` object: id, authors, publishedAt, title, summary, upvotes, discussionId, and the code
    links when the paper names any (`githubRepo`, `githubStars` when known, `projectPage`)."""
    extra_paper = _extra(entry).get("paper", {})
    data: dict[str, Any] = {
        "id": paper.arxiv_id,
        "authors": authors_json(paper, entry),
        "publishedAt": iso_millis(paper.published_at),
        "title": paper.title,
        "summary": paper.abstract,
        "upvotes": totals.upvotes,
        "discussionId": extra_paper.get("discussionId") or _stable_id(paper.id, 0),
    }
    links = list(code) if code is not None else [CodeLink(url) for url in paper.code_urls or ()]
    github = next((link for link in links if link.host == "github.com"), None)
    if github is not None:
        data["githubRepo"] = github.url
        if github.stars is not None:
            data["githubStars"] = github.stars
    if links:
        data["codeRepos"] = [link.url for link in links]
    if paper.project_page:
        data["projectPage"] = paper.project_page
    keywords = getattr(paper, "keywords", None)  # stored papers have them; search hits do not carry them
    if keywords:  # the API's name; ours are extracted from the paper's own text, not generated
        data["ai_keywords"] = list(keywords)
    return data


def paper_details_json(
    paper: Paper, totals: Totals, code: Sequence[CodeLink], base_url: str
) -> dict[str, Any]:
    """`GET /api/papers/{id}`: the paper object plus what Paperboy knows beyond it."""
    data = paper_json(paper, totals, code=code)
    data.update(
        {
            "numComments": totals.comments,
            "categories": list(paper.categories),
            "primaryCategory": paper.primary_category,
            "updatedAt": iso_millis(paper.updated_at),
            "version": paper.version,
            "withdrawn": paper.withdrawn,
            "url": f"{base_url}{paper_path(paper.arxiv_id)}",
            "arxivUrl": f"https://arxiv.org/abs/{paper.arxiv_id}",
            "pdfUrl": f"https://arxiv.org/pdf/{paper.arxiv_id}",
        }
    )
    return data


def submitter_json(entry: DailyEntry) -> dict[str, Any]:
    imported = _extra(entry).get("submittedBy")
    if isinstance(imported, dict):
        return imported
    return {
        "avatarUrl": AVATAR_URL,
        "fullname": entry.submitter_fullname or entry.submitter_name or "",
        "name": entry.submitter_name or "",
        "type": "user",
        "isPro": False,
        "isHf": False,
        "isMod": False,
        "followerCount": 0,
    }


def daily_entry_json(item: FeedItem, base_url: str) -> dict[str, Any]:
    """One `/api/daily_papers` element."""
    entry, paper = item.entry, item.paper
    extra = _extra(entry)
    data: dict[str, Any] = {
        "paper": paper_json(paper, item.totals, entry, item.code),
        "publishedAt": iso_millis(entry.submitted_at),
        "title": paper.title,
        "thumbnail": extra.get("thumbnail") or f"{base_url}{paper_path(paper.arxiv_id)}/card.svg",
        "numComments": item.comments,
        "submittedBy": submitter_json(entry),
    }
    if "mediaUrls" in extra:
        data["mediaUrls"] = extra["mediaUrls"]
    return data
