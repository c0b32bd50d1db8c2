"""`paperboy index`, `paperboy search` and `paperboy eval beir` as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from paperboy.cli import app


@pytest.fixture
def mini_beir(shared_data: Path, tmp_path: Path) -> Path:
    """A small BEIR directory cut from the real SciFact train split: 12 queries, their documents, and others."""
    source = shared_data / "beir" / "scifact"
    qrels_lines = (source / "qrels" / "train.tsv").read_text().splitlines()
    chosen: dict[str, list[str]] = {}
    for line in qrels_lines[1:]:
        query_id, doc_id, _ = line.split("\t")
        if len(chosen) < 12 or query_id in chosen:
            chosen.setdefault(query_id, []).append(doc_id)
    wanted = {doc for docs in chosen.values() for doc in docs}
    corpus_lines = []
    others = 0
    for part in sorted(source.glob("corpus.part*.jsonl")):
        for line in part.read_text().splitlines():
            doc_id = json.loads(line)["_id"]
            if doc_id in wanted or others < 40:
                others += doc_id not in wanted
                corpus_lines.append(line)
    target = tmp_path / "mini"
    (target / "qrels").mkdir(parents=True)
    (target / "corpus.jsonl").write_text("\n".join(corpus_lines) + "\n")
    queries = [
        line
        for line in (source / "queries.jsonl").read_text().splitlines()
        if json.loads(line)["_id"] in chosen
    ]
    (target / "queries.jsonl").write_text("\n".join(queries) + "\n")
    (target / "qrels" / "train.tsv").write_text(
        "query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t1\n" for q, docs in chosen.items() for d in docs)
    )
    return target


def test_eval_beir_reports_the_four_metrics_per_mode(mini_beir: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    keep = tmp_path / "eval-data"
    results = {}
    for mode in ("lexical", "dense", "hybrid"):
        outcome = runner.invoke(
            app,
            [
                "eval",
                "beir",
                str(mini_beir),
                "--split",
                "train",
                "--mode",
                mode,
                "--json",
                "--data-dir",
                str(keep),
            ],
        )
        assert outcome.exit_code == 0, outcome.output
        results[mode] = json.loads(outcome.stdout.strip().splitlines()[-1])
    for mode, metrics in results.items():
        assert set(metrics) == {
            "ndcg@10",
            "recall@10",
            "recall@100",
            "mrr@10",
            "queries",
            "mode",
            "queries_set",
            "correct",
        }
        assert metrics["queries_set"] == "clean" and metrics["correct"] is True
        assert metrics["mode"] == mode and metrics["queries"] == 12
        assert 0.3 < metrics["ndcg@10"] <= 1.0
        assert metrics["recall@10"] <= metrics["recall@100"] <= 1.0
    text = runner.invoke(
        app,
        ["eval", "beir", str(mini_beir), "--split", "train", "--mode", "lexical", "--data-dir", str(keep)],
    )
    assert "ndcg@10" in text.output and f"{results['lexical']['ndcg@10']:.4f}" in text.output


def test_eval_beir_scores_misspelled_queries_beside_the_clean_ones(mini_beir: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    keep = ["--data-dir", str(tmp_path / "eval-data")]
    common = [
        "eval",
        "beir",
        str(mini_beir),
        "--split",
        "train",
        "--mode",
        "lexical",
        "--misspell",
        "3",
        *keep,
    ]
    rows = json.loads(runner.invoke(app, [*common, "--json"]).stdout.strip().splitlines()[-1])
    assert [r["queries_set"] for r in rows] == ["clean", "misspelled"]
    clean, misspelled = rows
    uncorrected = json.loads(
        runner.invoke(app, [*common, "--no-correct", "--json"]).stdout.strip().splitlines()[-1]
    )
    assert uncorrected[0]["ndcg@10"] == clean["ndcg@10"], "the clean queries need no correction"
    assert misspelled["ndcg@10"] > uncorrected[1]["ndcg@10"], "correction recovers misspelled queries"
    assert misspelled["ndcg@10"] >= 0.8 * clean["ndcg@10"]


def test_eval_titles_finds_half_remembered_papers(shared_data: Path, tmp_path: Path) -> None:
    sample = tmp_path / "papers.jsonl"
    lines = (shared_data / "arxiv" / "arxiv_api_2023-2025.part01.jsonl").read_text().splitlines()[:80]
    sample.write_text("\n".join(lines) + "\n")
    args = [
        "eval",
        "titles",
        str(sample),
        "--queries",
        "25",
        "--mode",
        "lexical",
        "--misspell",
        "1",
        "--json",
    ]
    outcome = CliRunner().invoke(app, [*args, "--data-dir", str(tmp_path / "titles")])
    assert outcome.exit_code == 0, outcome.output
    clean, misspelled = json.loads(outcome.stdout.strip().splitlines()[-1])
    assert clean["queries"] == misspelled["queries"] == 25
    assert clean["mrr@10"] > 0.8 and misspelled["mrr@10"] > 0.6


def test_eval_beir_bad_inputs_are_named(mini_beir: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    missing = runner.invoke(app, ["eval", "beir", str(tmp_path / "nowhere")])
    assert missing.exit_code == 2 and "nowhere: not a directory" in missing.output
    wrong_split = runner.invoke(app, ["eval", "beir", str(mini_beir), "--split", "test"])
    assert wrong_split.exit_code == 2 and "available: train" in wrong_split.output
    (mini_beir / "qrels" / "broken.tsv").write_text("query-id\tcorpus-id\tscore\n1\t2\n")
    broken = runner.invoke(app, ["eval", "beir", str(mini_beir), "--split", "broken"])
    assert broken.exit_code == 2 and "broken.tsv:2" in broken.output


@pytest.mark.parametrize("backend", ["embedded", "qdrant"])
def test_index_then_search_from_the_command_line(
    cli_env: dict[str, str], shared_data: Path, backend: str
) -> None:
    cli = CliRunner(env={**cli_env, "PAPERBOY_SEARCH_BACKEND": backend})
    assert cli.invoke(app, ["init"]).exit_code == 0
    daily = shared_data / "fixtures" / "hf_daily_papers" / "daily_papers.json"
    assert cli.invoke(app, ["ingest", "hf-daily", str(daily), "--quiet"]).exit_code == 0
    indexed = cli.invoke(app, ["index", "--quiet"])
    assert indexed.exit_code == 0, indexed.output
    assert "indexed 29 papers" in indexed.output and "0 still queued" in indexed.output
    found = cli.invoke(app, ["search", "contrastive loss memory batch size", "--k", "3", "--json"])
    assert found.exit_code == 0, found.output
    payload = json.loads(found.stdout)
    assert payload["results"][0]["id"] == "2410.17243"
    assert set(payload["results"][0]["explain"]) == {"bm25", "vector", "fused", "match"}
    assert len(payload["results"]) == 3
    human = cli.invoke(app, ["search", "2410.17243", "--explain"])
    assert (
        human.exit_code == 0
        and "Breaking the Memory Barrier" in human.output
        and "match=arxiv-id" in human.output
    )
    for mode in ("lexical", "dense"):
        assert cli.invoke(app, ["search", "speculative sampling", "--mode", mode]).exit_code == 0
    again = cli.invoke(app, ["index", "--quiet"])
    assert "indexed 0 papers" in again.output
    rebuilt = cli.invoke(app, ["index", "--rebuild", "--quiet"])
    assert rebuilt.exit_code == 0 and "rebuilt 29 papers" in rebuilt.output and "embedded 0" in rebuilt.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["search", ""], "empty"),
        (["search", "x" * 1001], "too long"),
        (["search", "AND OR"], "no words"),
        (["search", "a", "--mode", "fuzzy"], "--mode must be one of"),
        (["search", "a", "--k", "0"], "k must be between"),
        (["search", "a", "--from", "yesterday"], "--from: expected YYYY-MM-DD"),
    ],
)
def test_search_errors_are_clear(cli: CliRunner, args: list[str], message: str) -> None:
    cli.invoke(app, ["init"])
    result = cli.invoke(app, args)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_empty_results_say_what_to_try(cli: CliRunner) -> None:
    cli.invoke(app, ["init"])
    result = cli.invoke(app, ["search", "zzzyzx", "--mode", "lexical"])
    assert result.exit_code == 0
    assert "No results: the library is empty" in result.output and "paperboy ingest starter" in result.output
