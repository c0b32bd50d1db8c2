"""Turning paper and user text into safe HTML: LaTeX math as MathML, query-term highlights, links.

Everything that is not produced here by a whitelist is escaped: MathML from latex2mathml is parsed and
rebuilt from allowed elements and attributes only (it would otherwise pass `\\text{<script>}` through).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any
from xml.etree.ElementTree import Element

from defusedxml.ElementTree import fromstring
from latex2mathml.converter import convert
from markdown_it import MarkdownIt
from markupsafe import Markup, escape

from paperboy.search.terms import word_stems
from paperboy.tex import tex_prose

MAX_MATH_LENGTH = 400
# The number-set macros authors define for themselves (\R, \N, …): the symbols they stand for.
_NUMBER_SETS = re.compile(r"\\([RNZQC])(?![A-Za-z])")
# $$display$$, $inline$ (pandoc's rule: no space inside the dollars, no digit right after), \(…\), \[…\]
_MATH = re.compile(r"\$\$([^$]+?)\$\$|(?<![\\$])\$([^$]+?)(?<!\\)\$(?!\d)|\\\((.+?)\\\)|\\\[(.+?)\\\]", re.S)
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_URL = re.compile(r"\bhttps?://[^\s<>\"']+[^\s<>\"'.,;:!?)\]}]", re.I)
_MATHML_NS = "{http://www.w3.org/1998/Math/MathML}"
_MATHML_TAGS = frozenset(
    [
        "math",
        "mrow",
        "mi",
        "mn",
        "mo",
        "ms",
        "mtext",
        "mspace",
        "msub",
        "msup",
        "msubsup",
        "mfrac",
        "msqrt",
        "mroot",
        "mover",
        "munder",
        "munderover",
        "mtable",
        "mtr",
        "mtd",
        "mstyle",
        "mpadded",
        "mphantom",
        "menclose",
        "merror",
        "mfenced",
        "semantics",
        "annotation",
        "mmultiscripts",
        "mprescripts",
        "none",
    ]
)
_MATHML_ATTRIBUTES = frozenset(
    [
        "display",
        "mathvariant",
        "stretchy",
        "fence",
        "separator",
        "accent",
        "accentunder",
        "lspace",
        "rspace",
        "width",
        "height",
        "depth",
        "linethickness",
        "columnalign",
        "rowspacing",
        "columnspacing",
        "displaystyle",
        "scriptlevel",
        "minsize",
        "maxsize",
        "movablelimits",
        "form",
        "notation",
        "open",
        "close",
        "separators",
        "largeop",
        "symmetric",
    ]
)


def _clean_mathml(element: Element) -> str:
    tag = element.tag.removeprefix(_MATHML_NS)
    if tag not in _MATHML_TAGS:
        raise ValueError(f"element {tag!r} is not allowed in math")
    attributes = "".join(
        f' {name}="{escape(value)}"' for name, value in element.attrib.items() if name in _MATHML_ATTRIBUTES
    )
    inner = str(escape(element.text or "")) + "".join(
        _clean_mathml(child) + str(escape(child.tail or "")) for child in element
    )
    return f"<{tag}{attributes}>{inner}</{tag}>"


@lru_cache(maxsize=4096)
def latex_to_mathml(tex: str, display: bool = False) -> Markup | None:
    """Safe MathML for a TeX fragment, or None when it cannot be converted (the caller shows the TeX)."""
    if len(tex) > MAX_MATH_LENGTH:
        return None
    tex = _NUMBER_SETS.sub(lambda m: f"\\mathbb{{{m.group(1)}}}", tex)
    try:
        raw = convert(tex, display="block" if display else "inline")
        element = fromstring(raw)
        cleaned = _clean_mathml(element)
    except Exception:  # latex2mathml raises many error types on bad TeX; showing the source is the fallback
        return None
    cleaned = cleaned.replace("<math", '<math xmlns="http://www.w3.org/1998/Math/MathML"', 1)
    return Markup(cleaned)


def _highlight(text: str, stems: frozenset[str]) -> str:
    if not stems:
        return str(escape(text))
    out: list[str] = []
    position = 0
    for match in _WORD.finditer(text):
        word = match.group(0)
        if any(token in stems for token in word_stems(word)):
            out.append(str(escape(text[position : match.start()])))
            out.append(f"<mark>{escape(word)}</mark>")
            position = match.end()
    out.append(str(escape(text[position:])))
    return "".join(out)


_TEX_SIGNS = re.compile(r"[\\^_{}=+<>|]")
_PROSE_WORD = re.compile(r"\b[A-Za-z]{3,}\b")


def _looks_like_prose(tex: str) -> bool:
    """`$5 and $6`: dollar signs around words, not math. Math may start or end with a space
    (`$\\gamma_n $`, `$ i\\epsilon \\psi_t$`, as real abstracts write it) only when it holds TeX."""
    if not _TEX_SIGNS.search(tex):
        return tex != tex.strip() or len(_PROSE_WORD.findall(tex)) >= 2
    return False


def rich_text(text: str | None, stems: frozenset[str] = frozenset()) -> Markup:
    """Paper text as HTML: math rendered, query terms marked, everything else escaped."""
    if not text:
        return Markup("")
    out: list[str] = []
    position = 0
    for match in _MATH.finditer(text):
        tex = next(group for group in match.groups() if group is not None)
        display = match.group(1) is not None or match.group(4) is not None
        mathml = None if _looks_like_prose(tex) else latex_to_mathml(tex.strip(), display)
        if mathml is None:
            continue
        out.append(_highlight(tex_prose(text[position : match.start()]), stems))
        # Display math in a box of its own that scrolls sideways (a long formula on a phone).
        out.append(f'<span class="math-display">{mathml}</span>' if display else str(mathml))
        position = match.end()
    out.append(_highlight(tex_prose(text[position:]), stems))
    return Markup("".join(out))


_MARKDOWN = (
    MarkdownIt("commonmark", {"html": False, "linkify": True, "breaks": True, "xhtmlOut": False})
    .disable(["image", "html_block", "html_inline"])
    .enable(["strikethrough", "table", "linkify"])
)
_CODE_SPANS = re.compile(r"(```.*?(?:```|$)|`[^`\n]*`)", re.S)
_SAFE_LINK = re.compile(r"^(https?:|mailto:|/(?!/)|#)", re.I)
_PLACEHOLDER = "\ue000{}\ue001"  # private-use characters: no one types them, Markdown leaves them alone
_PLACEHOLDERS = re.compile("\ue000(\\d+)\ue001")


def _link_open(renderer: Any, tokens: Any, index: int, options: Any, env: Any) -> str:
    token = tokens[index]
    href = str(token.attrGet("href") or "")
    if not _SAFE_LINK.match(href):
        token.attrSet("href", "#")
    token.attrSet("rel", "nofollow ugc noopener noreferrer")
    return str(renderer.renderToken(tokens, index, options, env))


_MARKDOWN.add_render_rule("link_open", _link_open)


def markdown_comment(text: str | None) -> Markup:
    """A comment's Markdown as safe HTML: no raw HTML and no images (both shown as text), links only to
    the web, mail or this site (nofollow), and math rendered as MathML by the same path as abstracts."""
    if not text:
        return Markup("")
    formulas: list[str] = []

    def hold(match: re.Match[str]) -> str:
        tex = next(group for group in match.groups() if group is not None)
        display = match.group(1) is not None or match.group(4) is not None
        mathml = None if _looks_like_prose(tex) else latex_to_mathml(tex.strip(), display)
        if mathml is None:
            return match.group(0)
        formulas.append(f'<span class="math-display">{mathml}</span>' if display else str(mathml))
        return _PLACEHOLDER.format(len(formulas) - 1)

    clean = text.replace("\ue000", "").replace("\ue001", "")
    # Math outside code only: `$x$` in backticks stays as typed.
    held = "".join(
        part if i % 2 else _MATH.sub(hold, part) for i, part in enumerate(_CODE_SPANS.split(clean))
    )
    html = _MARKDOWN.render(held)
    return Markup(_PLACEHOLDERS.sub(lambda m: formulas[int(m.group(1))], html))


def linkify(text: str | None) -> Markup:
    """User text (comments) as HTML: escaped, web links clickable (nofollow), line breaks kept."""
    if not text:
        return Markup("")
    out: list[str] = []
    position = 0
    for match in _URL.finditer(text):
        url = match.group(0)
        out.append(str(escape(text[position : match.start()])))
        out.append(f'<a href="{escape(url)}" rel="nofollow ugc noopener noreferrer">{escape(url)}</a>')
        position = match.end()
    out.append(str(escape(text[position:])))
    return Markup("".join(out).replace("\n", "<br>\n"))


def short_text(text: str | None, limit: int = 280) -> str:
    """The first `limit` characters, cut at a word boundary and never inside a formula."""
    if not text or len(text) <= limit:
        return text or ""
    cut = text[:limit].rsplit(" ", 1)[0]
    opened = [m.start() for m in re.finditer(r"(?<!\\)\$", cut)]
    if len(opened) % 2:  # an unclosed $: cut before it
        cut = cut[: opened[-1]].rstrip()
    return cut.rstrip(",.;:") + "…"
