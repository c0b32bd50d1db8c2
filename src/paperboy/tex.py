"""TeX as arXiv metadata uses it, turned into what a reader sees: accents into Unicode (author names,
titles) and math into the words it stands for (search: `$\\alpha$-divergence` is "alpha-divergence").

Both directions of search use `tex_to_words`, the indexed text and the query, so a reader who types
"alpha divergence", "\u03b1-divergence" (the Greek letter) or `$\\alpha$-divergence` finds the same papers.
"""

from __future__ import annotations

import re
import unicodedata

_TEX_ACCENTS = {
    "'": "\u0301",
    "`": "\u0300",
    "^": "\u0302",
    '"': "\u0308",
    "~": "\u0303",
    "=": "\u0304",
    ".": "\u0307",
    "u": "\u0306",
    "v": "\u030c",
    "H": "\u030b",
    "c": "\u0327",
    "k": "\u0328",
    "r": "\u030a",
}
# Symbol accents take the next letter directly (\"o); letter accents need a brace or a space (\c{c}, \v s),
# since \cos, \kappa or \varphi are commands, not accented letters.
_TEX_ACCENT = re.compile(
    r"""\{?\\(?:([`'^"~=.])\s*\{?\\?([A-Za-z])\}?|([uvHckr])(?:\s*\{\\?([A-Za-z])\}|\s+([A-Za-z])))\}?"""
)
_TEX_LETTERS = {
    r"\ss": "ß",
    r"\o": "ø",
    r"\O": "Ø",
    r"\ae": "æ",
    r"\AE": "Æ",
    r"\l": "ł",
    r"\L": "Ł",
    r"\aa": "å",
    r"\AA": "Å",
    r"\i": "\u0131",  # dotless i
}
_TEX_LETTER = re.compile(r"\{?(\\(?:ss|o|O|ae|AE|l|L|aa|AA|i))\}?(?![A-Za-z])")

GREEK = [
    "alpha",
    "beta",
    "gamma",
    "delta",
    "epsilon",
    "zeta",
    "eta",
    "theta",
    "iota",
    "kappa",
    "lambda",
    "mu",
    "nu",
    "xi",
    "omicron",
    "pi",
    "rho",
    "sigma",
    "tau",
    "upsilon",
    "phi",
    "chi",
    "psi",
    "omega",
]
_GREEK_UNICODE = (
    dict(zip("αβγδεζηθικλμνξοπρστυφχψω", GREEK, strict=True))
    | dict(zip("ΑΒΓΔΕΖΗΘΙΚΛΜΝΞΟΠΡΣΤΥΦΧΨΩ", GREEK, strict=True))
    | {"ς": "sigma", "ϵ": "epsilon", "ϕ": "phi"}
)
_GREEK_CHARS = re.compile("[" + "".join(_GREEK_UNICODE) + "]")
_WORD_COMMANDS = frozenset(
    GREEK
    + [name.capitalize() for name in GREEK]
    + [f"var{name}" for name in ("epsilon", "theta", "pi", "rho", "sigma", "phi")]
    + [
        "log",
        "ln",
        "exp",
        "sin",
        "cos",
        "tan",
        "sinh",
        "cosh",
        "tanh",
        "min",
        "max",
        "sup",
        "inf",
        "lim",
        "det",
        "dim",
        "ker",
        "arg",
        "deg",
        "gcd",
        "hom",
        "mod",
    ]
    + ["ell", "hbar", "nabla", "partial", "infty", "emptyset"]
)
_WORD_NAMES = {"ell": "l", "hbar": "h", "infty": "infinity", "emptyset": "empty set", "nabla": "nabla"}
_FONT = re.compile(
    r"\\(?:math(?:cal|bb|bf|rm|it|sf|tt|frak|scr)|text(?:bf|it|rm|sf|tt|sc|up|normal)?|emph|operatorname"
    r"|boldsymbol|bm|mbox|hbox|underline|overline|widehat|widetilde|hat|tilde|bar|vec|dot|ddot)\s*\{([^{}]*)\}"
)
_SWITCH = re.compile(r"\\(?:it|bf|rm|sf|tt|sc|em|sl|cal|bold|displaystyle|textstyle|scriptstyle)(?![A-Za-z])")
_COMMAND = re.compile(r"\\([A-Za-z]+)\s*")
_PADDED_HYPHEN = re.compile(r"(?<=\w) +-(?=\w)|(?<=\w)- +(?=\w)")
_MATH_MARKUP = re.compile(r"[$^_{}~]|\\[,;:!\\ ]")


def _accented(match: re.Match[str]) -> str:
    accent = match.group(1) or match.group(3)
    letter = match.group(2) or match.group(4) or match.group(5)
    return unicodedata.normalize("NFC", letter + _TEX_ACCENTS[accent])


def detex_accents_only(text: str) -> str:
    """Accents and special letters into Unicode; other markup is left for the caller."""
    if "\\" not in text:
        return text
    return _TEX_LETTER.sub(lambda m: _TEX_LETTERS[m.group(1)], _TEX_ACCENT.sub(_accented, text))


def detex(text: str) -> str:
    """Turn the TeX accents arXiv uses in names and titles (Bal\\'azs, G\\"odel) into Unicode."""
    if "\\" not in text:
        return text
    return detex_accents_only(text).replace("{", "").replace("}", "")


def _command_word(match: re.Match[str]) -> str:
    name = match.group(1)
    if name in _WORD_COMMANDS:
        return f" {_WORD_NAMES.get(name, name.removeprefix('var').lower())} "
    return " "


def tex_to_words(text: str) -> str:
    """Math and TeX markup replaced by the words they stand for; other text unchanged.

    `$\\alpha$-divergence` → "alpha-divergence", `\\mathcal{O}(n \\log n)` → "O(n log n)",
    `Schr\\"odinger` → "Schrödinger", and Greek letters into their names.
    """
    if "\\" in text or "$" in text:
        text = detex_accents_only(text)
        for _ in range(3):  # nested fonts: \mathbf{\mathcal{A}}
            replaced = _FONT.sub(r"\1", text)
            if replaced == text:
                break
            text = replaced
        text = _SWITCH.sub(" ", text)
        text = _COMMAND.sub(_command_word, text)
        text = _MATH_MARKUP.sub(lambda m: " " if m.group(0) not in "$" else "", text)
        text = _PADDED_HYPHEN.sub("-", text)  # "$\\alpha$-divergence" stays one compound word
    if _GREEK_CHARS.search(text):
        text = _GREEK_CHARS.sub(lambda m: _GREEK_UNICODE[m.group(0)], text)
    return text


_GREEK_LETTER = {name: char for char, name in zip("αβγδεζηθικλμνξοπρστυφχψω", GREEK, strict=True)} | {
    name.capitalize(): char for char, name in zip("ΑΒΓΔΕΖΗΘΙΚΛΜΝΞΟΠΡΣΤΥΦΧΨΩ", GREEK, strict=True)
}
_LOOSE_SPACE = re.compile(r"\s+")


def _fonts_removed(text: str) -> str:
    for _ in range(3):  # nested fonts: \mathbf{\mathcal{A}}
        replaced = _FONT.sub(r"\1", text)
        if replaced == text:
            break
        text = replaced
    return _SWITCH_AND_SPACE.sub("", text)


_SWITCH_AND_SPACE = re.compile(f"(?:{_SWITCH.pattern})\\s*")


def tex_prose(text: str) -> str:
    """Text outside math as a reader sees it: accents in Unicode (`Schr\\"odinger` → Schrödinger), font
    commands and grouping braces gone (`{\\it tritronqu\\'ee}` → tritronquée)."""
    if "\\" not in text and "{" not in text:
        return text
    text = _fonts_removed(detex_accents_only(text)).replace("{", "").replace("}", "")
    return _LOOSE_SPACE.sub(" ", text)


def tex_plain(text: str) -> str:
    """A title as plain text (a browser tab, a link preview): accents in Unicode, Greek letters as letters,
    other math markup gone (`$\\alpha$-divergence` → \u03b1-divergence, `$\\mathcal{O}(n)$` → O(n))."""
    if "\\" not in text and "$" not in text and "{" not in text:
        return text
    text = _fonts_removed(detex_accents_only(text))

    def command(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in _GREEK_LETTER:
            return _GREEK_LETTER[name]
        if name.startswith("var") and name[3:] in _GREEK_LETTER:
            return _GREEK_LETTER[name[3:]]
        return f"{_WORD_NAMES.get(name, name)} " if name in _WORD_COMMANDS else ""

    text = re.sub(r"\\([A-Za-z]+)\s*", command, text)
    text = re.sub(r"[$^_{}~]|\\[,;:!\\ ]", "", text)
    return _LOOSE_SPACE.sub(" ", text).strip()


_COMBINING = re.compile(r"[\u0300-\u036f]")


def fold(text: str) -> str:
    """Lower-case without accents ("Schrödinger" → "schrodinger"), as the search indexes compare words."""
    return _COMBINING.sub("", unicodedata.normalize("NFKD", text)).lower()
