"""The lexical index: BM25 over title and abstract as one stemmed field (tantivy), plus filter fields.

One combined field beats separate title/abstract fields on SciFact (title words otherwise count
twice; ../shared/SEARCH-NOTES.md). Filters are constant-score clauses, so they never change a BM25 score.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any

import tantivy

from paperboy.db.repositories.search_docs import PaperContent
from paperboy.search.query import ParsedQuery, title_key

EPOCH = date(1970, 1, 1)
WRITER_HEAP = 128_000_000
MAX_TERM_DF = 0.3


@dataclass(frozen=True)
class SearchFilters:
    """Restrictions on results: publication date range (inclusive) and categories (any of)."""

    date_from: date | None = None
    date_to: date | None = None
    categories: tuple[str, ...] = ()

    @property
    def active(self) -> bool:
        return bool(self.date_from or self.date_to or self.categories)


def day_number(day: date) -> int:
    """Days since 1970-01-01 (the integer stored in the `published` field)."""
    return (day - EPOCH).days


def _schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_unsigned_field("paper_id", stored=True, indexed=True, fast=True)
    builder.add_text_field("text", stored=False, tokenizer_name="en_stem")
    builder.add_text_field("authors", stored=False, tokenizer_name="default")
    builder.add_text_field("categories", stored=False, tokenizer_name="raw")
    builder.add_text_field("title_key", stored=False, tokenizer_name="raw")
    builder.add_integer_field("published", stored=False, indexed=True, fast=True)
    return builder.build()


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", " ").replace('"', " ") + '"'


def english_analyzer() -> Any:
    """The same analysis as tantivy's built-in "en_stem" tokenizer, for building term queries ourselves
    (and for highlighting the words a query matched)."""
    return (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
        .filter(tantivy.Filter.remove_long(40))
        .filter(tantivy.Filter.lowercase())
        .filter(tantivy.Filter.stemmer("english"))
        .build()
    )


class LexicalIndex:
    """A tantivy index in a directory; readers see a writer's commits after `reload()`."""

    def __init__(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.schema = _schema()
        self.index = tantivy.Index(self.schema, path=str(path), reuse=True)
        self.analyzer = english_analyzer()
        self._writer: Any = None

    # --- writing -------------------------------------------------------------------------------
    def _get_writer(self) -> Any:
        if self._writer is None:
            self._writer = self.index.writer(heap_size=WRITER_HEAP, num_threads=1)
        return self._writer

    def upsert(self, documents: Iterable[PaperContent], fresh: bool = False) -> None:
        """Replace each paper's document (delete by paper id, then add; `fresh` indexes skip the delete)."""
        writer = self._get_writer()
        for doc in documents:
            if not fresh:
                writer.delete_documents_by_query(self._id_query(doc.paper_id))
            document = tantivy.Document()
            document.add_unsigned("paper_id", doc.paper_id)
            document.add_text("text", f"{doc.title}\n{doc.abstract}")
            for author in doc.authors:
                document.add_text("authors", author)
            for category in doc.categories:
                document.add_text("categories", category.lower())
            document.add_text("title_key", title_key(doc.title))
            if doc.published_at is not None:
                document.add_integer("published", day_number(doc.published_at.date()))
            writer.add_document(document)

    def _id_query(self, paper_id: int) -> Any:
        return tantivy.Query.term_query(self.schema, "paper_id", paper_id)

    def delete(self, paper_ids: Iterable[int]) -> None:
        writer = self._get_writer()
        for paper_id in paper_ids:
            writer.delete_documents_by_query(self._id_query(paper_id))

    def commit(self) -> None:
        """Make pending changes durable and visible (atomic in tantivy)."""
        if self._writer is not None:
            self._writer.commit()
            self._writer.wait_merging_threads()
            self._writer = None
        self.index.reload()

    def rollback(self) -> None:
        if self._writer is not None:
            self._writer.rollback()
            self._writer = None

    # --- reading -------------------------------------------------------------------------------
    def reload(self) -> None:
        self.index.reload()

    def count(self) -> int:
        return int(self.index.searcher().num_docs)

    def _parse(self, text: str, field: str) -> Any:
        return self.index.parse_query(text, [field])

    def _filter_clauses(self, parsed: ParsedQuery, filters: SearchFilters) -> list[Any]:
        clauses = [self._parse(_quoted(phrase), "text") for phrase in parsed.phrases]
        clauses += [self._parse(_quoted(name), "authors") for name in parsed.authors]
        categories = [c.lower() for c in (*parsed.categories, *filters.categories)]
        if categories:
            clauses.append(tantivy.Query.term_set_query(self.schema, "categories", categories))
        if filters.date_from or filters.date_to:
            clauses.append(
                tantivy.Query.range_query(
                    self.schema,
                    "published",
                    tantivy.FieldType.Integer,
                    day_number(filters.date_from) if filters.date_from else None,
                    day_number(filters.date_to) if filters.date_to else None,
                )
            )
        return [tantivy.Query.const_score_query(clause, 0.0) for clause in clauses]

    def _query(
        self,
        parsed: ParsedQuery,
        filters: SearchFilters,
        restrict: Sequence[int] = (),
        words_required: bool = True,
    ) -> Any:
        """Filters (and an optional id restriction) must match; words score, and are required or optional."""
        occur = tantivy.Occur
        clauses = [(occur.Must, clause) for clause in self._filter_clauses(parsed, filters)]
        if restrict:
            # An OR of term queries: about twice as fast as a term-set query for ~100 ids (bench at 1M).
            ids = tantivy.Query.boolean_query([(occur.Should, self._id_query(pid)) for pid in restrict])
            clauses.append((occur.Must, tantivy.Query.const_score_query(ids, 0.0)))
        if parsed.has_terms:
            scoring = self._scoring_query(parsed)
            clauses.append((occur.Must if words_required else occur.Should, scoring))
        if not clauses:
            return tantivy.Query.all_query()
        return tantivy.Query.boolean_query(clauses)

    def _scoring_query(self, parsed: ParsedQuery) -> Any:
        """An OR of the stemmed query terms, BM25-scored; near-stopwords are left out when others remain.

        Terms in more than MAX_TERM_DF of all documents add almost nothing to BM25 (tiny IDF) but make
        the disjunction walk huge posting lists: at 1M papers dropping them cuts p99 from 16 ms to 6 ms.
        """
        searcher = self.index.searcher()
        terms = list(
            dict.fromkeys(t for text in (*parsed.words, *parsed.phrases) for t in self.analyzer.analyze(text))
        )
        documents = max(searcher.num_docs, 1)
        useful = [t for t in terms if searcher.doc_freq("text", t) / documents <= MAX_TERM_DF] or terms
        occur = tantivy.Occur
        return tantivy.Query.boolean_query(
            [(occur.Should, tantivy.Query.term_query(self.schema, "text", term)) for term in useful]
        )

    def _run(self, query: Any, limit: int, newest_first: bool = False) -> list[tuple[int, float]]:
        searcher = self.index.searcher()
        if newest_first:
            result = searcher.search(query, limit, count=False, order_by_field="published")
        else:
            result = searcher.search(query, limit, count=False)
        addresses = [address for _, address in result.hits]
        paper_ids = searcher.fast_field_values("paper_id", addresses) if addresses else []
        return [
            (int(pid), float(score))
            for pid, (score, _) in zip(paper_ids, result.hits, strict=True)
            if isinstance(pid, int)
        ]

    def search(
        self, parsed: ParsedQuery, limit: int, filters: SearchFilters = SearchFilters()
    ) -> list[tuple[int, float]]:
        """Top `limit` papers by BM25 (ties broken by index order), restricted by filters."""
        return self._run(self._query(parsed, filters), limit)

    def score(
        self, parsed: ParsedQuery, paper_ids: Sequence[int], filters: SearchFilters = SearchFilters()
    ) -> dict[int, float]:
        """BM25 scores of those given papers that pass the filters and match a query word.

        The candidate ids lead the intersection, so this costs little even for common words.
        """
        if not paper_ids:
            return {}
        return dict(self._run(self._query(parsed, filters, paper_ids, words_required=True), len(paper_ids)))

    def newest(self, parsed: ParsedQuery, limit: int, filters: SearchFilters = SearchFilters()) -> list[int]:
        """Papers matching a query without words (filters only), newest first."""
        return [paper_id for paper_id, _ in self._run(self._query(parsed, filters), limit, newest_first=True)]

    def passing(self, parsed: ParsedQuery, paper_ids: Sequence[int], filters: SearchFilters) -> set[int]:
        """Those of `paper_ids` that satisfy the filters, phrases, authors and categories (words ignored)."""
        if not paper_ids:
            return set()
        constraints = replace(parsed, words=())
        query = self._query(constraints, filters, paper_ids, words_required=True)
        return {paper_id for paper_id, _ in self._run(query, len(paper_ids))}

    def exact_title(self, title: str, limit: int = 5) -> list[int]:
        """Papers whose title equals `title` ignoring case and punctuation."""
        key = title_key(title)
        if not key:
            return []
        query = tantivy.Query.term_query(self.schema, "title_key", key)
        return [paper_id for paper_id, _ in self._run(query, limit)]
