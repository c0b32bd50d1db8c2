"""Pure parts of search: query parsing, score fusion, metrics, and the embedder against its reference."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from paperboy.search.embedder import MiniLmOnnxEmbedder
from paperboy.search.evaluation import mrr_at, ndcg_at, recall_at
from paperboy.search.fusion import FusionParams, fuse, reciprocal_rank_fusion
from paperboy.search.query import MAX_QUERY_CHARS, QueryError, parse_query, title_key
from search_support import MemoizingEmbedder

REFERENCE = Path(__file__).parent / "data" / "minilm_reference.json"


# --- query parsing ------------------------------------------------------------------------------
def test_query_parts_are_split() -> None:
    parsed = parse_query('graph "neural network" author:"Yann LeCun" author:bengio cat:cs.LG pruning')
    assert parsed.words == ("graph", "pruning")
    assert parsed.phrases == ("neural network",)
    assert parsed.authors == ("Yann LeCun", "bengio")
    assert parsed.categories == ("cs.LG",)
    assert parsed.text == "graph neural network pruning"


def test_operators_and_punctuation_are_dropped_not_parsed() -> None:
    parsed = parse_query("transformers AND (attention OR recurrence) -lstm +gru^2")
    assert parsed.words == ("transformers", "attention", "recurrence", "lstm", "gru", "2")


def test_one_word_phrase_is_a_word_and_filter_only_queries_are_allowed() -> None:
    assert parse_query('"diffusion"').words == ("diffusion",)
    only_filter = parse_query("author:hinton")
    assert not only_filter.has_terms and only_filter.authors == ("hinton",)


@pytest.mark.parametrize("query", ["", " \t", "AND OR", '""', "+-:()^", "author: cat:"])
def test_unsearchable_queries_raise(query: str) -> None:
    with pytest.raises(QueryError):
        parse_query(query)


def test_length_limit_is_exact() -> None:
    parse_query("a" * MAX_QUERY_CHARS)
    with pytest.raises(QueryError, match="too long"):
        parse_query("a" * (MAX_QUERY_CHARS + 1))


def test_title_key_ignores_case_and_punctuation() -> None:
    assert title_key("Attention Is All You Need!") == title_key("attention is all   you need")
    assert title_key("Attention Is All You Need") != title_key("Attention Is Not All You Need")


# --- fusion ---------------------------------------------------------------------------------------
def test_fusion_orders_by_weighted_normalized_scores() -> None:
    lexical = {1: 10.0, 2: 5.0, 3: 0.0}
    dense = {1: 0.2, 2: 0.9, 3: 0.5}
    lexical_heavy = fuse(lexical, dense, FusionParams(alpha=0.1, normalization="minmax"))
    dense_heavy = fuse(lexical, dense, FusionParams(alpha=0.9, normalization="minmax"))
    assert max(lexical_heavy, key=lambda k: lexical_heavy[k].fused) == 1
    assert max(dense_heavy, key=lambda k: dense_heavy[k].fused) == 2
    even = fuse(lexical, dense, FusionParams(alpha=0.5, normalization="minmax"))
    assert even[1].fused == pytest.approx(0.5 * 0.0 + 0.5 * 1.0)
    assert even[2].fused == pytest.approx(0.5 * 1.0 + 0.5 * 0.5)
    assert (even[2].lexical, even[2].dense) == (5.0, 0.9)


def test_zscore_fusion_and_missing_scores_get_the_floor() -> None:
    fused = fuse({1: 3.0, 2: 1.0}, {1: 0.5, 2: 0.5, 3: 0.9}, FusionParams(alpha=0.5))
    assert fused[3].lexical is None and fused[3].dense == 0.9
    dense_z = (np.array([0.5, 0.5, 0.9]) - 0.6333333) / np.std([0.5, 0.5, 0.9])
    # lexical z-scores are +1 and -1; candidate 3, missing there, gets the floor (-1)
    assert fused[1].fused == pytest.approx(0.5 * dense_z[0] + 0.5 * 1.0, abs=1e-5)
    assert fused[2].fused == pytest.approx(0.5 * dense_z[1] - 0.5, abs=1e-5)
    assert fused[3].fused == pytest.approx(0.5 * dense_z[2] - 0.5, abs=1e-5)
    assert sorted(fused, key=lambda k: -fused[k].fused) == [3, 1, 2]


def test_reciprocal_rank_fusion() -> None:
    scores = reciprocal_rank_fusion([[1, 2, 3], [3, 1]], k=60)
    assert scores[1] == pytest.approx(1 / 61 + 1 / 62)
    assert sorted(scores, key=lambda k: -scores[k]) == [1, 3, 2]


# --- metrics --------------------------------------------------------------------------------------
def test_metrics_match_hand_computed_values() -> None:
    judged = {"a": 1, "b": 2}
    ranked = ["x", "b", "a"]
    ideal = 2 / np.log2(2) + 1 / np.log2(3)
    assert ndcg_at(ranked, judged, 10) == pytest.approx((2 / np.log2(3) + 1 / np.log2(4)) / ideal)
    assert recall_at(ranked, judged, 2) == 0.5 and recall_at(ranked, judged, 10) == 1.0
    assert mrr_at(ranked, judged, 10) == 0.5
    assert ndcg_at([], judged, 10) == 0.0 and mrr_at(["x"], judged, 10) == 0.0


# --- embedder -------------------------------------------------------------------------------------
def _reference(shared_data: Path) -> tuple[list[str], list[str], np.ndarray]:
    reference = json.loads(REFERENCE.read_text())
    corpus: dict[str, str] = {}
    for line in (shared_data / "beir" / "scifact" / "corpus.part02.jsonl").read_text().splitlines():
        item = json.loads(line)
        if item["_id"] in reference["corpus_ids"]:
            corpus[item["_id"]] = f"{item['title']}. {item['text']}"
    queries = {}
    for line in (shared_data / "beir" / "scifact" / "queries.jsonl").read_text().splitlines():
        item = json.loads(line)
        queries[item["_id"]] = item["text"]
    docs = [corpus[i] for i in reference["corpus_ids"]]
    query_texts = [queries[i] for i in reference["query_ids"]]
    return docs, query_texts, np.asarray(reference["vectors"], dtype=np.float32)


def test_onnx_int8_vectors_agree_with_the_pytorch_reference(shared_data: Path) -> None:
    """Reference vectors were computed once with sentence-transformers + torch (tests/data)."""
    docs, queries, expected = _reference(shared_data)
    embedder = MiniLmOnnxEmbedder(max_chunks=1)
    got = np.vstack([embedder.embed_documents(docs), np.vstack([embedder.embed_query(q) for q in queries])])
    cosines = (got * expected).sum(axis=1) / np.linalg.norm(expected, axis=1)
    assert cosines.mean() >= 0.999
    assert cosines.min() >= 0.995
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)


def test_embedding_similarity_reflects_meaning(embedder: MemoizingEmbedder) -> None:
    vectors = embedder.embed_documents(
        [
            "Training deep neural networks for image classification",
            "Convolutional networks learn to recognise objects in photographs",
            "The tax policy of medieval Venetian merchants",
        ]
    )
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2
    query = embedder.embed_query("image recognition with CNNs")
    assert query @ vectors[1] > query @ vectors[2]


def test_batching_by_length_does_not_change_vectors(embedder: MemoizingEmbedder) -> None:
    texts = ["short text", "a much longer text " * 40, "medium length text about graphs and networks"]
    together = embedder.inner.embed_documents(texts)
    alone = np.vstack([embedder.inner.embed_documents([t]) for t in texts])
    assert np.allclose(together, alone, atol=2e-3)


def test_long_abstracts_use_a_second_window(embedder: MemoizingEmbedder) -> None:
    head = "Protein folding is predicted by deep networks. " * 30
    tail = " Stock markets react to interest rate changes." * 40
    one = MiniLmOnnxEmbedder(max_chunks=1).embed_documents([head + tail])[0]
    two = MiniLmOnnxEmbedder(max_chunks=2).embed_documents([head + tail])[0]
    finance = embedder.embed_query("interest rates and stock markets")
    assert two @ finance > one @ finance


def test_vector_and_model_libraries_load_in_either_order() -> None:
    """usearch 2.26 crashed the interpreter when imported before onnxruntime; the pin must keep this working."""
    import subprocess
    import sys

    for order in ("import usearch.index, onnxruntime", "import onnxruntime, usearch.index"):
        done = subprocess.run([sys.executable, "-c", order], capture_output=True, timeout=120)
        assert done.returncode == 0, (order, done.returncode, done.stderr[-500:])
