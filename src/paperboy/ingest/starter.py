"""The starting corpus `make run` loads: real papers from the shared data when present, else recent arXiv."""

from __future__ import annotations

from paperboy.config import Settings
from paperboy.ingest.http import PoliteClient
from paperboy.ingest.runner import Source
from paperboy.ingest.sources.arxiv_api import ArxivApiSource
from paperboy.ingest.sources.files import JsonLinesSource
from paperboy.ingest.sources.hf_daily import HfDailySource

STARTER_QUERY = "cat:cs.LG OR cat:cs.CL OR cat:cs.CV OR cat:cs.AI"
STARTER_DAYS = 3
STARTER_MAX = 2000


def starter_sources(settings: Settings, client: PoliteClient) -> list[Source]:
    """Sources for a useful first start; files already ingested unchanged are skipped by the runner."""
    arxiv_dir = settings.shared_data / "arxiv"
    sources: list[Source] = []
    if arxiv_dir.is_dir():
        files = sorted(arxiv_dir.glob("arxiv_api_*.jsonl")) + sorted(arxiv_dir.glob("arxiv_browse_abs.jsonl"))
        sources += [JsonLinesSource(path, settings.ingest_batch_size) for path in files]
    daily = settings.shared_data / "fixtures" / "hf_daily_papers" / "daily_papers.json"
    if daily.is_file():
        sources.append(HfDailySource(str(daily)))
    if not sources:
        sources.append(
            ArxivApiSource(
                client,
                settings.arxiv_api_url,
                query=STARTER_QUERY,
                page_size=200,
                max_results=STARTER_MAX,
                days=STARTER_DAYS,
            )
        )
    return sources
