"""Author names as keys: the same person written "Zesen Cheng", "zesen  cheng" or "Zésen Cheng" has one
author page (`/authors/{name}`) and one follow."""

from __future__ import annotations

import re
from urllib.parse import quote

from paperboy.tex import fold, tex_prose

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def name_key(name: str) -> str:
    """The folded name: lower case, no accents, single spaces, no TeX, no control characters (a NUL from
    an address cannot reach the database)."""
    return " ".join(fold(tex_prose(_CONTROL.sub(" ", name))).split())[:300]


def author_path(name: str) -> str:
    """The author page's address, path-encoded (a name may hold a slash or a question mark)."""
    return "/authors/" + quote(" ".join(tex_prose(name).split()), safe="")
