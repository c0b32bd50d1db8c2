"""Search as a new user meets it: the whole library keyword-searchable before any vector exists, typos
forgiven, TeX read as words, arXiv ids that go to the paper, and an index that says what it knows.

Most tests run on the real starter corpus (the shared arXiv sample and the Hugging Face daily list),
loaded once into SQLite and indexed by keyword only: exactly what `make run` serves in its first minute.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from paperboy.config import Settings
from paperboy.db.engine import engine_from_settings, session_factory
from paperboy.db.migrate import upgrade
from paperboy.db.repositories.papers import upsert_papers
from paperboy.db.repositories.search_docs import all_titles, paper_contents, paper_id_for, paper_ids_after
from paperboy.db.repositories.vector_queue import take_vector_batch
from paperboy.ingest.http import PoliteClient
from paperboy.ingest.runner import run_ingest
from paperboy.ingest.starter import starter_sources
from paperboy.search.embedder import Vectors
from paperboy.search.indexer import Indexer
from paperboy.search.query import title_key
from paperboy.search.service import SearchRequest, SearchResult, SearchService
from paperboy.search.status import index_status
from paperboy.search.terms import indexed_text
from paperboy.tex import fold
from search_support import MemoizingEmbedder, sample_records
from web_support import ingest_hf_daily


@dataclass
class Library:
    settings: Settings
    sessions: sessionmaker[Session]
    service: SearchService
    texts: dict[str, str]
    """arXiv id → title and abstract as the indexes read them (TeX as words, folded), to judge results."""


def keyword_only(indexer: Indexer) -> None:
    """An index run stopped before its vector pass: what serving looks like before any embedding."""
    stop = threading.Event()
    stop.set()
    indexer.run(stop=stop)


@pytest.fixture(scope="module")
def starter(
    tmp_path_factory: pytest.TempPathFactory, shared_data: Path, embedder: MemoizingEmbedder
) -> Iterator[Library]:
    home = tmp_path_factory.mktemp("starter")
    settings = Settings(home=home, shared_data=shared_data, database_url="", http_delay=0)
    engine = engine_from_settings(settings)
    upgrade(engine)
    sessions = session_factory(engine)
    for source in starter_sources(settings, PoliteClient(delay=0)):
        run_ingest(sessions, source)
    calls = embedder.calls
    keyword_only(Indexer(sessions, home, embedder))
    assert embedder.calls == calls, "the keyword pass embeds nothing"
    with sessions() as session:
        contents = paper_contents(session, paper_ids_after(session, 0, 100_000))
    texts = {c.arxiv_id: fold(indexed_text(c.title, c.abstract)) for c in contents.values()}
    yield Library(settings, sessions, SearchService(sessions, home, embedder), texts)
    engine.dispose()


def top(library: Library, query: str, k: int = 10, **options: object) -> SearchResult:
    return library.service.search(SearchRequest(query, k=k, **options))  # type: ignore[arg-type]


def holding(library: Library, result: SearchResult, *needles: str) -> int:
    """How many hits hold every needle in their title or abstract."""
    return sum(all(n in library.texts[h.paper.arxiv_id] for n in needles) for h in result.hits)


# --- keyword search covers every paper at once ----------------------------------------------------
def test_the_whole_library_is_keyword_searchable_before_any_vector(starter: Library) -> None:
    status = starter.service.status()
    assert status.papers == status.lexical > 4000
    assert status.embedded == 0 and status.queued >= status.papers
    assert status.state == "embedding" and not status.semantic_complete
    notice = status.notice()
    assert notice and f"covers 0 of {status.papers:,} papers" in notice and "keyword search" in notice


def test_exact_titles_and_ids_find_their_paper_from_the_first_second(starter: Library) -> None:
    with starter.sessions() as session:
        titles = all_titles(session)
    keys: dict[str, list[str]] = {}
    for arxiv_id, title in titles:
        keys.setdefault(title_key(title), []).append(arxiv_id)
    unique = [(i, t) for i, t in titles if len(keys[title_key(t)]) == 1 and len(t.split()) > 2]
    # The first paper on the home page (the Hugging Face list of 2024-10-25), and 40 others at random.
    chosen = [(i, t) for i, t in unique if i == "2410.17243"] + random.Random(7).sample(unique, 40)
    for arxiv_id, title in chosen:
        result = top(starter, title, k=3)
        assert result.hits[0].paper.arxiv_id == arxiv_id, title
        assert result.hits[0].match == "title"
        assert top(starter, arxiv_id).hits[0].paper.arxiv_id == arxiv_id


# --- typos, TeX and scripts the library has no words for ------------------------------------------
def test_misspelled_queries_are_corrected_and_find_the_topic(starter: Library) -> None:
    rag = top(starter, "retreival augmneted generaton")
    assert rag.correction is not None and rag.searched_for == "retrieval augmented generation"
    assert holding(starter, rag, "retrieval", "augment") >= 9
    robots = top(starter, "difusion polcy for robt manipulaton")
    assert robots.correction is not None
    assert dict(robots.correction.changes) == {
        "difusion": "diffusion",
        "polcy": "policy",
        "manipulaton": "manipulation",
    }, "four-letter words ('robt') are left as typed"
    assert holding(starter, robots, "diffusion polic") >= 9
    as_typed = top(starter, "retreival augmneted generaton", correct=False)
    assert as_typed.correction is None and holding(starter, as_typed, "retrieval", "augment") < 5


def test_correctly_spelled_rare_words_are_not_corrected(starter: Library) -> None:
    for query in ("Koopman operators", "CeCoIn5 quantum criticality", "hydrino states"):
        assert top(starter, query).correction is None, query


def test_tex_in_queries_means_the_words_it_stands_for(starter: Library) -> None:
    schrodinger = top(starter, 'Schr\\"odinger equation', k=5)
    assert holding(starter, schrodinger, "schrodinger") == 5
    assert [h.paper.arxiv_id for h in top(starter, "Schrödinger equation", k=5).hits] == [
        h.paper.arxiv_id for h in schrodinger.hits
    ]
    divergence = top(starter, "$\\alpha$-divergence", k=5)
    assert divergence.relaxed == (("alpha-divergence", "divergence"),)
    assert holding(starter, divergence, "divergence") == 5, "papers about divergences, not about alpha"
    same = top(starter, "\u03b1-divergence", k=5)
    assert [h.paper.arxiv_id for h in same.hits] == [h.paper.arxiv_id for h in divergence.hits]


def test_a_script_the_library_has_no_words_in_finds_nothing(starter: Library) -> None:
    result = top(starter, "神经网络")
    assert result.hits == [] and result.unknown_words == ("神经网络",)
    assert top(starter, "神经网络 reinforcement learning").hits, "known words still search"


# --- an arXiv id goes to the paper --------------------------------------------------------------
@pytest.mark.parametrize(
    "query",
    [
        "2410.17243",
        "2410.17243v1",
        "arXiv:2410.17243v2",
        "https://arxiv.org/abs/2410.17243",
        "https://arxiv.org/pdf/2410.17243v1",
    ],
)
def test_an_arxiv_id_in_any_form_answers_with_that_paper_alone(starter: Library, query: str) -> None:
    result = top(starter, query)
    assert [h.paper.arxiv_id for h in result.hits] == ["2410.17243"] and result.exact_id == "2410.17243"
    assert result.hits[0].match == "arxiv-id" and not result.has_more
    related = top(starter, query, related=True)
    assert related.hits[0].paper.arxiv_id == "2410.17243" and len(related.hits) > 1


def test_results_carry_community_totals_and_the_number_of_matches(starter: Library) -> None:
    result = top(starter, "Dreaming Learning", k=20, count=True)
    assert result.total >= len(result.hits) > 0
    listed = next(h for h in top(starter, "2410.17243").hits)
    assert listed.totals.upvotes > 0 and listed.totals.comments >= 0


@pytest.mark.parametrize("mode", ["hybrid", "lexical"])
def test_very_many_matches_are_estimated_not_walked(
    starter: Library, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Counting a million matches one by one cost a seventh of a search at 2.7M papers: above a threshold
    the number comes from the words' document frequencies, to three figures, and says it is an estimate."""
    import paperboy.search.lexical as lexical

    exact = top(starter, "learning model", mode=mode, count=True)
    assert not exact.total_estimated and exact.total > 1000
    monkeypatch.setattr(lexical, "EXACT_COUNT_UP_TO", 100)
    estimated = top(starter, "learning model", mode=mode, count=True)
    assert estimated.total_estimated and estimated.total == int(float(f"{estimated.total:.3g}"))
    assert 0.7 * exact.total <= estimated.total <= 1.3 * exact.total, (estimated.total, exact.total)
    assert [h.paper.arxiv_id for h in estimated.hits] == [h.paper.arxiv_id for h in exact.hits]
    # Filters and phrases narrow the matches beyond what frequencies tell: those are counted.
    quoted = top(starter, '"language model" learning', mode=mode, count=True)
    assert not quoted.total_estimated
    # Few matches are counted exactly whatever the threshold says they would cost.
    monkeypatch.setattr(lexical, "EXACT_COUNT_UP_TO", 50_000)
    assert not top(starter, "learning model", mode=mode, count=True).total_estimated


# --- the embedding backlog, in the order visitors meet papers ---------------------------------------
def test_papers_on_daily_lists_get_vectors_first_then_the_newest(
    sessions: sessionmaker[Session], shared_data: Path, tmp_path: Path, embedder: MemoizingEmbedder
) -> None:
    ingest_hf_daily(sessions, shared_data)
    dated = sample_records(shared_data, limit=12)
    undated = [replace(dated[0], arxiv_id="2401.99999", published_at=None, updated_at=None, title="Undated")]
    with sessions() as session, session.begin():
        upsert_papers(session, [*dated, *undated])
    keyword_only(Indexer(sessions, tmp_path / "home", embedder))
    with sessions() as session:
        order = [pid for pid, _, _ in take_vector_batch(session, 1000)]
        ids = {paper_id_for(session, r.arxiv_id): r.arxiv_id for r in [*dated, *undated]}
    listed = [pid for pid in order if pid not in ids]
    assert len(listed) == 29 and order[:29] == listed, "the Hugging Face list of the day comes first"
    rest = [ids[pid] for pid in order[29:]]
    newest_first = [r.arxiv_id for r in sorted(dated, key=lambda r: r.published_at, reverse=True)]
    assert rest == [*newest_first, "2401.99999"], "then newest published, then undated"


class GatedEmbedder:
    """The real embedder, held at a gate: a test can look at the index while embedding is in progress."""

    def __init__(self, inner: MemoizingEmbedder) -> None:
        self.inner = inner
        self.name, self.dim, self.signature = inner.name, inner.dim, inner.signature
        self.gate = threading.Event()
        self.waiting = threading.Event()

    def embed_documents(self, texts: Sequence[str]) -> Vectors:
        self.waiting.set()
        assert self.gate.wait(60), "the test never opened the gate"
        return self.inner.embed_documents(texts)

    def embed_query(self, text: str) -> Vectors:
        return self.inner.embed_query(text)


def test_keyword_search_and_status_while_the_vectors_are_being_computed(
    sessions: sessionmaker[Session], shared_data: Path, tmp_path: Path, embedder: MemoizingEmbedder
) -> None:
    records = sample_records(shared_data, limit=40)
    with sessions() as session, session.begin():
        upsert_papers(session, records)
    gated = GatedEmbedder(embedder)
    home = tmp_path / "home"
    indexer = Indexer(sessions, home, gated, batch_size=8)  # type: ignore[arg-type]
    run = threading.Thread(target=indexer.run, daemon=True)
    run.start()
    try:
        assert gated.waiting.wait(60), "the vector pass never started"
        service = SearchService(sessions, home, gated)  # type: ignore[arg-type]
        status = index_status(sessions, service.backend)
        assert (status.papers, status.lexical, status.embedded) == (40, 40, 0)
        assert status.queued == 40 and status.state == "embedding"
        target = records[17]
        result = service.search(SearchRequest(target.title, k=5))
        assert result.hits[0].paper.arxiv_id == target.arxiv_id and result.hits[0].match == "title"
        words = service.search(SearchRequest("generalisation", k=10))
        assert words.hits and all(h.dense is None and h.lexical for h in words.hits), "ranked on BM25 alone"
        with sessions() as session:
            target_id = paper_id_for(session, target.arxiv_id)
        assert target_id is not None and service.similar(target_id) is None, "no vector yet, said so"
    finally:
        gated.gate.set()
        run.join(120)
    assert not run.is_alive()
    status = index_status(sessions, SearchService(sessions, home, embedder).backend)
    assert status.semantic_complete and status.embedded == 40 and status.seconds_left == 0
    assert status.rate and status.rate > 0


def test_status_estimates_the_time_left_from_the_measured_rate() -> None:
    from paperboy.search.status import IndexStatus

    status = IndexStatus(1000, 1000, 400, 600, 0, 30.0, True, "embedded")
    assert status.seconds_left == pytest.approx(20.0)
    assert status.as_json()["seconds_left"] == 20 and status.as_json()["state"] == "embedding"
    assert "400 of 1,000" in (status.notice() or "") and "20 seconds left" in (status.notice() or "")
    assert IndexStatus(0, 0, 0, 0, 0, None, False, "embedded").notice().startswith("The library is empty")  # type: ignore[union-attr]
    assert IndexStatus(5, 5, 5, 0, 0, None, False, "embedded").notice() is None
