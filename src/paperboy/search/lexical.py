"""The lexical index: BM25 over title and abstract (tantivy), plus filter fields.

The text is indexed twice, as stems (recall: "policies" finds "policy") and as exact words (evidence that
a paper contains the very word typed; search/terms.py). A query scores stems plus boosted exact words.
One combined title + abstract field beats separate ones on SciFact (title words otherwise count twice;
../shared/SEARCH-NOTES.md). Filters are constant-score clauses, so they never change a BM25 score.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import tantivy

from paperboy.db.repositories.search_docs import PaperContent
from paperboy.search.query import ParsedQuery, SearchFilters, day_number, tags_of, title_key
from paperboy.search.terms import (
    EXACT_ANALYZER,
    STEM_ANALYZER,
    analyzer,
    exact_words,
    indexed_text,
    register_analyzers,
    word_variants,
)
from paperboy.tex import tex_to_words

WRITER_HEAP = 512_000_000
"""tantivy's indexing budget (a budget, not an allocation: a small batch uses a few MB). A large one makes
large segments, which leaves fewer merges: all of arXiv in 284 s instead of 311 s (docs/BENCHMARKS.md)."""
WRITER_THREADS = max(1, min(4, os.cpu_count() or 1))
"""Tantivy's analysis of the text is most of a keyword build: one thread per core (up to four) makes a
snapshot's build 1.5x faster on two cores; a background run's small batches leave them idle."""
MAX_TERM_DF = 0.3
EXACT_BOOST = 0.3
"""Weight of an exact-word match on top of its stem's (tuned on SciFact train: docs/EVALUATION.md)."""
EXACT_COUNT_UP_TO = 50_000
"""Larger sets of matching papers are not walked to count them (at 2.7M papers the walk cost a seventh of
a hybrid search): their size is estimated from the words' document frequencies."""


def _schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_unsigned_field("paper_id", stored=True, indexed=True, fast=True)
    builder.add_text_field("text", stored=False, tokenizer_name=STEM_ANALYZER)
    builder.add_text_field("exact", stored=False, tokenizer_name=EXACT_ANALYZER, index_option="freq")
    builder.add_text_field("title_words", stored=False, tokenizer_name=EXACT_ANALYZER)
    builder.add_text_field("authors", stored=False, tokenizer_name=EXACT_ANALYZER)
    builder.add_text_field("categories", stored=False, tokenizer_name="raw")
    builder.add_text_field("tags", stored=False, tokenizer_name="raw")
    builder.add_text_field("title_key", stored=False, tokenizer_name="raw")
    builder.add_integer_field("published", stored=False, indexed=True, fast=True)
    return builder.build()


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", " ").replace('"', " ") + '"'


class LexicalIndex:
    """A tantivy index in a directory; readers see a writer's commits after `reload()`."""

    def __init__(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.schema = _schema()
        self.index = tantivy.Index(self.schema, path=str(path), reuse=True)
        register_analyzers(self.index)
        self._writer: Any = None

    # --- writing -------------------------------------------------------------------------------
    def _get_writer(self) -> Any:
        if self._writer is None:
            self._writer = self.index.writer(heap_size=WRITER_HEAP, num_threads=WRITER_THREADS)
        return self._writer

    def upsert(self, documents: Iterable[PaperContent], fresh: bool = False) -> None:
        """Replace each paper's document (delete by paper id, then add; `fresh` indexes skip the delete)."""
        writer = self._get_writer()
        for doc in documents:
            if not fresh:
                writer.delete_documents_by_query(self._id_query(doc.paper_id))
            text = indexed_text(doc.title, doc.abstract)
            document = tantivy.Document()
            document.add_unsigned("paper_id", doc.paper_id)
            document.add_text("text", text)
            document.add_text("exact", text)
            document.add_text("title_words", tex_to_words(doc.title))
            for author in doc.authors:
                document.add_text("authors", author)
            for category in doc.categories:
                document.add_text("categories", category.lower())
            for tag in tags_of(doc):
                document.add_text("tags", tag)
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

    @property
    def dirty(self) -> bool:
        return self._writer is not None

    def commit(self, final: bool = True) -> None:
        """Make pending changes durable and visible (atomic in tantivy).

        `final=False` keeps the writer, and the segment merges it started run on in the background while
        more documents come: a pass over all of arXiv commits a hundred times, and waiting for the merges
        at each commit made it three times slower. The final commit waits for them and releases the
        writer (and tantivy's lock on the index, which the next indexer run takes).
        """
        if self._writer is not None:
            self._writer.commit()
            if final:
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
        for tag in (*parsed.tags, *filters.tags):
            clauses.append(tantivy.Query.term_query(self.schema, "tags", tag))
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

    def _restriction(self, paper_ids: Sequence[int]) -> Any:
        # An OR of term queries: about twice as fast as a term-set query for ~100 ids (bench at 1M).
        ids = tantivy.Query.boolean_query([(tantivy.Occur.Should, self._id_query(pid)) for pid in paper_ids])
        return tantivy.Query.const_score_query(ids, 0.0)

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
            clauses.append((occur.Must, self._restriction(restrict)))
        if parsed.has_terms and not clauses:
            return self._scoring_query(parsed)  # the words alone: the same scores, and tantivy prunes better
        if parsed.has_terms:
            clauses.append((occur.Must if words_required else occur.Should, self._scoring_query(parsed)))
        if not clauses:
            return tantivy.Query.all_query()
        return tantivy.Query.boolean_query(clauses)

    def _scoring_query(self, parsed: ParsedQuery) -> Any:
        """An OR of the query's stems, plus its exact words boosted; near-stopwords are left out when
        others remain.

        Terms in more than MAX_TERM_DF of all documents add almost nothing to BM25 (tiny IDF) but make
        the disjunction walk huge posting lists: at 1M papers dropping them cuts p99 from 16 ms to 6 ms.
        """
        searcher = self.index.searcher()
        texts = (*parsed.words, *parsed.phrases)
        clauses = []
        for field, terms, boost in (
            ("text", dict.fromkeys(t for text in texts for t in analyzer().analyze(text)), 1.0),
            ("exact", dict.fromkeys(t for text in texts for t in exact_words(text)), EXACT_BOOST),
        ):
            for term, _ in self._useful(searcher, field, terms):
                query = tantivy.Query.term_query(self.schema, field, term)
                clauses.append((tantivy.Occur.Should, tantivy.Query.boost_query(query, boost)))
        return tantivy.Query.boolean_query(clauses)

    @staticmethod
    def _useful(searcher: Any, field: str, terms: Iterable[str]) -> list[tuple[str, int]]:
        """The terms worth scoring, with their document frequencies: all but the near-stopwords (unless
        nothing else remains)."""
        documents = max(searcher.num_docs, 1)
        frequencies = [(term, int(searcher.doc_freq(field, term))) for term in terms]
        return [(t, df) for t, df in frequencies if df / documents <= MAX_TERM_DF] or frequencies

    def estimated_matches(self, parsed: ParsedQuery, filters: SearchFilters) -> int | None:
        """How many papers hold a query word, estimated (to three figures) from the words' document
        frequencies as if they occurred independently, when that is more than EXACT_COUNT_UP_TO; None
        when an exact count is cheap, or when filters or phrases narrow the matches beyond what the
        frequencies tell."""
        if filters.active or parsed.has_filters or not parsed.words:
            return None
        searcher = self.index.searcher()
        documents = searcher.num_docs
        stems = dict.fromkeys(t for word in parsed.words for t in analyzer().analyze(word))
        missing_all = 1.0
        for _, frequency in self._useful(searcher, "text", stems):
            missing_all *= 1.0 - frequency / max(documents, 1)
        estimate = documents * (1.0 - missing_all)
        return int(float(f"{estimate:.3g}")) if estimate > EXACT_COUNT_UP_TO else None

    def _run(
        self, query: Any, limit: int, newest_first: bool = False, count: bool = False
    ) -> tuple[list[tuple[int, float]], int]:
        searcher = self.index.searcher()
        if newest_first:
            result = searcher.search(query, limit, count=count, order_by_field="published")
        else:
            result = searcher.search(query, limit, count=count)
        addresses = [address for _, address in result.hits]
        paper_ids = searcher.fast_field_values("paper_id", addresses) if addresses else []
        hits = [
            (int(pid), float(score))
            for pid, (score, _) in zip(paper_ids, result.hits, strict=True)
            if isinstance(pid, int)
        ]
        return hits, int(getattr(result, "count", 0) or 0) if count else len(hits)

    def search(
        self, parsed: ParsedQuery, limit: int, filters: SearchFilters = SearchFilters(), count: bool = False
    ) -> tuple[list[tuple[int, float]], int]:
        """Top `limit` papers by BM25 (ties broken by index order), restricted by filters, and how many
        papers match in all (counted only when `count`, which costs a walk over every match)."""
        return self._run(self._query(parsed, filters), limit, count=count)

    def score(
        self, parsed: ParsedQuery, paper_ids: Sequence[int], filters: SearchFilters = SearchFilters()
    ) -> dict[int, float]:
        """BM25 scores of those given papers that pass the filters and match a query word.

        The candidate ids lead the intersection, so this costs little even for common words.
        """
        if not paper_ids:
            return {}
        hits, _ = self._run(self._query(parsed, filters, paper_ids, words_required=True), len(paper_ids))
        return dict(hits)

    def covering(
        self, groups: Sequence[tuple[str, ...]], paper_ids: Sequence[int], in_title: bool = False
    ) -> set[int]:
        """Those of `paper_ids` whose text (or title alone) holds every group: a word exactly (or its
        plural/singular), or the words of a compound in a row (as stems in the text, as words in titles)."""
        if not paper_ids or not groups:
            return set()
        occur = tantivy.Occur
        field = "title_words" if in_title else "exact"
        clauses = [(occur.Must, self._restriction(paper_ids))]
        for group in groups:
            if len(group) == 1:
                clauses.append((occur.Must, self._any_form(group, field)))
                continue
            terms = list(group) if in_title else [stem for word in group for stem in analyzer().analyze(word)]
            phrase_field = field if in_title else "text"
            if len(terms) > 1:
                clauses.append((occur.Must, tantivy.Query.phrase_query(self.schema, phrase_field, terms)))
            elif terms:
                clauses.append((occur.Must, tantivy.Query.term_query(self.schema, phrase_field, terms[0])))
        hits, _ = self._run(tantivy.Query.boolean_query(clauses), len(paper_ids))
        return {paper_id for paper_id, _ in hits}

    def _any_form(self, words: Iterable[str], field: str = "exact") -> Any:
        forms = [form for word in words for form in word_variants(word)]
        return tantivy.Query.boolean_query(
            [(tantivy.Occur.Should, tantivy.Query.term_query(self.schema, field, form)) for form in forms]
        )

    def together(self, word: str, others: Sequence[str]) -> int:
        """Papers holding `word` and at least one of `others` (exactly, or as plural/singular)."""
        occur = tantivy.Occur
        query = tantivy.Query.boolean_query(
            [(occur.Must, self._any_form([word])), (occur.Must, self._any_form(others))]
        )
        return int(getattr(self.index.searcher().search(query, 1, count=True), "count", 0) or 0)

    def word_counts(self, words: Iterable[str]) -> dict[str, int]:
        """Papers holding each exact word (or its plural/singular)."""
        searcher = self.index.searcher()
        return {word: sum(searcher.doc_freq("exact", form) for form in word_variants(word)) for word in words}

    def vocabulary(self) -> list[tuple[str, int]]:
        """Every exact word with the number of papers holding it (tantivy's term dictionary)."""
        return [
            (str(term), int(count)) for term, count in self.index.searcher().terms_with_prefix("exact", "")
        ]

    def newest(self, parsed: ParsedQuery, limit: int, filters: SearchFilters = SearchFilters()) -> list[int]:
        """Papers matching a query without words (filters only), newest first."""
        hits, _ = self._run(self._query(parsed, filters), limit, newest_first=True)
        return [paper_id for paper_id, _ in hits]

    def passing(self, parsed: ParsedQuery, paper_ids: Sequence[int], filters: SearchFilters) -> set[int]:
        """Those of `paper_ids` that satisfy the filters, phrases, authors and categories (words ignored)."""
        if not paper_ids:
            return set()
        constraints = replace(parsed, words=())
        hits, _ = self._run(self._query(constraints, filters, paper_ids, words_required=True), len(paper_ids))
        return {paper_id for paper_id, _ in hits}

    def exact_title(self, title: str, limit: int = 5) -> list[int]:
        """Papers whose title equals `title` ignoring case, accents, punctuation and TeX markup."""
        key = title_key(title)
        if not key:
            return []
        hits, _ = self._run(tantivy.Query.term_query(self.schema, "title_key", key), limit)
        return [paper_id for paper_id, _ in hits]

    def all_ids(self) -> set[int]:
        """Every paper id in the index (a full walk: for reconciling with the database, not for queries)."""
        searcher = self.index.searcher()
        if searcher.num_docs == 0:
            return set()
        result = searcher.search(tantivy.Query.all_query(), searcher.num_docs, count=False)
        values = searcher.fast_field_values("paper_id", [address for _, address in result.hits])
        return {int(value) for value in values if isinstance(value, int)}

    def contains(self, paper_id: int) -> bool:
        hits, _ = self._run(self._id_query(paper_id), 1)
        return bool(hits)
