"""A real HTTP server on 127.0.0.1 that replays recorded arXiv responses, for the network ingest tests.

The code under test talks real HTTP to it (no mocked client). It serves:

* the arXiv Atom API (`/api/query`): the recorded responses under `fixtures/arxiv_atom`, chosen by the
  request's search_query, id_list, start and max_results, with the recorded HTTP status;
* OAI-PMH ListRecords (`/oai2`): pages built from REAL records (the `arXiv`-format records inside
  `fixtures/arxiv_oai/*.xml`, and `arXivRaw` records built from `arxiv/arxiv_browse_abs.jsonl`), split into
  pages of `oai_page_size` records chained by resumptionTokens (`cursor`, `completeListSize`; the last
  page carries an empty token), filtered by `from`/`until` against the header datestamp;
* programmable faults (a status with headers, a truncated page, an HTML error page, an OAI-PMH error,
  a connection dropped mid-body), each for the requests whose parameters match, a given number of times;
* a request log (path, parameters, arrival time, status) so tests can assert what was asked.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import escape, quoteattr

OAI_NS = "http://www.openarchives.org/OAI/2.0/"
ATOM_DEFAULTS = {"search_query": "", "id_list": "", "start": "0", "max_results": "10"}
ATOM_KEYS = tuple(ATOM_DEFAULTS)
_RECORD = re.compile(rb"<record>.*?</record>", re.S)
_IDENTIFIER = re.compile(rb"<identifier>\s*([^<\s]+)\s*</identifier>")
_DATESTAMP = re.compile(rb"<datestamp>\s*([^<\s]+)\s*</datestamp>")
_ARXIV_METADATA_NS = b'xmlns="http://arxiv.org/OAI/arXiv/"'

HTML_ERROR_PAGE = b"""<!DOCTYPE html>
<html lang="en">
<head><title>503 Service Unavailable</title></head>
<body><h1>Service Unavailable</h1>
<p>The server is temporarily unable to service your request due to maintenance downtime or capacity
problems. Please try again later.</p></body>
</html>
"""


@dataclass(frozen=True)
class OaiRecord:
    """One OAI-PMH <record> as it appears on the wire, with its header identifier and datestamp."""

    identifier: str
    datestamp: str
    xml: bytes

    @property
    def arxiv_id(self) -> str:
        return self.identifier.removeprefix("oai:arXiv.org:")


@dataclass
class LoggedRequest:
    """A request the server received."""

    path: str
    params: dict[str, str]
    at: float
    """time.monotonic() when the request arrived."""
    status: int = 0


@dataclass
class Fault:
    """Serve something other than the normal response to requests whose parameters include `match`."""

    kind: str
    """'status', 'truncated', 'html', 'oai_error' or 'disconnect'."""
    match: dict[str, str]
    times: int | None = 1
    """How many matching requests get the fault (None: all of them)."""
    status: int = 503
    headers: dict[str, str] = field(default_factory=dict)
    code: str = "badResumptionToken"

    def matches(self, path: str, params: Mapping[str, str]) -> bool:
        if self.times is not None and self.times <= 0:
            return False
        wanted_path = self.match.get("_path")
        if wanted_path is not None and wanted_path != path:
            return False
        return all(params.get(k) == v for k, v in self.match.items() if k != "_path")


# --- real records ---------------------------------------------------------------------------------------


def arxiv_format_records(fixtures: Path) -> list[OaiRecord]:
    """The real `arXiv`-format records in the recorded OAI-PMH responses, once per identifier.

    Records whose metadata is not in the arXiv namespace (one record hand-edited by hepcrawl's authors)
    are left out; `edited_oai_namespace_record` returns that one.
    """
    records: dict[str, OaiRecord] = {}
    for path in sorted((fixtures / "arxiv_oai").glob("*.xml")):
        for record in _records_in(path.read_bytes()):
            if _ARXIV_METADATA_NS in record.xml and record.identifier not in records:
                records[record.identifier] = record
    return list(records.values())


def edited_oai_namespace_record(fixtures: Path) -> OaiRecord:
    """The real (hand-edited) record of 1601.03238 whose <arXiv> element is in the OAI namespace."""
    (record,) = _records_in((fixtures / "arxiv_oai" / "sample_arxiv_record0.xml").read_bytes())
    assert _ARXIV_METADATA_NS not in record.xml
    return record


def response_date_of(fixtures: Path, name: str) -> str:
    """The <responseDate> of a recorded OAI-PMH response."""
    match = re.search(rb"<responseDate>([^<]+)</responseDate>", (fixtures / "arxiv_oai" / name).read_bytes())
    assert match is not None
    return match.group(1).decode()


def _records_in(body: bytes) -> Iterator[OaiRecord]:
    for match in _RECORD.finditer(body):
        xml = match.group(0)
        identifier = _IDENTIFIER.search(xml)
        datestamp = _DATESTAMP.search(xml)
        assert identifier is not None and datestamp is not None
        yield OaiRecord(identifier.group(1).decode(), datestamp.group(1).decode(), xml)


def browse_abs_records(shared_data: Path, limit: int | None = None) -> list[dict[str, Any]]:
    """Real arXiv metadata parsed from arXiv's .abs files, first occurrence of each id."""
    seen: dict[str, dict[str, Any]] = {}
    with (shared_data / "arxiv" / "arxiv_browse_abs.jsonl").open(encoding="utf-8") as lines:
        for line in lines:
            record = json.loads(line)
            seen.setdefault(record["id"], record)
            if limit is not None and len(seen) >= limit:
                break
    return list(seen.values())


def _sets_of(categories: str) -> list[str]:
    sets = []
    for category in categories.split():
        archive = category.split(".")[0]
        if archive in {"cs", "math", "stat", "q-bio", "q-fin", "eess", "econ", "nlin"}:
            sets.append(archive)
        else:
            sets.append(f"physics:{archive}")
    return list(dict.fromkeys(sets))


def arxiv_raw_record(abs_record: Mapping[str, Any]) -> OaiRecord:
    """An `arXivRaw` OAI-PMH record of one real .abs record, laid out as arXiv's OAI service writes it."""
    versions = abs_record["versions"]
    datestamp = versions[-1]["date_iso"][:10]
    identifier = f"oai:arXiv.org:{abs_record['id']}"
    parts = [
        "<record>\n<header>\n",
        f" <identifier>{escape(identifier)}</identifier>\n <datestamp>{datestamp}</datestamp>\n",
        *(f" <setSpec>{escape(s)}</setSpec>\n" for s in _sets_of(abs_record["categories"])),
        "</header>\n<metadata>\n",
        ' <arXivRaw xmlns="http://arxiv.org/OAI/arXivRaw/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
        ' xsi:schemaLocation="http://arxiv.org/OAI/arXivRaw/ http://arxiv.org/OAI/arXivRaw.xsd">\n',
        f" <id>{escape(abs_record['id'])}</id>",
        f"<submitter>{escape(abs_record.get('submitter') or '')}</submitter>",
    ]
    for version in versions:
        size, _, source_type = version["size"].partition(",")
        parts.append(
            f"<version version={quoteattr(version['version'])}><date>{escape(version['date'])}</date>"
            f"<size>{escape(size)}</size>"
            + (f"<source_type>{escape(source_type)}</source_type>" if source_type else "")
            + "</version>"
        )
    for tag, key in (
        ("title", "title"),
        ("authors", "authors"),
        ("categories", "categories"),
        ("comments", "comments"),
        ("proxy", "proxy"),
        ("report-no", "report_no"),
        ("acm-class", "acm_class"),
        ("msc-class", "msc_class"),
        ("journal-ref", "journal_ref"),
        ("doi", "doi"),
        ("license", "license"),
        ("abstract", "abstract"),
    ):
        value = abs_record.get(key)
        if value:
            parts.append(f"<{tag}>{escape(value)}</{tag}>")
    parts.append("</arXivRaw>\n</metadata>\n</record>")
    return OaiRecord(identifier, datestamp, "".join(parts).encode())


def deleted_record(identifier: str, datestamp: str) -> OaiRecord:
    """An OAI-PMH deletion notice (header status="deleted", no metadata)."""
    xml = (
        f'<record>\n<header status="deleted">\n <identifier>{escape(identifier)}</identifier>\n'
        f" <datestamp>{datestamp}</datestamp>\n</header>\n</record>"
    )
    return OaiRecord(identifier, datestamp, xml.encode())


# --- the server -----------------------------------------------------------------------------------------


@dataclass
class Response:
    status: int
    body: bytes
    content_type: str = "text/xml; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    disconnect: bool = False


class FixtureServer:
    """The test server; use as a context manager (starts on a free port, stops on exit)."""

    def __init__(self, fixtures: Path) -> None:
        self.fixtures = fixtures
        self.requests: list[LoggedRequest] = []
        self.faults: list[Fault] = []
        self.oai_records: dict[str, list[OaiRecord]] = {}
        self.oai_page_size = 5
        self.oai_response_date: str | None = None
        self.page_delay = 0.0
        """Seconds to wait before answering each request (a slow server)."""
        self._lock = threading.Lock()
        self._atom = self._load_atom_manifest()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # lifecycle

    def __enter__(self) -> FixtureServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        handler = _make_handler(self)
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, name="fixture-http", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    @property
    def base_url(self) -> str:
        assert self._httpd is not None, "server not started"
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/query"

    @property
    def oai_url(self) -> str:
        return f"{self.base_url}/oai2"

    # programming faults

    def add_fault(self, fault: Fault) -> Fault:
        with self._lock:
            self.faults.append(fault)
        return fault

    def fail_with_status(
        self,
        match: Mapping[str, str],
        status: int = 503,
        retry_after: str | None = "1",
        times: int | None = 1,
    ) -> Fault:
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        return self.add_fault(Fault("status", dict(match), times, status=status, headers=headers))

    def serve_truncated(self, match: Mapping[str, str], times: int | None = 1) -> Fault:
        """The normal page cut in half: a complete HTTP response whose XML is broken."""
        return self.add_fault(Fault("truncated", dict(match), times))

    def serve_html_error(self, match: Mapping[str, str], status: int = 200, times: int | None = 1) -> Fault:
        return self.add_fault(Fault("html", dict(match), times, status=status))

    def serve_oai_error(
        self, match: Mapping[str, str], code: str = "badResumptionToken", times: int | None = 1
    ) -> Fault:
        return self.add_fault(Fault("oai_error", dict(match), times, code=code))

    def drop_connection(self, match: Mapping[str, str], times: int | None = 1) -> Fault:
        """Announce the whole body, send half of it, and close the connection."""
        return self.add_fault(Fault("disconnect", dict(match), times))

    # OAI-PMH helpers for tests

    def oai_token(self, prefix: str, page: int, from_date: str = "", until_date: str = "") -> str:
        """The resumptionToken that asks for page `page` (1-based, page >= 2) of a harvest."""
        return f"{prefix}|{from_date}|{until_date}|{(page - 1) * self.oai_page_size}"

    def oai_page(self, prefix: str, page: int, from_date: str = "", until_date: str = "") -> dict[str, str]:
        """Parameters identifying the request for page `page` of a harvest (to target a fault)."""
        if page == 1:
            return {"_path": "/oai2", "verb": "ListRecords", "metadataPrefix": prefix}
        return {"_path": "/oai2", "resumptionToken": self.oai_token(prefix, page, from_date, until_date)}

    def logged(self, path: str | None = None) -> list[LoggedRequest]:
        with self._lock:
            return [r for r in self.requests if path is None or r.path == path]

    def clear_log(self) -> None:
        with self._lock:
            self.requests.clear()

    # responses

    def respond(self, path: str, params: dict[str, str]) -> Response:
        entry = LoggedRequest(path, params, time.monotonic())
        with self._lock:
            self.requests.append(entry)
            fault = next((f for f in self.faults if f.matches(path, params)), None)
            if fault is not None and fault.times is not None:
                fault.times -= 1
        if path == "/api/query":
            normal = self._atom_response(params)
        elif path == "/oai2":
            normal = self._oai_response(params)
        else:
            normal = Response(404, b"not found", "text/plain")
        response = self._apply(fault, normal) if fault is not None else normal
        entry.status = response.status
        if self.page_delay:
            time.sleep(self.page_delay)
        return response

    def _apply(self, fault: Fault, normal: Response) -> Response:
        if fault.kind == "status":
            body = f"{fault.status} error".encode()
            return Response(fault.status, body, "text/plain", dict(fault.headers))
        if fault.kind == "truncated":
            return Response(normal.status, normal.body[: len(normal.body) // 2], normal.content_type)
        if fault.kind == "html":
            return Response(fault.status, HTML_ERROR_PAGE, "text/html; charset=utf-8")
        if fault.kind == "oai_error":
            return self._oai_error(fault.code, {})
        if fault.kind == "disconnect":
            return Response(normal.status, normal.body, normal.content_type, disconnect=True)
        raise ValueError(f"unknown fault kind {fault.kind!r}")

    def _load_atom_manifest(self) -> dict[tuple[str, ...], tuple[Path, int]]:
        folder = self.fixtures / "arxiv_atom"
        routes: dict[tuple[str, ...], tuple[Path, int]] = {}
        for line in (folder / "manifest.jsonl").read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            item = json.loads(line)
            query = parse_qs(urlsplit(item["url"]).query, keep_blank_values=True)
            params = {k: v[0] for k, v in query.items()}
            routes[_atom_key(params)] = (folder / item["file"], int(item["status_code"]))
        return routes

    def _atom_response(self, params: Mapping[str, str]) -> Response:
        route = self._atom.get(_atom_key(params))
        if route is None:
            return Response(404, f"no recorded response for {_atom_key(params)}".encode(), "text/plain")
        path, status = route
        return Response(status, path.read_bytes(), "application/atom+xml; charset=utf-8")

    # OAI-PMH

    def _response_date(self) -> str:
        return self.oai_response_date or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def _envelope(self, params: Mapping[str, str], inner: str | bytes) -> bytes:
        attributes = "".join(f" {k}={quoteattr(v)}" for k, v in params.items())
        head = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<OAI-PMH xmlns="{OAI_NS}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
            f' xsi:schemaLocation="{OAI_NS} http://www.openarchives.org/OAI/2.0/OAI-PMH.xsd">\n'
            f"<responseDate>{self._response_date()}</responseDate>\n"
            f"<request{attributes}>http://export.arxiv.org/oai2</request>\n"
        ).encode()
        body = inner.encode() if isinstance(inner, str) else inner
        return head + body + b"\n</OAI-PMH>\n"

    def _oai_error(self, code: str, params: Mapping[str, str]) -> Response:
        messages = {
            "badResumptionToken": "The value of the resumptionToken argument is invalid or expired.",
            "noRecordsMatch": "The combination of the values of the from, until, set and metadataPrefix "
            "arguments results in an empty list.",
            "cannotDisseminateFormat": "The metadata format identified by the value given for the "
            "metadataPrefix argument is not supported by the item or by the repository.",
            "badArgument": "The request includes illegal arguments or is missing required arguments.",
        }
        inner = f"<error code={quoteattr(code)}>{escape(messages.get(code, code))}</error>"
        return Response(200, self._envelope(params, inner))

    def _oai_response(self, params: dict[str, str]) -> Response:
        if params.get("verb") != "ListRecords":
            return self._oai_error("badArgument", params)
        if "resumptionToken" in params:
            parts = params["resumptionToken"].split("|")
            if len(parts) != 4 or not parts[3].isdigit() or parts[0] not in self.oai_records:
                return self._oai_error("badResumptionToken", params)
            prefix, from_date, until_date, cursor_text = parts
            cursor = int(cursor_text)
        else:
            prefix = params.get("metadataPrefix", "")
            if prefix not in self.oai_records:
                return self._oai_error("cannotDisseminateFormat", params)
            from_date, until_date, cursor = params.get("from", ""), params.get("until", ""), 0
        matching = [
            r
            for r in self.oai_records[prefix]
            if (not from_date or r.datestamp >= from_date[:10])
            and (not until_date or r.datestamp <= until_date[:10])
        ]
        if not matching:
            return self._oai_error("noRecordsMatch", params)
        if cursor >= len(matching):
            return self._oai_error("badResumptionToken", params)
        page = matching[cursor : cursor + self.oai_page_size]
        following = cursor + len(page)
        size = len(matching)
        if following < size:
            token = f"{prefix}|{from_date}|{until_date}|{following}"
            token_xml = f'<resumptionToken cursor="{cursor}" completeListSize="{size}">{escape(token)}</resumptionToken>'
        elif "resumptionToken" in params:
            token_xml = f'<resumptionToken cursor="{cursor}" completeListSize="{size}"/>'
        else:
            token_xml = ""  # a single-page result carries no token at all
        inner = (
            b"<ListRecords>\n"
            + b"\n".join(r.xml for r in page)
            + b"\n"
            + token_xml.encode()
            + b"\n</ListRecords>"
        )
        return Response(200, self._envelope(params, inner))


def _atom_key(params: Mapping[str, str]) -> tuple[str, ...]:
    return tuple(params.get(k, ATOM_DEFAULTS[k]) for k in ATOM_KEYS)


def _make_handler(server: FixtureServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            query = parse_qs(parts.query, keep_blank_values=True)
            params = {k: v[-1] for k, v in query.items()}
            response = server.respond(parts.path, params)
            try:
                self.send_response(response.status)
                self.send_header("Content-Type", response.content_type)
                self.send_header("Content-Length", str(len(response.body)))
                for name, value in response.headers.items():
                    self.send_header(name, value)
                if response.disconnect:
                    self.send_header("Connection", "close")
                self.end_headers()
                if response.disconnect:
                    self.wfile.write(response.body[: len(response.body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(response.body)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the client went away (e.g. killed mid-request)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def params_sequence(requests: Sequence[LoggedRequest], *keys: str) -> list[tuple[str | None, ...]]:
    """The values of `keys` in each logged request, in order (for compact assertions)."""
    return [tuple(r.params.get(k) for k in keys) for r in requests]
