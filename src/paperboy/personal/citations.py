"""Reference files in and out: BibTeX, RIS (what Zotero, Mendeley and Google Scholar export) and CSL-JSON.

Parsing yields `Citation`s with where each came from (line numbers), and a `CitationError` naming the file
format, line and problem when a file cannot be read at all; an entry that can be read but carries nothing to
match on is kept and reported by the importer. Formatting writes the same three formats.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from paperboy.arxiv_ids import NEW_STYLE_ID, OLD_STYLE_ID
from paperboy.search.query import title_key
from paperboy.tex import detex_accents_only

FORMATS = ("bibtex", "ris", "csl-json")
MAX_ENTRIES = 5000
_ARXIV_IN_TEXT = re.compile(
    r"(?:arxiv\.org/(?:abs|pdf)/|arxiv[:\s]\s*|10\.48550/arxiv\.)"
    r"(\d{4}\.\d{4,5}|[a-z][a-z\-]*(?:\.[A-Z]{2})?/\d{7})(?:v\d+)?",
    re.IGNORECASE,
)
_DOI = re.compile(r"\b(10\.\d{4,9}/[^\s\"<>{}]+)", re.IGNORECASE)


class CitationError(ValueError):
    """The file cannot be read; the message names the format and the line."""


@dataclass(frozen=True)
class Citation:
    """One reference, in the fields the three formats share."""

    title: str
    authors: tuple[str, ...] = ()
    year: int | None = None
    venue: str | None = None
    abstract: str = ""
    doi: str | None = None
    arxiv_id: str | None = None
    url: str | None = None
    entry_type: str = "article"
    line: int = 0
    """Where the entry starts in its file (1-based; 0 when not from a file)."""
    key: str | None = None
    """The citation key the file gave it (BibTeX), or its id (CSL-JSON)."""
    extra: dict[str, str] = field(default_factory=dict)


def detect_format(text: str, filename: str = "") -> str:
    """bibtex, ris or csl-json, from the file's name or, failing that, its first characters."""
    lowered = filename.lower()
    if lowered.endswith((".bib", ".bibtex")):
        return "bibtex"
    if lowered.endswith(".ris"):
        return "ris"
    if lowered.endswith(".json"):
        return "csl-json"
    head = text.lstrip("\ufeff \t\r\n")[:200]
    if head.startswith(("[", "{")):
        return "csl-json"
    if re.match(r"^[A-Z][A-Z0-9]  -", head):
        return "ris"
    if head.startswith(("@", "%")) or "@" in head:
        return "bibtex"
    raise CitationError(
        f"{filename or 'the file'}: not BibTeX, RIS or CSL-JSON (it starts with {head[:40]!r})"
    )


def parse(text: str, format: str, filename: str = "file") -> list[Citation]:
    parsers = {"bibtex": parse_bibtex, "ris": parse_ris, "csl-json": parse_csl_json}
    if format not in parsers:
        raise CitationError(f"unknown format {format!r}: use one of {', '.join(FORMATS)}")
    found = parsers[format](text, filename)
    if len(found) > MAX_ENTRIES:
        raise CitationError(
            f"{filename}: {len(found)} entries; at most {MAX_ENTRIES} can be imported at once"
        )
    return found


# --- identifiers ------------------------------------------------------------------------------------------


def find_arxiv_id(*texts: str | None) -> str | None:
    """An arXiv id in an eprint field, an arXiv URL, an arXiv DOI or "arXiv:…" text."""
    for text in texts:
        if not text:
            continue
        bare = text.strip()
        if NEW_STYLE_ID.match(bare) or OLD_STYLE_ID.match(bare):
            return re.sub(r"v\d+$", "", bare)
        found = _ARXIV_IN_TEXT.search(text)
        if found:
            return found.group(1)
    return None


def clean_doi(value: str | None) -> str | None:
    if not value:
        return None
    found = _DOI.search(value)
    return found.group(1).rstrip(".,;").lower() if found else None


# --- BibTeX ----------------------------------------------------------------------------------------------

_LATEX_COMMAND = re.compile(r"\\(?:emph|textit|textbf|textsc|mathrm|text)\s*\{([^{}]*)\}")


def _untex(value: str) -> str:
    """BibTeX field text as plain text: accents composed (tex.py, as for arXiv's own TeX), braces and
    simple commands removed."""
    text = re.sub(r"\\textbackslash(?:\{\}|\b)", "\x00", value)  # a literal backslash, kept aside
    text = detex_accents_only(text)
    for _ in range(3):
        text = _LATEX_COMMAND.sub(r"\1", text)
    for escaped, plain in (("\\&", "&"), ("\\%", "%"), ("\\_", "_"), ("\\$", "$"), ("\\#", "#"), ("~", " ")):
        text = text.replace(escaped, plain)
    text = text.replace("--", "\u2013")
    text = re.sub(r"(?<!\\)[{}]", "", text).replace("\\{", "{").replace("\\}", "}").replace("\x00", "\\")
    return " ".join(text.split())


def _bib_authors(value: str) -> tuple[str, ...]:
    names = []
    for part in re.split(r"\s+and\s+", value.strip()):
        name = _untex(part)
        if not name or name.lower() == "others":
            continue
        if "," in name:  # "Last, First" (or "Last, Jr, First")
            pieces = [p.strip() for p in name.split(",")]
            name = " ".join([*pieces[2:], pieces[-1] if len(pieces) > 1 else "", pieces[0]]).strip()
            name = " ".join(name.split())
        names.append(name)
    return tuple(names)


class _BibReader:
    def __init__(self, text: str, filename: str):
        self.text, self.filename, self.at = text, filename, 0
        self.strings: dict[str, str] = {}

    def line(self, position: int | None = None) -> int:
        return self.text.count("\n", 0, self.at if position is None else position) + 1

    def fail(self, message: str, position: int | None = None) -> CitationError:
        return CitationError(f"{self.filename}, line {self.line(position)}: {message}")

    def skip_space(self) -> None:
        while self.at < len(self.text) and self.text[self.at].isspace():
            self.at += 1

    def braced(self, opening: int) -> str:
        depth, start = 0, self.at
        close = "}" if self.text[self.at] == "{" else ")"
        while self.at < len(self.text):
            char = self.text[self.at]
            if char == "\\":
                self.at += 2
                continue
            if char in "{(" and (char == "{" or close == ")"):
                depth += 1
            elif char == close or (char == "}" and close == "}"):
                depth -= 1
                if depth == 0:
                    self.at += 1
                    return self.text[start + 1 : self.at - 1]
            self.at += 1
        raise self.fail("this entry is not closed (a brace is missing)", opening)

    def value(self, opening: int) -> str:
        """A field value: {…}, "…", a number or @string names, joined by #."""
        parts = []
        while True:
            self.skip_space()
            if self.at >= len(self.text):
                raise self.fail("a field has no value", opening)
            char = self.text[self.at]
            if char == "{":
                parts.append(self.braced(opening))
            elif char == '"':
                end = self.at + 1
                depth = 0
                while end < len(self.text) and not (self.text[end] == '"' and depth == 0):
                    depth += {"{": 1, "}": -1}.get(self.text[end], 0)
                    end += 1
                if end >= len(self.text):
                    raise self.fail("a quoted value is not closed", self.at)
                parts.append(self.text[self.at + 1 : end])
                self.at = end + 1
            else:
                match = re.compile(r"[A-Za-z0-9_:.\-+/]+").match(self.text, self.at)
                if not match:
                    raise self.fail(f"unexpected {char!r} where a field value should be")
                word = match.group(0)
                parts.append(self.strings.get(word.lower(), word))
                self.at = match.end()
            self.skip_space()
            if self.at < len(self.text) and self.text[self.at] == "#":
                self.at += 1
                continue
            return "".join(parts)

    def entries(self) -> list[Citation]:
        found: list[Citation] = []
        while True:
            start = self.text.find("@", self.at)
            if start < 0:
                return found
            self.at = start + 1
            match = re.compile(r"\s*([A-Za-z]+)\s*([{(])").match(self.text, self.at)
            if not match:
                continue  # an @ in free text between entries (BibTeX ignores it too)
            kind = match.group(1).lower()
            self.at = match.end() - 1
            if kind in ("comment", "preamble"):
                self.braced(start)
                continue
            body_start = self.at
            if kind == "string":
                body = self.braced(start)
                name, _, value = body.partition("=")
                sub = _BibReader(value, self.filename)
                sub.strings = self.strings
                self.strings[name.strip().lower()] = sub.value(0) if value.strip() else ""
                continue
            self.at = body_start + 1
            key_match = re.compile(r"\s*([^,\s}]*)\s*,").match(self.text, self.at)
            if not key_match:
                raise self.fail(f"@{kind}: the entry has no citation key before its first comma", start)
            key = key_match.group(1)
            self.at = key_match.end()
            fields: dict[str, str] = {}
            while True:
                self.skip_space()
                if self.at >= len(self.text):
                    raise self.fail(f"@{kind}{{{key}: this entry is not closed (a brace is missing)", start)
                if self.text[self.at] in "})":
                    self.at += 1
                    break
                name_match = re.compile(r"([A-Za-z][A-Za-z0-9_\-:.]*)\s*=").match(self.text, self.at)
                if not name_match:
                    raise self.fail(
                        f"@{kind}{{{key}: expected a field name, found {self.text[self.at : self.at + 20]!r}"
                    )
                self.at = name_match.end()
                fields[name_match.group(1).lower()] = self.value(start)
                self.skip_space()
                if self.at < len(self.text) and self.text[self.at] == ",":
                    self.at += 1
            found.append(_bib_citation(kind, key, fields, self.line(start)))


def _year(value: str | None) -> int | None:
    found = re.search(r"\b(1[5-9]\d\d|2\d\d\d)\b", value or "")
    return int(found.group(1)) if found else None


def _bib_citation(kind: str, key: str, fields: dict[str, str], line: int) -> Citation:
    raw = {"url", "doi", "eprint"}  # identifiers: taken as written (a URL may hold ~ or %)
    text = {name: value.strip() if name in raw else _untex(value) for name, value in fields.items()}
    eprint = text.get("eprint") if text.get("archiveprefix", "arxiv").lower() == "arxiv" else None
    arxiv_id = find_arxiv_id(
        eprint,
        text.get("url"),
        text.get("doi"),
        text.get("journal"),
        text.get("note"),
        text.get("howpublished"),
    )
    return Citation(
        title=text.get("title", ""),
        authors=_bib_authors(fields.get("author", "")),
        year=_year(text.get("year") or text.get("date")),
        venue=text.get("journal") or text.get("booktitle") or None,
        abstract=text.get("abstract", ""),
        doi=clean_doi(text.get("doi")),
        arxiv_id=arxiv_id,
        url=text.get("url") or None,
        entry_type=kind,
        line=line,
        key=key,
    )


def parse_bibtex(text: str, filename: str = "file.bib") -> list[Citation]:
    return _BibReader(text, filename).entries()


# --- RIS -------------------------------------------------------------------------------------------------

_RIS_LINE = re.compile(r"^([A-Z][A-Z0-9])  -(?: (.*))?$")
_RIS_TYPES = {
    "JOUR": "article",
    "CONF": "inproceedings",
    "CPAPER": "inproceedings",
    "BOOK": "book",
    "CHAP": "incollection",
    "THES": "phdthesis",
    "RPRT": "techreport",
    "UNPB": "unpublished",
    "ELEC": "misc",
    "GEN": "misc",
    "PREPRINT": "misc",
}


def parse_ris(text: str, filename: str = "file.ris") -> list[Citation]:
    found: list[Citation] = []
    current: dict[str, list[str]] | None = None
    start = 0
    last_tag = None
    for number, raw in enumerate(text.lstrip("\ufeff").splitlines(), start=1):
        line = raw.rstrip()
        if not line.strip():
            continue
        match = _RIS_LINE.match(line)
        if not match:
            if current is not None and last_tag:  # a wrapped continuation of the previous value
                current[last_tag][-1] += " " + line.strip()
                continue
            raise CitationError(
                f"{filename}, line {number}: not an RIS line (expected 'XX  - value'): {line[:60]!r}"
            )
        tag, value = match.group(1), (match.group(2) or "").strip()
        if tag == "TY":
            if current is not None:
                raise CitationError(
                    f"{filename}, line {number}: a new entry starts before the one at line {start} ends (ER  - is missing)"
                )
            current, start = {"TY": [value]}, number
        elif current is None:
            raise CitationError(
                f"{filename}, line {number}: {tag} outside an entry (each entry starts with 'TY  - ')"
            )
        elif tag == "ER":
            found.append(_ris_citation(current, start))
            current = None
        else:
            current.setdefault(tag, []).append(value)
        last_tag = tag if tag not in ("TY", "ER") else None
    if current is not None:
        raise CitationError(
            f"{filename}, line {start}: the entry that starts here has no end (ER  - is missing)"
        )
    return found


def _ris_citation(tags: dict[str, list[str]], line: int) -> Citation:
    def first(*names: str) -> str:
        for name in names:
            if tags.get(name):
                return tags[name][0]
        return ""

    authors = tuple(
        " ".join(reversed([p.strip() for p in name.split(",", 1)])) if "," in name else name
        for name in (*tags.get("AU", []), *tags.get("A1", []))
    )
    urls = tags.get("UR", [])
    notes = " ".join(tags.get("N1", []) + tags.get("M3", []) + tags.get("JO", []) + tags.get("T2", []))
    doi = clean_doi(first("DO")) or clean_doi(" ".join(urls))
    return Citation(
        title=first("TI", "T1", "CT"),
        authors=authors,
        year=_year(first("PY", "Y1", "DA")),
        venue=first("T2", "JO", "JF", "BT") or None,
        abstract=" ".join(tags.get("AB", []) + tags.get("N2", [])),
        doi=doi,
        arxiv_id=find_arxiv_id(*urls, first("DO"), notes),
        url=urls[0] if urls else None,
        entry_type=_RIS_TYPES.get(first("TY"), "misc"),
        line=line,
        key=first("ID") or None,
    )


# --- CSL-JSON --------------------------------------------------------------------------------------------

_CSL_TYPES = {
    "article-journal": "article",
    "paper-conference": "inproceedings",
    "book": "book",
    "chapter": "incollection",
    "thesis": "phdthesis",
    "report": "techreport",
    "article": "misc",
}


def parse_csl_json(text: str, filename: str = "file.json") -> list[Citation]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CitationError(
            f"{filename}, line {exc.lineno} column {exc.colno}: not valid JSON ({exc.msg})"
        ) from None
    items = data if isinstance(data, list) else data.get("items") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise CitationError(f"{filename}: CSL-JSON is a list of items (or an object with an 'items' list)")
    found = []
    for n, item in enumerate(items):
        if not isinstance(item, dict):
            raise CitationError(f"{filename}: item {n + 1} is not an object")
        found.append(_csl_citation(item, n + 1, filename))
    return found


def _csl_text(item: dict[str, Any], name: str, where: str) -> str:
    value = item.get(name)
    if value is None:
        return ""
    if isinstance(value, (int, float)):
        return str(value)
    if not isinstance(value, str):
        raise CitationError(f"{where}: field {name!r} should be text")
    return " ".join(value.split())


def _csl_citation(item: dict[str, Any], number: int, filename: str) -> Citation:
    where = f"{filename}: item {number}"
    authors = []
    for person in item.get("author") or []:
        if not isinstance(person, dict):
            raise CitationError(f"{where}: each author should be an object with 'family' and 'given'")
        name = person.get("literal") or " ".join(str(person.get(k, "")) for k in ("given", "family")).strip()
        if name:
            authors.append(" ".join(str(name).split()))
    year = None
    issued = item.get("issued")
    if isinstance(issued, dict):
        parts = issued.get("date-parts")
        if isinstance(parts, list) and parts and isinstance(parts[0], list) and parts[0]:
            try:
                year = int(parts[0][0])
            except (TypeError, ValueError):
                year = None
        year = year or _year(str(issued.get("raw", "")))
    url = _csl_text(item, "URL", where) or None
    number_field = _csl_text(item, "number", where)
    doi = clean_doi(_csl_text(item, "DOI", where))
    return Citation(
        title=_csl_text(item, "title", where),
        authors=tuple(authors),
        year=year,
        venue=_csl_text(item, "container-title", where) or None,
        abstract=_csl_text(item, "abstract", where),
        doi=doi,
        arxiv_id=find_arxiv_id(
            number_field, url, doi, _csl_text(item, "note", where), _csl_text(item, "archive_location", where)
        ),
        url=url,
        entry_type=_CSL_TYPES.get(str(item.get("type", "")), "misc"),
        line=number,
        key=str(item["id"]) if item.get("id") is not None else None,
    )


# --- writing ---------------------------------------------------------------------------------------------

_BIB_SPECIAL = re.compile(r"([&%$#_])")


def _bib_escape(value: str) -> str:
    """Text as a BibTeX value that reads back the same: specials and braces escaped."""
    text = value.replace("\\", "\x00")
    text = _BIB_SPECIAL.sub(r"\\\1", text).replace("{", "\\{").replace("}", "\\}")
    return text.replace("\x00", "\\textbackslash{}")


def citation_key(citation: Citation, taken: set[str]) -> str:
    family = citation.authors[0].split()[-1] if citation.authors else "anon"
    word = next((w for w in title_key(citation.title).split() if len(w) > 3), "paper")
    base = re.sub(r"[^a-z0-9]", "", unicodedata.normalize("NFKD", family).lower()) or "anon"
    key = f"{base}{citation.year or ''}{word}"
    unique, n = key, 1
    while unique in taken:
        n += 1
        unique = f"{key}{chr(ord('a') + (n - 2) % 26)}{'' if n < 28 else n}"
    taken.add(unique)
    return unique


def to_bibtex(citations: Iterable[Citation]) -> str:
    taken: set[str] = set()
    blocks = []
    for citation in citations:
        fields: list[tuple[str, str]] = [("title", "{" + _bib_escape(citation.title) + "}")]
        if citation.authors:
            fields.append(("author", " and ".join(_bib_escape(a) for a in citation.authors)))
        if citation.year:
            fields.append(("year", str(citation.year)))
        if citation.venue:
            fields.append(
                ("journal" if citation.entry_type == "article" else "booktitle", _bib_escape(citation.venue))
            )
        if citation.arxiv_id:
            fields += [("eprint", citation.arxiv_id), ("archivePrefix", "arXiv")]
        if citation.doi:
            fields.append(("doi", citation.doi))
        if citation.url:
            fields.append(("url", citation.url))
        if citation.abstract:
            fields.append(("abstract", _bib_escape(citation.abstract)))
        for name, value in sorted(citation.extra.items()):
            fields.append((name, _bib_escape(value)))
        key = citation_key(citation, taken)
        body = ",\n".join(f"  {name} = {{{value}}}" for name, value in fields)
        blocks.append(f"@{citation.entry_type}{{{key},\n{body}\n}}\n")
    return "\n".join(blocks)


_RIS_OUT = {v: k for k, v in reversed(list(_RIS_TYPES.items()))}


def to_ris(citations: Iterable[Citation]) -> str:
    lines = []
    for citation in citations:
        lines.append(f"TY  - {_RIS_OUT.get(citation.entry_type, 'GEN')}")
        lines.append(f"TI  - {citation.title}")
        lines += [f"AU  - {a}" for a in citation.authors]
        if citation.year:
            lines.append(f"PY  - {citation.year}")
        if citation.venue:
            lines.append(f"T2  - {citation.venue}")
        if citation.abstract:
            lines.append(f"AB  - {citation.abstract}")
        if citation.doi:
            lines.append(f"DO  - {citation.doi}")
        url = citation.url or (f"https://arxiv.org/abs/{citation.arxiv_id}" if citation.arxiv_id else None)
        if url:
            lines.append(f"UR  - {url}")
        if citation.arxiv_id:
            lines.append(f"N1  - arXiv:{citation.arxiv_id}")
        lines.append("ER  - ")
        lines.append("")
    return "\r\n".join(lines)


def to_csl_json(citations: Iterable[Citation]) -> str:
    taken: set[str] = set()
    items = []
    reverse_types = {v: k for k, v in reversed(list(_CSL_TYPES.items()))}
    for citation in citations:
        item: dict[str, Any] = {
            "id": citation_key(citation, taken),
            "type": reverse_types.get(citation.entry_type, "article"),
            "title": citation.title,
            "author": [_csl_name(a) for a in citation.authors],
        }
        if citation.year:
            item["issued"] = {"date-parts": [[citation.year]]}
        if citation.venue:
            item["container-title"] = citation.venue
        if citation.abstract:
            item["abstract"] = citation.abstract
        if citation.doi:
            item["DOI"] = citation.doi
        if citation.arxiv_id:
            item["number"] = f"arXiv:{citation.arxiv_id}"
        url = citation.url or (f"https://arxiv.org/abs/{citation.arxiv_id}" if citation.arxiv_id else None)
        if url:
            item["URL"] = url
        items.append(item)
    return json.dumps(items, ensure_ascii=False, indent=2) + "\n"


def _csl_name(name: str) -> dict[str, str]:
    parts = name.rsplit(" ", 1)
    return {"family": parts[-1], "given": parts[0]} if len(parts) == 2 else {"literal": name}


def write(citations: Sequence[Citation], format: str) -> str:
    writers = {"bibtex": to_bibtex, "ris": to_ris, "csl-json": to_csl_json}
    if format not in writers:
        raise CitationError(f"unknown format {format!r}: use one of {', '.join(FORMATS)}")
    return writers[format](citations)


MEDIA_TYPES = {
    "bibtex": ("application/x-bibtex", "bib"),
    "ris": ("application/x-research-info-systems", "ris"),
    "csl-json": ("application/vnd.citationstyles.csl+json", "json"),
}
