"""arXiv OAI-PMH harvesting (`arXiv` and `arXivRaw` metadata formats).

Pages follow resumptionTokens; each page is parsed whole and committed with the next token as its
checkpoint, so a killed harvest resumes at the page it stopped on. A completed harvest remembers the
server's responseDate, and the next harvest without `--from` starts there (incremental harvesting).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any
from xml.etree.ElementTree import Element

from paperboy.arxiv_ids import parse_arxiv_id
from paperboy.db.records import DeletedRecord, PaperRecord, RecordError, VersionRecord
from paperboy.ingest.http import PoliteClient
from paperboy.ingest.normalize import (
    clean_abstract,
    clean_authors,
    clean_categories,
    clean_text,
    looks_withdrawn,
    parse_datetime,
    parse_version,
    require,
)
from paperboy.ingest.records import Batch, IngestError, Rejection
from paperboy.ingest.sources.xml import parse_page, text_of

OAI = "{http://www.openarchives.org/OAI/2.0/}"
FORMATS = {"arXiv": "{http://arxiv.org/OAI/arXiv/}", "arXivRaw": "{http://arxiv.org/OAI/arXivRaw/}"}


def _common_fields(meta: Element, ns: str) -> dict[str, Any]:
    def field(name: str) -> str | None:
        return clean_text(text_of(meta.find(f"{ns}{name}")), name)

    arxiv_id, id_version = parse_arxiv_id(text_of(meta.find(f"{ns}id")), "id")
    categories = clean_categories(field("categories"))
    comments = field("comments")
    return {
        "arxiv_id": arxiv_id,
        "title": require(field("title"), "title"),
        "abstract": require(clean_abstract(text_of(meta.find(f"{ns}abstract"))), "abstract"),
        "source": "arxiv-oai",
        "categories": categories,
        "primary_category": categories[0] if categories else None,
        "comments": comments,
        "journal_ref": field("journal-ref"),
        "doi": field("doi"),
        "license": field("license"),
        "withdrawn": looks_withdrawn(comments) if comments else None,
        "_id_version": id_version,
    }


def parse_arxiv_format(meta: Element) -> PaperRecord:
    """<arXiv> metadata: structured authors, created/updated dates, no version numbers."""
    ns = FORMATS["arXiv"]
    fields = _common_fields(meta, ns)
    fields.pop("_id_version")
    authors = []
    for author in meta.findall(f"{ns}authors/{ns}author"):
        parts = [text_of(author.find(f"{ns}{p}")) for p in ("forenames", "keyname", "suffix")]
        authors.append(" ".join(p.strip() for p in parts if p and p.strip()))
    created = parse_datetime(text_of(meta.find(f"{ns}created")), "created")
    updated = parse_datetime(text_of(meta.find(f"{ns}updated")), "updated")
    return PaperRecord(
        **fields,
        authors=clean_authors(authors),
        published_at=created,
        updated_at=updated or created,
        versions=(VersionRecord(1, created),) if created else (),
    )


def parse_arxiv_raw_format(meta: Element) -> PaperRecord:
    """<arXivRaw> metadata: an author string and the full version history with dates and sizes."""
    ns = FORMATS["arXivRaw"]
    fields = _common_fields(meta, ns)
    fields.pop("_id_version")
    versions = []
    for element in meta.findall(f"{ns}version"):
        number = parse_version(element.get("version"), "version")
        if number is None:
            raise RecordError("field 'version': missing version attribute")
        when = parse_datetime(text_of(element.find(f"{ns}date")), f"version v{number} date")
        versions.append(VersionRecord(number, when, clean_text(text_of(element.find(f"{ns}size")), "size")))
    versions.sort(key=lambda v: v.version)
    dated = [v.submitted_at for v in versions if v.submitted_at]
    return PaperRecord(
        **fields,
        version=versions[-1].version if versions else None,
        authors=clean_authors(clean_text(text_of(meta.find(f"{ns}authors")), "authors")),
        published_at=dated[0] if dated else None,
        updated_at=dated[-1] if dated else None,
        versions=tuple(versions),
    )


def parse_record(record: Element, metadata_prefix: str) -> PaperRecord | DeletedRecord:
    """One OAI <record> → a paper, or a deletion notice."""
    header = record.find(f"{OAI}header")
    identifier = text_of(header.find(f"{OAI}identifier")) if header is not None else None
    if header is not None and header.get("status") == "deleted":
        arxiv_id, _ = parse_arxiv_id(identifier, "header.identifier")
        return DeletedRecord(arxiv_id, "arxiv-oai")
    ns = FORMATS[metadata_prefix]
    root_tag = "arXiv" if metadata_prefix == "arXiv" else "arXivRaw"
    meta = record.find(f"{OAI}metadata/{ns}{root_tag}")
    if meta is None:
        raise RecordError(f"no <{root_tag}> metadata in the {metadata_prefix} namespace")
    if metadata_prefix == "arXiv":
        return parse_arxiv_format(meta)
    return parse_arxiv_raw_format(meta)


class ArxivOaiSource:
    """Harvest ListRecords from an OAI-PMH endpoint, resumable page by page."""

    name = "arxiv-oai"

    def __init__(
        self,
        client: PoliteClient,
        url: str,
        metadata_prefix: str = "arXiv",
        from_date: str | None = None,
        until_date: str | None = None,
        set_spec: str | None = None,
    ):
        if metadata_prefix not in FORMATS:
            raise IngestError(
                f"arxiv-oai: --format must be one of {', '.join(FORMATS)}, got {metadata_prefix!r}"
            )
        for option, value in (("--from", from_date), ("--until", until_date)):
            if value is not None:
                try:
                    parse_datetime(value, option)
                except RecordError as exc:
                    raise IngestError(f"arxiv-oai: {exc} (use YYYY-MM-DD)") from None
        self.client = client
        self.url = url
        self.metadata_prefix = metadata_prefix
        self.from_date = from_date
        self.until_date = until_date
        self.set_spec = set_spec
        self._response_date: str | None = None
        self._effective_from: str | None = from_date
        self.notes: list[str] = []
        self.label = f"{self.name} {metadata_prefix}" + (f" set={set_spec}" if set_spec else "")

    def job_key(self) -> str:
        return hashlib.sha1(f"{self.url}|{self.metadata_prefix}|{self.set_spec or ''}".encode()).hexdigest()

    def unit(self) -> str:
        return "records"

    def total(self) -> int | None:
        return None

    def is_complete(self, state: dict[str, Any] | None) -> bool:
        return False

    def final_state(self) -> dict[str, Any] | None:
        return {
            "done": True,
            "last_response_date": self._response_date,
            "from": self._effective_from,
            "until": self.until_date,
        }

    def _first_params(self) -> dict[str, str]:
        params = {"verb": "ListRecords", "metadataPrefix": self.metadata_prefix}
        if self._effective_from:
            params["from"] = self._effective_from
        if self.until_date:
            params["until"] = self.until_date
        if self.set_spec:
            params["set"] = self.set_spec
        return params

    def _plan(self, state: dict[str, Any] | None) -> tuple[dict[str, str], int]:
        """The first request: resume from a saved token, continue incrementally, or start afresh."""
        if (
            state
            and state.get("token")
            and state.get("from") == self.from_date
            and state.get("until") == self.until_date
        ):
            self._response_date = state.get("response_date")
            self._effective_from = state.get("harvest_from", self.from_date)
            self.notes.append(f"resuming harvest at page {int(state.get('pages', 0)) + 1}")
            return {"verb": "ListRecords", "resumptionToken": str(state["token"])}, int(state.get("pages", 0))
        if state and state.get("done") and self.from_date is None and state.get("last_response_date"):
            # a harvest bounded by --until covered nothing after that date, whatever its responseDate
            ends = [str(state[key])[:10] for key in ("last_response_date", "until") if state.get(key)]
            self._effective_from = min(ends)
            self.notes.append(f"incremental harvest from {self._effective_from} (last completed harvest)")
        return self._first_params(), 0

    def _page(self, params: dict[str, str]) -> Element:
        """One whole page; IngestError (resumable: earlier pages stay committed) when it is unusable."""
        where = f"{self.url}?{'&'.join(f'{k}={v}' for k, v in params.items())}"
        try:
            root = parse_page(self.client.get(self.url, params=params).content, where, f"{OAI}OAI-PMH")
        except IngestError as exc:
            raise IngestError(str(exc), resumable=True) from None
        error = root.find(f"{OAI}error")
        if error is not None and error.get("code") != "noRecordsMatch":
            raise IngestError(
                f"{where}: OAI-PMH error {error.get('code')}: {clean_text(text_of(error), 'error')}",
                resumable=True,
            )
        return root

    def batches(self, state: dict[str, Any] | None) -> Iterator[Batch]:
        params, pages = self._plan(state)
        records_seen = 0
        while True:
            try:
                root = self._page(params)
            except IngestError as exc:
                if "badResumptionToken" in str(exc) and pages and "resumptionToken" in params and state:
                    self.notes.append("the saved resumptionToken expired; restarting the harvest")
                    state, params, pages = None, self._first_params(), 0
                    continue
                raise
            if self._response_date is None:
                self._response_date = clean_text(text_of(root.find(f"{OAI}responseDate")), "responseDate")
            batch = Batch()
            container = root.find(f"{OAI}ListRecords")
            if container is None:
                container = root.find(f"{OAI}GetRecord")
            records = container.findall(f"{OAI}record") if container is not None else []
            for position, element in enumerate(records):
                self._add(element, batch, f"{self.url} page {pages + 1} record {position + 1}")
            pages += 1
            records_seen += len(records)
            token_element = container.find(f"{OAI}resumptionToken") if container is not None else None
            token = (text_of(token_element) or "").strip() if token_element is not None else ""
            if token_element is not None and (token_element.get("completeListSize") or "").isdigit():
                batch.total = int(token_element.get("completeListSize") or 0)
            batch.progress = len(records)
            batch.checkpoint = {
                "token": token or None,
                "pages": pages,
                "from": self.from_date,
                "until": self.until_date,
                "response_date": self._response_date,
                "harvest_from": self._effective_from,
            }
            yield batch
            if not token:
                return
            params = {"verb": "ListRecords", "resumptionToken": token}

    def _add(self, element: Element, batch: Batch, where: str) -> None:
        header_id = text_of(element.find(f"{OAI}header/{OAI}identifier"))
        if header_id:
            where = f"{where} ({header_id.strip()})"
        try:
            parsed = parse_record(element, self.metadata_prefix)
        except RecordError as exc:
            batch.rejections.append(Rejection(where, str(exc)))
            return
        if isinstance(parsed, DeletedRecord):
            batch.deleted.append(parsed)
        else:
            batch.papers.append(parsed)
