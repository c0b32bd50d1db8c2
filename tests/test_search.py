"""Hybrid search end to end: ingest → queue → indexer → search service, on real abstracts, both databases
and every search backend (embedded tantivy + usearch, Qdrant in local mode)."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from paperboy.db.records import DeletedRecord
from paperboy.db.repositories.papers import get_paper, mark_deleted, upsert_papers
from paperboy.db.repositories.queue import pending_count
from paperboy.search.backend import SearchBackend
from paperboy.search.embedded import EmbeddedBackend
from paperboy.search.fusion import FusionParams
from paperboy.search.indexer import Indexer
from paperboy.search.qdrant import QdrantBackend
from paperboy.search.query import QueryError, SearchFilters
from paperboy.search.service import SearchRequest, SearchService
from paperboy.search.terms import analyzer
from search_support import MemoizingEmbedder, sample_records


@pytest.fixture
def corpus(shared_data: Path) -> list:
    return sample_records(shared_data)


@pytest.fixture(params=["embedded", "qdrant"])
def backend(
    request: pytest.FixtureRequest, tmp_path: Path, embedder: MemoizingEmbedder
) -> Iterator[SearchBackend]:
    """Every search test runs against each backend, so their behaviour cannot drift apart."""
    if request.param == "embedded":
        chosen: SearchBackend = EmbeddedBackend(tmp_path / "home", embedder.dim)
    else:  # qdrant-client's local mode: the same client code as against a server, in-process
        chosen = QdrantBackend(str(tmp_path / "qdrant"), embedder.dim, tmp_path / "home")
    yield chosen
    chosen.close()


@pytest.fixture
def indexed(
    sessions: sessionmaker[Session], backend: SearchBackend, embedder: MemoizingEmbedder, corpus: list
) -> tuple[Indexer, SearchService]:
    with sessions() as session, session.begin():
        upsert_papers(session, corpus)
    indexer = Indexer(sessions, backend, embedder)
    summary = indexer.run()
    assert summary.indexed == len(corpus) and summary.documents == len(corpus)
    return indexer, SearchService(sessions, backend, embedder)


def ids(service: SearchService, query: str, **options: object) -> list[str]:
    result = service.search(SearchRequest(query, **options))  # type: ignore[arg-type]
    return [hit.paper.arxiv_id for hit in result.hits]


def fresh(service: SearchService) -> SearchService:
    """Skip the once-a-second refresh throttles, as a second later would."""
    for attribute in ("_checked", "_alias_checked"):
        if hasattr(service.backend, attribute):
            setattr(service.backend, attribute, 0.0)
    return service


def test_every_paper_is_indexed_once_and_the_queue_is_empty(
    indexed: tuple[Indexer, SearchService], sessions: sessionmaker[Session], corpus: list
) -> None:
    indexer, service = indexed
    assert service.backend.counts().lexical == len(corpus)
    if isinstance(service.backend, EmbeddedBackend):
        store = service.backend.store()
        assert store.lexical.count() == len(store.vectors) == len(corpus)
    with sessions() as session:
        assert pending_count(session) == 0
    again = indexer.run()
    assert (again.indexed, again.embedded) == (0, 0)


def test_lexical_finds_the_exact_word_first(indexed: tuple[Indexer, SearchService], corpus: list) -> None:
    _, service = indexed
    containing = {r.arxiv_id for r in corpus if "generalisation" in f"{r.title} {r.abstract}".lower()}
    assert containing, "the sample has papers spelling it 'generalisation'"
    # The English stemmer maps generalisation, generalisability, ... to one stem: all of them match.
    same_stem = {r.arxiv_id for r in corpus if "generalis" in analyzer().analyze(f"{r.title} {r.abstract}")}
    assert containing < same_stem
    top = ids(service, "generalisation", mode="lexical", k=len(same_stem) + 5)
    assert set(top) == same_stem, "exactly the papers with the word's stem match (BM25 needs the word)"


def test_dense_finds_related_papers_without_the_word(
    indexed: tuple[Indexer, SearchService], corpus: list
) -> None:
    _, service = indexed
    top = ids(service, "models that perform well on data unlike their training data", mode="dense", k=10)
    titles = {r.arxiv_id: r.title.lower() for r in corpus}
    assert any(
        "generali" in titles[i] or "distribution" in titles[i] or "robust" in titles[i] for i in top[:5]
    )


def test_hybrid_scores_are_explained_and_ordered(indexed: tuple[Indexer, SearchService]) -> None:
    _, service = indexed
    result = service.search(SearchRequest("adaptive optimizer step sizes from gradient belief", k=10))
    fused = [hit.fused for hit in result.hits]
    assert all(value is not None for value in fused)
    assert fused == sorted(fused, reverse=True)  # type: ignore[type-var]
    top = result.hits[0]
    assert top.lexical is not None and top.lexical > 0 and top.dense is not None and top.dense > 0.3
    assert top.paper.title.startswith("AdaBelief Optimizer")


def test_exact_arxiv_id_and_exact_title_come_first(
    indexed: tuple[Indexer, SearchService], corpus: list
) -> None:
    _, service = indexed
    target = corpus[37]
    for mode in ("hybrid", "lexical", "dense"):
        result = service.search(SearchRequest(target.arxiv_id, mode=mode))  # type: ignore[arg-type]
        assert result.hits[0].paper.arxiv_id == target.arxiv_id and result.hits[0].match == "arxiv-id"
        result = service.search(SearchRequest(target.title.upper() + "!", mode=mode))  # type: ignore[arg-type]
        assert result.hits[0].paper.arxiv_id == target.arxiv_id and result.hits[0].match == "title"
        assert [h.paper.arxiv_id for h in result.hits].count(target.arxiv_id) == 1


def test_date_category_and_author_filters(indexed: tuple[Indexer, SearchService], corpus: list) -> None:
    _, service = indexed
    window = SearchFilters(date_from=date(2024, 1, 11), date_to=date(2024, 1, 20))
    for mode in ("hybrid", "lexical", "dense"):
        hits = service.search(SearchRequest("learning", k=50, mode=mode, filters=window)).hits  # type: ignore[arg-type]
        assert hits and all(
            date(2024, 1, 11) <= h.paper.published_at.date() <= date(2024, 1, 20) for h in hits
        )  # type: ignore[union-attr]
        hits = service.search(SearchRequest("learning cat:cs.CL", k=50, mode=mode)).hits  # type: ignore[arg-type]
        assert hits and all("cs.CL" in h.paper.categories for h in hits)
    cl = service.search(SearchRequest("learning", k=100, filters=SearchFilters(categories=("cs.CL",)))).hits
    assert {h.paper.arxiv_id for h in cl} <= {r.arxiv_id for r in corpus if "cs.CL" in r.categories}
    by_author = ids(service, 'author:"Author 3"', k=100)
    assert set(by_author) == {r.arxiv_id for r in corpus if "Author 3" in r.authors}
    expected_order = sorted(
        by_author, key=lambda i: next(r.published_at for r in corpus if r.arxiv_id == i), reverse=True
    )
    assert by_author == expected_order, "filter-only queries list the newest first"


def test_pagination_is_disjoint_and_continuous(indexed: tuple[Indexer, SearchService]) -> None:
    _, service = indexed
    first = ids(service, "neural network training", k=10, page=1)
    second = ids(service, "neural network training", k=10, page=2)
    both = ids(service, "neural network training", k=20, page=1)
    assert len(first) == len(second) == 10
    assert not set(first) & set(second)
    assert first + second == both


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("x" * 1001, "too long"),
        ("AND OR NOT", "no words"),
        ('"" + - : ( ) ^', "no words"),
    ],
)
def test_bad_queries_are_clear_errors(
    indexed: tuple[Indexer, SearchService], query: str, message: str
) -> None:
    _, service = indexed
    with pytest.raises(QueryError, match=message):
        service.search(SearchRequest(query))


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (SearchRequest("a", k=0), "k must be"),
        (SearchRequest("a", page=101), "page must be"),
        (SearchRequest("a", mode="fuzzy"), "mode must be"),  # type: ignore[arg-type]
        (
            SearchRequest("a", filters=SearchFilters(date(2024, 2, 1), date(2024, 1, 1))),
            "date range is empty",
        ),
    ],
)
def test_bad_parameters_are_clear_errors(
    indexed: tuple[Indexer, SearchService], request_: SearchRequest, message: str
) -> None:
    _, service = indexed
    with pytest.raises(QueryError, match=message):
        service.search(request_)


@pytest.mark.parametrize(
    ("noisy", "clean"),
    [
        ('"unclosed phrase about learning', "unclosed phrase about learning"),
        ("learning^2 (transfer) +domain -shift [a TO b]", "learning 2 transfer domain shift a TO b"),
        ("C++ & graphs/networks \\ test", "C graphs networks test"),
    ],
)
def test_query_syntax_characters_are_treated_as_plain_words(
    indexed: tuple[Indexer, SearchService], noisy: str, clean: str
) -> None:
    _, service = indexed
    assert ids(service, noisy, k=20) == ids(service, clean, k=20)
    assert ids(service, noisy, k=20)


def test_changed_and_withdrawn_papers_are_reindexed_and_removed(
    indexed: tuple[Indexer, SearchService], sessions: sessionmaker[Session], corpus: list
) -> None:
    indexer, service = indexed
    changed = replace(corpus[5], title="Zymurgical fermentation kinetics of sourdough", version=2)
    with sessions() as session, session.begin():
        upsert_papers(session, [changed])
        mark_deleted(session, [DeletedRecord(corpus[6].arxiv_id, "test")])
    summary = indexer.run()
    assert (summary.indexed, summary.removed, summary.embedded) == (1, 1, 1)
    fresh(service)
    assert ids(service, "zymurgical sourdough", mode="lexical") == [changed.arxiv_id]
    assert corpus[6].arxiv_id not in ids(service, corpus[6].title, k=50)
    assert corpus[6].arxiv_id not in ids(service, corpus[6].arxiv_id, k=50)
    assert service.backend.counts().lexical == len(corpus) - 1
    if isinstance(service.backend, EmbeddedBackend):
        store = service.backend.store()
        assert store.lexical.count() == len(store.vectors) == len(corpus) - 1


def test_rebuild_reuses_vectors_and_gives_the_same_results(
    indexed: tuple[Indexer, SearchService], embedder: MemoizingEmbedder, corpus: list
) -> None:
    indexer, service = indexed
    queries = [
        "generalization in deep learning",
        "language model reasoning",
        corpus[3].title,
        'author:"Author 1"',
    ]
    before = {q: ids(service, q, k=20) for q in queries}
    old_build = service.backend.store().build if isinstance(service.backend, EmbeddedBackend) else None
    calls = embedder.calls
    summary = indexer.rebuild()
    assert summary.embedded == 0 and summary.reused_vectors == len(corpus) and embedder.calls == calls
    assert summary.documents == len(corpus) == service.backend.counts().lexical
    fresh(service)
    if isinstance(service.backend, EmbeddedBackend) and old_build is not None:
        assert service.backend.store().build != old_build and not old_build.exists()
    after = {q: ids(service, q, k=20) for q in queries}
    assert after == before


def test_server_sees_new_papers_without_restart(
    indexed: tuple[Indexer, SearchService], sessions: sessionmaker[Session], corpus: list
) -> None:
    indexer, service = indexed
    assert ids(service, "quokka", mode="lexical") == []
    newcomer = replace(
        corpus[0], arxiv_id="2402.00001", title="Quokka behaviour under reinforcement learning"
    )
    with sessions() as session, session.begin():
        upsert_papers(session, [newcomer])
    indexer.run()
    fresh(service)
    assert ids(service, "quokka", mode="lexical") == ["2402.00001"]
    with sessions() as session:
        assert get_paper(session, "2402.00001") is not None


def test_similar_papers_exclude_the_paper_itself(
    indexed: tuple[Indexer, SearchService], sessions: sessionmaker[Session], corpus: list
) -> None:
    _, service = indexed
    with sessions() as session:
        paper = get_paper(session, corpus[10].arxiv_id)
        assert paper is not None
        paper_id = paper.id
    similar = service.similar(paper_id, k=5)
    assert len(similar) == 5
    assert paper_id not in {hit.paper.paper_id for hit in similar}
    scores = [hit.score for hit in similar]
    assert scores == sorted(scores, reverse=True)


def test_background_indexer_of_serve_indexes_new_papers(
    indexed: tuple[Indexer, SearchService],
    sessions: sessionmaker[Session],
    corpus: list,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """`paperboy serve` indexes new papers within seconds and says in its log how far it is."""
    from paperboy.search.scheduler import background_indexer

    caplog.set_level(logging.INFO, logger="paperboy")
    indexer, service = indexed
    newcomer = replace(corpus[1], arxiv_id="2403.00001", title="Axolotl regeneration as a benchmark")
    with sessions() as session, session.begin():
        upsert_papers(session, [newcomer])
    background = background_indexer(indexer, interval=0.1)
    background.start()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any("done: all" in r.getMessage() for r in caplog.records):
            time.sleep(0.1)
    finally:
        background.stop()
    assert ids(fresh(service), "axolotl", mode="lexical") == ["2403.00001"]
    with sessions() as session:
        assert pending_count(session) == 0
    logged = [r.getMessage() for r in caplog.records if r.name.startswith("paperboy")]
    assert any(m.startswith("keyword index: done, 1 of 1 papers") for m in logged), logged
    assert any(m.startswith("vectors: done") for m in logged), logged
    assert any("done: all 121 papers are searchable by keyword and meaning" in m for m in logged), logged


def test_a_new_backend_gets_every_paper_on_its_first_run(
    indexed: tuple[Indexer, SearchService],
    sessions: sessionmaker[Session],
    embedder: MemoizingEmbedder,
    tmp_path: Path,
    corpus: list,
) -> None:
    """Switching backends (or deleting the index) after the queue was emptied still indexes everything."""
    indexer, _ = indexed
    with sessions() as session:
        assert pending_count(session) == 0
    other = QdrantBackend(str(tmp_path / "other-qdrant"), embedder.dim, tmp_path / "home")
    if isinstance(indexer.backend, QdrantBackend):
        other.close()
        other = EmbeddedBackend(tmp_path / "other-home", embedder.dim)
    try:
        calls = embedder.calls
        summary = Indexer(sessions, other, embedder).run()
        assert summary.indexed == len(corpus) == other.counts().lexical
        assert summary.embedded == 0 and embedder.calls == calls, "the stored vectors are reused"
        found = SearchService(sessions, other, embedder).search(SearchRequest(corpus[3].title))
        assert found.hits[0].paper.arxiv_id == corpus[3].arxiv_id
    finally:
        other.close()


def test_exact_titles_with_operator_words_are_pinned(
    indexed: tuple[Indexer, SearchService], corpus: list
) -> None:
    """The query parser drops "and"/"or"/"not", but a title containing them is still an exact match."""
    _, service = indexed
    target = next(r for r in corpus if " and " in r.title.lower())
    result = service.search(SearchRequest(target.title))
    assert result.hits[0].paper.arxiv_id == target.arxiv_id and result.hits[0].match == "title"


@pytest.fixture
def seed_page(
    sessions: sessionmaker[Session], backend: SearchBackend, embedder: MemoizingEmbedder, shared_data: Path
) -> tuple[SearchService, list]:
    """All 186 papers of the Hugging Face search sample, indexed: the seed page's own library."""
    corpus = sample_records(shared_data, limit=1000)
    with sessions() as session, session.begin():
        upsert_papers(session, corpus)
    Indexer(sessions, backend, embedder).run()
    return SearchService(sessions, backend, embedder), corpus


def test_exact_spelling_first_as_on_the_seed_page(seed_page: tuple[SearchService, list]) -> None:
    """Hugging Face lists the papers spelling "generalisation" first, then papers about generalization
    (Paperboy ranked two of them 8th and 10th, below papers that only matched in meaning)."""
    service, corpus = seed_page
    assert len(corpus) == 186
    exact = {r.arxiv_id for r in corpus if "generalisation" in f"{r.title} {r.abstract}".lower().split()}
    spelled = {r.arxiv_id for r in corpus if "generalisation" in f"{r.title} {r.abstract}".lower()}
    assert len(exact) >= 5 and spelled == {
        r.arxiv_id for r in corpus if re.search(r"\bgeneralisation\b", f"{r.title} {r.abstract}".lower())
    }
    result = service.search(SearchRequest("generalisation", k=20))
    assert {h.paper.arxiv_id for h in result.hits[: len(spelled)]} == spelled
    assert all(h.match in ("title-words", "all-words") for h in result.hits[: len(spelled)])
    rest = result.hits[len(spelled) :]
    assert rest and all(h.match is None for h in rest)
    assert (
        sum("generaliz" in f"{h.paper.title} {h.paper.abstract}".lower() for h in rest) >= len(rest) // 2
    ), "then papers about generalization"


def test_papers_without_vectors_are_ranked_on_their_bm25_evidence(
    indexed: tuple[Indexer, SearchService], corpus: list, sessions: sessionmaker[Session]
) -> None:
    """A paper whose vector is not computed yet competes on its words, not with a floor dense score."""
    _, service = indexed
    target = corpus[44]
    query = " ".join(target.title.split()[:6])
    with sessions() as session:
        target_id = get_paper(session, target.arxiv_id).id  # type: ignore[union-attr]
    before = ids(service, query, k=3, correct=False)
    assert before[0] == target.arxiv_id
    writer = service.backend.writer()
    writer.delete_vectors([target_id])
    writer.commit_vectors()
    fresh(service)
    after = service.search(SearchRequest(query, k=3, correct=False))
    assert after.hits[0].paper.arxiv_id == target.arxiv_id and after.hits[0].dense is None
    assert service.similar(target_id) is None


@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_the_fusion_weight_is_honoured_on_every_backend(
    indexed: tuple[Indexer, SearchService], alpha: float
) -> None:
    """Fusion happens once, in the service: alpha 0 ranks by BM25 alone and 1 by meaning alone, on the
    embedded index and on Qdrant alike (Qdrant used to fuse with its own method)."""
    _, service = indexed
    tuned = SearchService(service.sessions, service.backend, service.embedder, FusionParams(alpha=alpha))
    query = "optimizer with adaptive learning rates for deep networks"
    hybrid = [h.paper.arxiv_id for h in tuned.search(SearchRequest(query, k=5, correct=False)).hits]
    side = "lexical" if alpha == 0 else "dense"
    single = ids(service, query, k=5, mode=side, correct=False)
    assert hybrid == single
