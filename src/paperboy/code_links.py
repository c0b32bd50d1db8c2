"""Code repositories and project pages mentioned in a paper's own text (abstract, arXiv comments, journal
field, and later comments by its authors), found once at ingest and stored with the paper.

Repositories are GitHub, GitLab, Bitbucket and Hugging Face (models, datasets, spaces), normalized to
`https://host/owner/name` so that `github.com/a/b.git`, `https://www.github.com/a/b/tree/main` and
`http://github.com/a/b.` are one repository. A project page is another address the text presents as one
("project page: …", "website", a `*.github.io` site), never arXiv, a DOI or a repository.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

_URL = re.compile(
    r"(?:https?://|(?<![\w.@/])(?=(?:www\.)?(?:github\.com|gitlab\.com|huggingface\.co|bitbucket\.org)/))"
    r"[^\s<>\"'{}|\\^`]+",
    re.I,
)
_TRAILING = ".,;:!?)]}'\"*"
_URL_HINTS = ("http", "github.com", "gitlab.com", "huggingface.co", "bitbucket.org")
"""What every text _URL matches in contains: most abstracts have none, and the pattern's look-arounds
at every position cost more than the rest of a paper's ingest mapping."""
_CODE_HOSTS = {"github.com", "gitlab.com", "bitbucket.org", "huggingface.co"}
_NOT_REPOSITORIES = {
    "github.com": {
        "features",
        "topics",
        "orgs",
        "sponsors",
        "marketplace",
        "about",
        "pricing",
        "collections",
        "settings",
        "login",
        "join",
        "explore",
        "trending",
        "search",
        "apps",
        "site",
    },
    "huggingface.co": {
        "papers",
        "docs",
        "blog",
        "learn",
        "pricing",
        "login",
        "join",
        "settings",
        "search",
        "collections",
        "posts",
        "tasks",
    },
}
_HF_KINDS = {"datasets", "spaces", "models"}
_PROJECT_WORDS = re.compile(
    r"(project\s*(page|website|site|homepage)|web\s*page|website|homepage|home\s*page|demo|project)\W{0,4}$",
    re.I,
)
_NEVER_PROJECT = ("arxiv.org", "doi.org", "dx.doi.org", "creativecommons.org", "orcid.org", "openreview.net")


@dataclass(frozen=True)
class PaperLinks:
    repositories: tuple[str, ...] = ()
    """Code repositories, in the order the text mentions them."""
    project_page: str | None = None

    @property
    def github(self) -> str | None:
        """The first GitHub repository (the API's `githubRepo`)."""
        return next((r for r in self.repositories if r.startswith("https://github.com/")), None)


def _clean(raw: str) -> str:
    url = raw.rstrip(_TRAILING)
    while url.endswith(")") and url.count("(") < url.count(")"):
        url = url[:-1]
    return url if "://" in url else f"https://{url}"


def repository(url: str) -> str | None:
    """The normalized repository a URL points into, or None when it is not a code repository."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower().removeprefix("www.")
    if host not in _CODE_HOSTS:
        return None
    segments = [s for s in parts.path.split("/") if s]
    if host == "huggingface.co" and segments and segments[0] in _HF_KINDS:
        kind, segments = segments[0], segments[1:]
        prefix = "" if kind == "models" else f"{kind}/"
    else:
        prefix = ""
    if len(segments) < 2 or segments[0].lower() in _NOT_REPOSITORIES.get(host, set()):
        return None
    owner, name = segments[0], segments[1].removesuffix(".git")
    if host == "gitlab.com" and len(segments) > 2 and segments[2] != "-":
        name = "/".join(s.removesuffix(".git") for s in segments[1:3])  # group/subgroup/project
    if not re.fullmatch(r"[\w.-]+", owner) or not re.fullmatch(r"[\w./-]+", name):
        return None
    return f"https://{host}/{prefix}{owner}/{name}"


def _project_page(url: str, before: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    if not host or any(host == h or host.endswith(f".{h}") for h in _NEVER_PROJECT):
        return False
    return host.endswith(".github.io") or bool(_PROJECT_WORDS.search(before[-40:]))


def find_links(*texts: str | None) -> PaperLinks:
    """Repositories and the project page in the given texts (abstract, comments, journal field, …)."""
    repositories: dict[str, None] = {}
    project: str | None = None
    for text in texts:
        lowered = (text or "").lower()
        if not any(hint in lowered for hint in _URL_HINTS):
            continue
        for match in _URL.finditer(text or ""):
            url = _clean(match.group(0))
            found = repository(url)
            if found is not None:
                repositories.setdefault(found, None)
            elif project is None and _project_page(url, text[: match.start()] if text else ""):
                project = url.rstrip("/")
    return PaperLinks(tuple(repositories), project)
