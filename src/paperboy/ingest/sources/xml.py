"""Safe XML parsing for remote pages, with errors that say which page and what was wrong."""

from __future__ import annotations

from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from paperboy.ingest.records import IngestError


def parse_page(body: bytes, where: str, expected_root: str) -> Element:
    """Parse a whole XML page or raise IngestError (HTML error pages and truncated downloads included)."""
    head = body.lstrip()[:200].lower()
    if head.startswith((b"<!doctype html", b"<html")):
        raise IngestError(f"{where}: got an HTML page instead of XML (an error page?); nothing was written")
    if not head:
        raise IngestError(f"{where}: empty response; nothing was written")
    try:
        root: Element = fromstring(body)
    except ParseError as exc:
        line, column = exc.position
        raise IngestError(
            f"{where}: broken XML at line {line}, column {column} (truncated download?); nothing was written"
        ) from None
    except DefusedXmlException as exc:
        raise IngestError(f"{where}: refused unsafe XML ({type(exc).__name__})") from None
    if root.tag != expected_root:
        raise IngestError(f"{where}: expected a {expected_root} document, got <{root.tag}>")
    return root


def text_of(element: Element | None) -> str | None:
    """All text inside an element, or None."""
    if element is None:
        return None
    return "".join(element.itertext())
