"""Pure parts of search: query parsing, score fusion, metrics, and the embedder against its reference."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from paperboy.search.embedder import MiniLmOnnxEmbedder
from paperboy.search.evaluation import mrr_at, ndcg_at, recall_at
from paperboy.search.fusion import Candidates, FusionParams, fuse, reciprocal_rank_fusion
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
    candidates = Candidates(lexical={1: 10.0, 2: 5.0, 3: 0.0}, dense={1: 0.2, 2: 0.9, 3: 0.5})
    lexical_heavy = fuse(candidates, FusionParams(alpha=0.1, normalization="minmax"))
    dense_heavy = fuse(candidates, FusionParams(alpha=0.9, normalization="minmax"))
    assert max(lexical_heavy, key=lambda k: lexical_heavy[k].fused) == 1
    assert max(dense_heavy, key=lambda k: dense_heavy[k].fused) == 2
    even = fuse(candidates, FusionParams(alpha=0.5, normalization="minmax"))
    assert even[1].fused == pytest.approx(0.5 * 0.0 + 0.5 * 1.0)
    assert even[2].fused == pytest.approx(0.5 * 1.0 + 0.5 * 0.5)
    assert (even[2].lexical, even[2].dense) == (5.0, 0.9)


def test_papers_without_the_query_words_score_zero_bm25_in_the_normalization() -> None:
    """The evidence that two papers hold a rare word must survive normalization: the papers of the dense
    side that lack it count as BM25 0 (not as "the lowest of the matching ones")."""
    lexical = {1: 3.0, 2: 1.0}
    dense = dict.fromkeys(range(1, 11), 0.5)
    fused = fuse(Candidates(lexical=lexical, dense=dense), FusionParams(alpha=0.5))
    values = np.array([3.0, 1.0] + [0.0] * 8)
    z = (values - values.mean()) / values.std()
    assert fused[2].fused == pytest.approx(0.5 * z[1], abs=1e-6)  # dense all equal: z = 0
    assert fused[2].fused > fused[3].fused, "holding the word at all ranks above not holding it"
    assert fused[3].lexical == 0.0 and fused[3].dense == 0.5


def test_a_paper_without_a_vector_is_ranked_on_its_bm25_evidence() -> None:
    """No vector yet means an unknown dense score: its normalized BM25 stands in, it is not the floor."""
    candidates = Candidates(lexical={1: 9.0, 2: 3.0, 3: 1.0}, dense={2: 0.8, 3: 0.7})
    fused = fuse(candidates, FusionParams(alpha=0.6))
    assert fused[1].dense is None
    lex = np.array([9.0, 3.0, 1.0])
    lex_z = (lex - lex.mean()) / lex.std()
    assert fused[1].fused == pytest.approx(lex_z[0], abs=1e-6)
    assert max(fused, key=lambda k: fused[k].fused) == 1, "the strongest BM25 match leads although unembedded"


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


@pytest.mark.parametrize(("quantize", "mean", "least"), [(False, 0.999, 0.995), (True, 0.993, 0.99)])
def test_onnx_vectors_agree_with_the_pytorch_reference(
    shared_data: Path, quantize: bool, mean: float, least: float
) -> None:
    """Reference vectors were computed once with sentence-transformers + torch (tests/data). The packaged
    float32 graph matches them closely; the quantized graph Paperboy runs by default a little less
    closely, at the same SciFact quality (docs/EVALUATION.md)."""
    docs, queries, expected = _reference(shared_data)
    embedder = MiniLmOnnxEmbedder(max_chunks=1, quantize=quantize)
    got = np.vstack([embedder.embed_documents(docs), np.vstack([embedder.embed_query(q) for q in queries])])
    cosines = (got * expected).sum(axis=1) / np.linalg.norm(expected, axis=1)
    assert cosines.mean() >= mean
    assert cosines.min() >= least
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)


def test_a_vector_depends_on_its_text_only(embedder: MemoizingEmbedder) -> None:
    """One text per model run: the quantized model's activation scales never mix two texts."""
    texts = ["short text", "a much longer text " * 40, "medium length text about graphs and networks"]
    together = embedder.inner.embed_documents(texts)
    alone = np.vstack([embedder.inner.embed_documents([t]) for t in texts])
    assert np.array_equal(together, alone)


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


def test_the_embedder_runs_on_a_gpu_when_there_is_one_and_on_the_cpu_when_told() -> None:
    """No GPU here: the provider lists onnxruntime would report are given (the choice is what is tested)."""
    from paperboy.search.embedder import EmbedderUnavailable, execution_providers

    gpu = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    assert execution_providers("auto", gpu) == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert execution_providers("auto", ["CPUExecutionProvider"]) == ["CPUExecutionProvider"]
    assert execution_providers("cpu", gpu) == ["CPUExecutionProvider"]
    assert execution_providers("cuda", gpu) == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    with pytest.raises(EmbedderUnavailable, match="PAPERBOY_EMBED_DEVICE=cuda: this onnxruntime has no CUDA"):
        execution_providers("cuda", ["CPUExecutionProvider"])


def test_a_device_setting_other_than_auto_cpu_or_cuda_is_refused(cli: Any) -> None:
    from paperboy.cli import app as cli_app

    result = cli.invoke(cli_app, ["config"], env={"PAPERBOY_EMBED_DEVICE": "tpu"})
    assert result.exit_code != 0 and "PAPERBOY_EMBED_DEVICE" in result.output


def test_a_restored_vector_index_searches_as_deep_as_a_new_one_in_half_precision(tmp_path: Path) -> None:
    """usearch keeps neither the search depth in its file (a restored index would search at 64) nor
    more than int8's two or three bits per component of a unit vector; both cost recall at 1M."""
    from paperboy.search.vectors import EXPANSION_SEARCH, VectorIndex

    vectors = np.random.default_rng(3).standard_normal((50, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    written = VectorIndex(tmp_path / "vectors.usearch", 384)
    written.upsert(list(range(1, 51)), vectors, fresh=True)
    written.save()
    served = VectorIndex(tmp_path / "vectors.usearch", 384, writable=False)
    assert served.index.expansion_search == EXPANSION_SEARCH
    assert str(served.index.dtype).endswith("F16")
    stored = served.vector(7)
    assert stored is not None and float(np.abs(stored - vectors[6]).max()) < 1e-3, "f16 keeps 3 digits"
