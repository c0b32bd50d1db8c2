"""The field normalizers every source shares, checked against real arXiv and Hugging Face metadata."""

from __future__ import annotations

import json
import unicodedata
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from paperboy.arxiv_ids import is_arxiv_id, parse_arxiv_id
from paperboy.db.records import RecordError
from paperboy.ingest.normalize import (
    clean_abstract,
    clean_authors,
    clean_categories,
    clean_text,
    limit_length,
    looks_withdrawn,
    parse_datetime,
    parse_version,
    split_authors,
)


@cache
def _browse_records(shared: Path) -> dict[str, dict[str, Any]]:
    with (shared / "arxiv" / "arxiv_browse_abs.jsonl").open(encoding="utf-8") as handle:
        return {record["id"]: record for record in map(json.loads, handle)}


@pytest.fixture
def browse(shared_data: Path) -> dict[str, dict[str, Any]]:
    """arxiv_browse_abs.jsonl by arXiv id (real .abs metadata)."""
    return _browse_records(shared_data)


@pytest.fixture
def daily_entries(shared_data: Path) -> list[dict[str, Any]]:
    """The real Hugging Face daily_papers response."""
    path = shared_data / "fixtures" / "hf_daily_papers" / "daily_papers.json"
    entries: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))
    return entries


# --- whitespace ---------------------------------------------------------------------------------------


def test_wrapped_titles_collapse_to_one_line(daily_entries: list[dict[str, Any]]) -> None:
    wrapped = [e["paper"]["title"] for e in daily_entries if "\n" in e["paper"]["title"]]
    assert len(wrapped) >= 5  # arXiv wraps long titles at ~70 columns with "\n  "
    for title in wrapped:
        cleaned = clean_text(title, "title")
        assert cleaned is not None
        assert "\n" not in cleaned and "  " not in cleaned
        assert cleaned.split(" ") == title.split()
    assert (
        clean_text(daily_entries[0]["paper"]["title"], "title")
        == "Breaking the Memory Barrier: Near Infinite Batch Size Scaling for Contrastive Loss"
    )


def test_clean_text_blank_and_wrong_types() -> None:
    assert clean_text(None, "title") is None
    assert clean_text(" \n\t ", "title") is None
    assert clean_text("\tLHC\u00a0energies \r\n", "title") == "LHC energies"
    with pytest.raises(RecordError, match=r"'title'.*expected text, got int"):
        clean_text(42, "title")


def test_control_characters_are_removed() -> None:
    # PostgreSQL refuses NUL in text columns: one such record used to abort a whole ingest there.
    assert clean_text("Spin\x00 waves\x07", "title") == "Spin waves"
    assert clean_abstract("First\x00 line.\n  Second\x1b paragraph.") == "First line.\n\nSecond paragraph."
    assert split_authors("A. One\x00, B. Two") == ("A. One", "B. Two")


def test_abstract_keeps_paragraphs_of_real_abs_file(browse: dict[str, dict[str, Any]]) -> None:
    raw = browse["0704.0010"]["abstract"]
    marks = raw.count("\n  ")  # arXiv starts a paragraph with an indented line
    assert marks >= 1
    cleaned = clean_abstract(raw)
    assert cleaned is not None
    paragraphs = cleaned.split("\n\n")
    assert len(paragraphs) == marks + 1
    assert all("\n" not in p and "  " not in p and p == p.strip() for p in paragraphs)
    assert cleaned.split() == raw.split()  # every word kept, in order
    assert paragraphs[1].startswith("The operations of Cartesian product and pasting")


def test_abstract_blank_line_paragraphs_and_unwrapping() -> None:
    text = "  One sentence\nwrapped here.\n\n\nTwo\tsentences.  Still two.\n"
    assert clean_abstract(text) == "One sentence wrapped here.\n\nTwo sentences. Still two."
    assert clean_abstract("  \n ") is None
    with pytest.raises(RecordError, match="'summary'"):
        clean_abstract(["not", "text"], "summary")


def test_abstract_drops_daily_listing_trailer(shared_data: Path) -> None:
    listing = (shared_data / "arxiv" / "raw_daily_new_listings").glob("*")
    text = next(p for p in sorted(listing) if "arXiv:2303.00763" in p.read_text(encoding="utf-8"))
    entry = text.read_text(encoding="utf-8").split("arXiv:2303.00763", 1)[1]
    # The entry is: header \\ abstract \\ ( https://arxiv.org/abs/... , size)
    abstract_and_trailer = entry.split("\\\\\n", 1)[1].split("\n---", 1)[0]
    assert "( https://arxiv.org/abs/2303.00763" in abstract_and_trailer
    cleaned = clean_abstract(abstract_and_trailer)
    assert cleaned is not None
    assert cleaned.startswith("We present a search for gas-containing dwarf galaxies")
    assert cleaned.endswith("is likely at play.")
    assert "arxiv.org" not in cleaned and "\n" not in cleaned


# --- arXiv identifiers --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2410.17243", ("2410.17243", None)),
        ("2410.17243v2", ("2410.17243", 2)),
        ("0704.0001", ("0704.0001", None)),
        ("  0704.0001v12 ", ("0704.0001", 12)),
        ("arXiv:2410.17243", ("2410.17243", None)),
        ("ARXIV:2410.17243v1", ("2410.17243", 1)),
        ("oai:arXiv.org:0704.0002", ("0704.0002", None)),
        ("http://arxiv.org/abs/2410.17243v1", ("2410.17243", 1)),
        ("https://arxiv.org/abs/2410.17243", ("2410.17243", None)),
        ("https://export.arxiv.org/abs/2312.00273v3", ("2312.00273", 3)),
        ("https://www.arxiv.org/abs/2410.17243v3", ("2410.17243", 3)),
        ("https://arxiv.org/pdf/2410.17243v2", ("2410.17243", 2)),
        ("https://arxiv.org/pdf/2410.17243.pdf", ("2410.17243", None)),
        ("https://arxiv.org/pdf/2410.17243v1.pdf", ("2410.17243", 1)),
        ("hep-th/9108002", ("hep-th/9108002", None)),
        ("hep-th/9108002v3", ("hep-th/9108002", 3)),
        ("math.AG/0601001", ("math.AG/0601001", None)),
        ("https://arxiv.org/abs/cond-mat/9805021v1", ("cond-mat/9805021", 1)),
    ],
)
def test_parse_arxiv_id(raw: str, expected: tuple[str, int | None]) -> None:
    assert parse_arxiv_id(raw, "paper.id") == expected
    assert is_arxiv_id(raw)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("hello", "not an arXiv id"),
        ("1234", "not an arXiv id"),
        ("2410.172430", "not an arXiv id"),
        ("10.1103/PhysRevD.76.013009", "not an arXiv id"),
        ("Hep-th/9108002", "not an arXiv id"),
        ("hep-th/910800", "not an arXiv id"),
        ("https://example.org/abs/2410.17243", "not an arXiv id"),
        ("2410.17243v0", "version 0"),
        ("", "missing arXiv id"),
        (None, "missing arXiv id"),
        (2410.17243, "missing arXiv id"),
    ],
)
def test_parse_arxiv_id_rejects_junk_naming_the_field(raw: object, reason: str) -> None:
    with pytest.raises(RecordError) as caught:
        parse_arxiv_id(raw, "paper.id")
    assert "'paper.id'" in str(caught.value)
    assert reason in str(caught.value)
    if isinstance(raw, str):
        assert not is_arxiv_id(raw)


def test_parse_version() -> None:
    assert parse_version("v3") == 3
    assert parse_version("V2") == 2
    assert parse_version("4") == 4
    assert parse_version(5) == 5
    assert parse_version(None) is None
    assert parse_version("") is None
    for junk in ("v0", "vx", "-1", "1.5"):
        with pytest.raises(RecordError, match="'version'"):
            parse_version(junk)


# --- dates --------------------------------------------------------------------------------------------


def test_iso_dates_with_z_and_offsets_become_naive_utc(daily_entries: list[dict[str, Any]]) -> None:
    assert parse_datetime("2024-10-22T17:59:30.000Z", "publishedAt") == datetime(2024, 10, 22, 17, 59, 30)
    assert parse_datetime("2024-10-25T00:57:09.392Z", "publishedAt") == datetime(
        2024, 10, 25, 0, 57, 9, 392000
    )
    assert parse_datetime("2024-10-25T02:30:00+02:00", "x") == datetime(2024, 10, 25, 0, 30)
    assert parse_datetime("2024-10-24T23:30:00-01:00", "x") == datetime(2024, 10, 25, 0, 30)
    for entry in daily_entries:
        parsed = parse_datetime(entry["publishedAt"], "publishedAt")
        assert parsed is not None and parsed.tzinfo is None
        assert parsed.date().isoformat() == "2024-10-25"


def test_rfc2822_dates_match_their_iso_twins(browse: dict[str, dict[str, Any]]) -> None:
    """Every version date of the real .abs files: the RFC 2822 text and date_iso agree."""
    checked = 0
    for record in browse.values():
        for version in record["versions"]:
            rfc = parse_datetime(version["date"], "versions.date")
            assert rfc is not None and rfc.tzinfo is None
            assert rfc == parse_datetime(version["date_iso"], "versions.date_iso"), version
            checked += 1
    assert checked > 1500
    assert parse_datetime("Mon, 2 Apr 2007 19:18:42 GMT", "d") == datetime(2007, 4, 2, 19, 18, 42)


def test_date_only_values() -> None:
    assert parse_datetime("2023-12-01", "published") == datetime(2023, 12, 1)
    assert parse_datetime(datetime(2023, 12, 1).date(), "published") == datetime(2023, 12, 1)
    assert parse_datetime(None, "published") is None
    assert parse_datetime("", "published") is None
    assert parse_datetime("   ", "published") is None


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("1970-01-01", "out of range"),
        ("Mon, 2 Apr 1907 19:18:42 GMT", "out of range"),
        ("2201-01-01T00:00:00Z", "out of range"),
        ("2023-13-01", "not a date"),
        ("2024-02-30", "not a date"),
        ("yesterday", "not a date"),
        ("32 Jan 2020", "not a date"),
        (20231201, "not a date"),
    ],
)
def test_bad_dates_are_rejected_naming_the_field(raw: object, reason: str) -> None:
    with pytest.raises(RecordError) as caught:
        parse_datetime(raw, "published")
    assert str(caught.value).startswith("field 'published': ")
    assert reason in str(caught.value)


# --- authors ------------------------------------------------------------------------------------------


def test_authors_with_tex_accents(browse: dict[str, dict[str, Any]]) -> None:
    raw = browse["0704.0001"]["authors"]
    assert raw == "C. Bal\\'azs, E. L. Berger, P. M. Nadolsky, C.-P. Yuan"
    names = split_authors(raw)
    assert names == ("C. Balázs", "E. L. Berger", "P. M. Nadolsky", "C.-P. Yuan")
    assert unicodedata.is_normalized("NFC", names[0])


def test_authors_joined_with_and(browse: dict[str, dict[str, Any]]) -> None:
    assert split_authors(browse["0704.0002"]["authors"]) == ("Ileana Streinu", "Louis Theran")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            "A. S. Mishchenko (1 and 2) and N. Nagaosa (1 and 3) ((1) CREST, Japan Science and Technology "
            "Agency, (2) Russian Research Centre ``Kurchatov Institute'', (3) The University of Tokyo)",
            ("A. S. Mishchenko", "N. Nagaosa"),
        ),
        ("V. M. Biryukov (Serpukhov, IHEP)", ("V. M. Biryukov",)),
        (
            "A. A. Schekochihin (Oxford), S. C. Cowley (Culham), W. Dorland (Maryland), G. W. Hammett "
            "(Princeton), G. G. Howes (Iowa), E. Quataert (Berkeley), T. Tatsuno (Maryland)",
            (
                "A. A. Schekochihin",
                "S. C. Cowley",
                "W. Dorland",
                "G. W. Hammett",
                "G. G. Howes",
                "E. Quataert",
                "T. Tatsuno",
            ),
        ),
        (
            'Peter Brommer and Franz G\\"ahler (Institut f\\"ur Theoretische und Angewandte Physik, '
            'Universit\\"at Stuttgart)',
            ("Peter Brommer", "Franz Gähler"),
        ),
    ],
)
def test_affiliations_in_parentheses_are_removed(
    browse: dict[str, dict[str, Any]], raw: str, expected: tuple[str, ...]
) -> None:
    assert any(record["authors"] == raw for record in browse.values()), "not a real author string"
    assert split_authors(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Mikkel {\\O}bro", ("Mikkel Øbro",)),
        ("Zbigniew Pucha{\\l}a and Tomasz Rolski", ("Zbigniew Puchała", "Tomasz Rolski")),
        (
            "Rastislav \\v{S}r\\'amek, Bro\\v{n}a Brejov\\'a, Tom\\'a\\v{s} Vina\\v{r}",
            ("Rastislav Šrámek", "Broňa Brejová", "Tomáš Vinař"),
        ),
        (
            "A. Esteban-Pretel, R. Tom\\`as and J. W. F. Valle",
            ("A. Esteban-Pretel", "R. Tomàs", "J. W. F. Valle"),
        ),
        (
            "Caleb K. Lo, Robert W. Heath, Jr. and Sriram Vishwanath",
            ("Caleb K. Lo", "Robert W. Heath Jr", "Sriram Vishwanath"),
        ),
        ("Walter A. Simmons & Sandip S. Pakvasa", ("Walter A. Simmons", "Sandip S. Pakvasa")),
        ("D0 Collaboration: V. Abazov, et al", ("D0 Collaboration: V. Abazov",)),
    ],
)
def test_real_author_strings(browse: dict[str, dict[str, Any]], raw: str, expected: tuple[str, ...]) -> None:
    assert any(record["authors"] == raw for record in browse.values()), "not a real author string"
    assert split_authors(raw) == expected


def test_long_author_list_with_tex_letters(browse: dict[str, dict[str, Any]]) -> None:
    names = split_authors(browse["1310.8286"]["authors"])
    assert "H.-Å. Gustafsson" in names
    assert names.count("M. Finger") == 1 and "M. Finger Jr" in names  # "M. Finger,\\, Jr."
    assert "F.I. Vardarl\u0131" in split_authors(browse["1411.4413"]["authors"])


def test_no_author_name_keeps_markup(browse: dict[str, dict[str, Any]]) -> None:
    """Over all 1,131 real author strings: no TeX, no parentheses, no separators left inside a name."""
    for record in browse.values():
        names = split_authors(record["authors"])
        assert names, record["id"]
        for name in names:
            assert name == name.strip() and "  " not in name, (record["id"], name)
            assert not set(name) & set("\\{}()&;"), (record["id"], name)
            assert " and " not in f" {name} " and name[-1] != ",", (record["id"], name)


def test_clean_authors_accepts_lists_objects_and_parsed_triples() -> None:
    assert clean_authors(["Julien Piet", " Chawin\nSitawarin "]) == ("Julien Piet", "Chawin Sitawarin")
    assert clean_authors([{"name": "Zesen Cheng"}, {"name": "Hang Zhang"}]) == ("Zesen Cheng", "Hang Zhang")
    parsed = [["Bal\\'azs", "C.", ""], ["Heath", "Robert W.", "Jr"], ["Yuan", "C.-P.", "", "Taiwan"]]
    assert clean_authors(parsed) == ("C. Balázs", "Robert W. Heath Jr", "C.-P. Yuan")
    assert clean_authors("Ileana Streinu and Louis Theran") == ("Ileana Streinu", "Louis Theran")
    assert clean_authors(None) is None
    assert clean_authors([]) is None
    with pytest.raises(RecordError, match=r"'paper\.authors': author 2 has no name"):
        clean_authors([{"name": "A"}, {"user": "b"}], "paper.authors")
    with pytest.raises(RecordError, match="'authors': expected a list or a string"):
        clean_authors(7)


# --- categories, withdrawals, lengths ------------------------------------------------------------------


def test_categories(browse: dict[str, dict[str, Any]]) -> None:
    assert clean_categories(browse["0704.0002"]["categories"]) == ("math.CO", "cs.CG")
    assert clean_categories(["cs.CR", "cs.AI", "cs.CL"]) == ("cs.CR", "cs.AI", "cs.CL")
    assert clean_categories("cs.LG, stat.ML; cs.LG") == ("cs.LG", "stat.ML")
    assert clean_categories("physics.acc-ph cond-mat.mes-hall astro-ph.CO q-bio.NC hep-th") == (
        "physics.acc-ph",
        "cond-mat.mes-hall",
        "astro-ph.CO",
        "q-bio.NC",
        "hep-th",
    )
    assert clean_categories(None) is None
    assert clean_categories("") is None
    for record in browse.values():  # every real category string is accepted
        assert clean_categories(record["categories"])


@pytest.mark.parametrize(
    "raw", ["Computer Science", "cs..LG", "12", "CS.LG", "cs.LG/stat", "cs." + "x" * 40, ["cs.LG", "42"]]
)
def test_bad_categories_are_rejected(raw: object) -> None:
    with pytest.raises(RecordError, match="field 'categories': not a category"):
        clean_categories(raw)


def test_categories_of_wrong_type() -> None:
    with pytest.raises(RecordError, match="field 'categories': expected a list or a string, got int"):
        clean_categories(5)


def test_withdrawn_comments(browse: dict[str, dict[str, Any]]) -> None:
    for arxiv_id in ("0704.0156", "0704.0213", "0704.0374", "0704.0480", "0704.0525"):
        assert looks_withdrawn(browse[arxiv_id]["comments"]), arxiv_id
    assert not looks_withdrawn(browse["0704.0001"]["comments"])
    assert not looks_withdrawn(None)


def test_limit_length() -> None:
    assert limit_length("10.1103/PhysRevD.76.013009", 255, "doi") == "10.1103/PhysRevD.76.013009"
    assert limit_length(None, 3, "doi") is None
    with pytest.raises(RecordError, match="field 'doi': longer than 255 characters"):
        limit_length("x" * 256, 255, "doi")
