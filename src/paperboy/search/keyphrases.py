"""Keyphrases of a paper, extracted from its own title and abstract and ranked with the embedding model
the indexer already has loaded (in the manner of KeyBERT): candidate phrases are runs of content words,
each is embedded, and the ones closest in meaning to the paper's own vector are kept, with maximal
marginal relevance so that five chips do not say the same thing five times. Nothing is generated: every
keyphrase is words the paper wrote."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from paperboy.search.embedder import Embedder
from paperboy.search.terms import query_stems
from paperboy.tex import tex_to_words

KEEP = 5
CANDIDATES = 12
MIN_SIMILARITY = 0.25
DIVERSITY = 0.6
"""Weight of relevance against novelty in the maximal-marginal-relevance choice."""

_CLAUSES = re.compile('[.,;:!?()\\[\\]{}"\u201c\u201d]|\\s[-\u2013\u2014]\\s|\\n')
_TOKEN = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-'][A-Za-z0-9]+)*")
_STOP = frozenset(
    """a about above across after again against all almost along also although always among an and another
    any are around as at be because been before being below between both but by can could did do does doing
    done down during each either even ever every few for from further given had has have having here how
    however i if in into is it its itself just least less many may might more most much must my neither no
    nor not now of off often on once one only onto or other others otherwise our out over own per perhaps
    rather same several shall she should since so some such than that the their them themselves then there
    these they this those though through thus to together too toward towards under until up upon us very via
    was we well were what whatever when where whether which while who whole whom whose why will with within
    without would yet you your
    abstract paper papers work works study studies approach approaches method methods propose proposed
    proposes present presents presented introduce introduces introduced show shows shown demonstrate
    demonstrates demonstrated really actually correct fall falls short near due cause caused causes generate
    generates generated extend extends extended shift shifts shifted locate locates located encode encodes
    encoded reduce reduces reduced improve improves improved include includes included require requires
    required lead leads led yield yields remain remains focus focuses consider considers contain contains
    obtain obtains apply applies applied called named termed result results find finds found use used uses using based novel new existing
    current recent recently various different several significant significantly important key main large
    small high low better best first second third also extensive extensively experiment experiments
    experimental evaluation evaluate evaluated achieve achieves achieved achieving state art outperform
    outperforms performance effective effectively efficient efficiently provide provides make makes made
    enable enables allow allows able however moreover furthermore specifically particular particularly
    respectively typically generally often widely commonly task tasks problem problems challenge
    challenges challenging way ways number numbers set sets case cases paradigm framework frameworks
    code available publicly release released data set datasets""".split()
)


@dataclass(frozen=True)
class _Candidate:
    text: str
    score: float


def candidates(title: str, abstract: str, limit: int = CANDIDATES) -> list[str]:
    """Phrases of one to three content words from the paper's text, the likeliest first (how often they
    occur, longer phrases and those in the title preferred)."""
    forms: dict[str, Counter[str]] = {}
    counts: Counter[str] = Counter()
    in_title: set[str] = set()
    for source, text in (("title", title), ("abstract", abstract)):
        for clause in _CLAUSES.split(tex_to_words(text)):
            run: list[str] = []
            for token in [*_TOKEN.findall(clause), ""]:
                if token and _content_word(token):
                    run.append(token)
                    continue
                while len(run) > 1 and run[0].lower().endswith("ing"):  # "Unleashing Reasoning …"
                    run = run[1:]
                for size in (3, 2, 1):
                    for start in range(0, max(len(run) - size + 1, 0)):
                        words = run[start : start + size]
                        phrase = " ".join(words)
                        if len(phrase) < 4 or (size == 1 and not _strong_word(words[0])):
                            continue
                        key = phrase.lower()
                        counts[key] += 1
                        forms.setdefault(key, Counter())[phrase] += 1
                        if source == "title":
                            in_title.add(key)
                run = []
    scored = [
        _Candidate(
            _shown(forms[key].most_common(1)[0][0]), n + 1.5 * (key in in_title) + 0.6 * key.count(" ")
        )
        for key, n in counts.items()
    ]
    scored.sort(key=lambda c: (-c.score, c.text.lower()))
    return [c.text for c in scored[:limit]]


_NOT_ADVERBS = frozenset(
    {"anomaly", "family", "assembly", "monopoly", "butterfly", "supply", "italy", "poly"}
)


def _content_word(token: str) -> bool:
    lower = token.lower()
    if lower in _STOP or token.isdigit() or len(token) < 2:
        return False
    return not (lower.endswith("ly") and len(lower) > 5 and lower not in _NOT_ADVERBS)  # adverbs


def _strong_word(word: str) -> bool:
    """A single word worth a chip on its own: an acronym or a coined name (LLMs, BERT, MLLMs, W-Bench)."""
    return sum(ch.isupper() for ch in word) >= 2 or ("-" in word and len(word) >= 6)


def _shown(phrase: str) -> str:
    """Lower case, except acronyms and coined names (LLMs stays LLMs; Contrastive Loss → contrastive loss)."""
    return " ".join(w if sum(ch.isupper() for ch in w) >= 2 else w.lower() for w in phrase.split())


def choose(
    phrases: Sequence[str], vectors: npt.NDArray[np.float32], paper: npt.NDArray[np.float32], keep: int = KEEP
) -> list[str]:
    """Up to `keep` phrases by maximal marginal relevance to the paper's vector (normalized vectors)."""
    if not phrases:
        return []
    relevance = vectors @ paper
    chosen: list[int] = []
    remaining = [i for i in range(len(phrases)) if relevance[i] >= MIN_SIMILARITY]
    while remaining and len(chosen) < keep:
        if chosen:
            overlap = (vectors[remaining] @ vectors[chosen].T).max(axis=1)
            value = DIVERSITY * relevance[remaining] - (1 - DIVERSITY) * overlap
        else:
            value = relevance[remaining]
        best = remaining[int(np.argmax(value))]
        chosen.append(best)
        remaining.remove(best)
        # A phrase whose words are all in a chosen one (or that holds all of its words) says nothing new.
        taken = query_stems(phrases[best])
        remaining = [
            i for i in remaining if not (query_stems(phrases[i]) <= taken or taken <= query_stems(phrases[i]))
        ]
    return [phrases[i] for i in chosen]


def keyphrases(
    embedder: Embedder, papers: Sequence[tuple[str, str, npt.NDArray[np.float32]]]
) -> list[list[str]]:
    """The keyphrases of each (title, abstract, vector); one batched embedding call for all candidates."""
    lists = [candidates(title, abstract) for title, abstract, _ in papers]
    flat = [phrase for phrases in lists for phrase in phrases]
    if not flat:
        return [[] for _ in papers]
    embedded = np.asarray(embedder.embed_documents(flat), dtype=np.float32)
    found, start = [], 0
    for phrases, (_, _, vector) in zip(lists, papers, strict=True):
        found.append(choose(phrases, embedded[start : start + len(phrases)], vector))
        start += len(phrases)
    return found
