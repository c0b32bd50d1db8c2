"""Where things live on the site, built in one place so that every id is path-encoded.

Paper ids are validated at ingest (arxiv_ids.py), and encoded here too: a character that a path or a
query string gives a meaning to ('?', '#', '%', spaces) can never turn a link to a paper into a link to
something else (say, a form that acts on the viewer's account).
"""

from __future__ import annotations

from urllib.parse import quote


def paper_path(arxiv_id: str) -> str:
    """/papers/<id>, with the id path-encoded ('/' stays: old-style arXiv ids contain one)."""
    return f"/papers/{quote(arxiv_id, safe='/')}"
