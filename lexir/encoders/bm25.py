"""BM25 as a sparse encoder.

Documents become vectors of precomputed BM25 impacts,
    idf(t) * tf / (tf + k1 * (1 - b + b * dl / avgdl)),   idf(t) = log(1 + (N - df + 0.5) / (df + 0.5)),
(Lucene's BM25, as in Pyserini), and queries become term counts, so the dot product
of the two is the BM25 score. The vocabulary, document frequencies and average
length come from the corpus (`fit`) and are saved inside the index.

Live updates change df and N but not the impacts already written, which carry the build's IDF: after
`use_corpus_statistics` with other statistics than the build's, a query term weighs count x live idf /
build idf, so that the score is the BM25 of the live corpus (length normalisation keeps the build's average).

The vocabulary is open: a live write first appends the words the vocabulary lacks (`grow_vocabulary`, ids
after the build's terms), so that every word of an acknowledged document is searchable at once. Their
impacts carry ADDED_IDF, the IDF of a word found in one document of the build's corpus, in place of a build
IDF (every segment bakes in the same value, so one query weight, count x live idf / ADDED_IDF, serves them
all). The appended words are stored with the segments (the index's `added_terms.json`) and reach query
encoders through `CorpusStatistics.added_terms`; the spec's vocabulary fingerprint stays the build's.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from lexir.encoders.analyzer import EnglishAnalyzer
from lexir.encoders.base import CorpusStatistics, EncoderSpec, check_options, vocabulary_fingerprint
from lexir.encoders.idf import corpus_idf
from lexir.errors import LexirError
from lexir.files import write_json_atomic

STATE_FILE = "bm25.json"


class BM25Encoder:
    """BM25 over a stemmed word vocabulary built from the indexed corpus."""

    kind = "bm25"
    SETTINGS = ("k1", "b")
    RUNTIME_OPTIONS = ()

    def __init__(self, *, name: str = "bm25", k1: float = 0.9, b: float = 0.4) -> None:
        if k1 < 0 or not 0 <= b <= 1:
            raise LexirError(f"BM25 needs k1 >= 0 and 0 <= b <= 1, got k1={k1}, b={b}")
        self.name = name
        self.k1 = k1
        self.b = b
        self.analyzer = EnglishAnalyzer()
        self._terms: list[str] = []
        self._term_ids: dict[str, int] = {}  # the build's terms (never changed once loaded)
        self._added_ids: dict[str, int] = {}  # words live writes appended, ids after the build's
        self._idf = np.zeros(0, dtype=np.float32)
        self.num_docs = 0
        self.avg_doc_length = 0.0
        self._live_idf: np.ndarray | None = None  # None: the corpus is the one the impacts were computed on
        self._build_terms = 0  # the build's vocabulary is _terms[:_build_terms]; live writes append the rest
        self._build_fingerprint = ""  # of the build's vocabulary, hashed once: every segment write reads the spec

    @classmethod
    def from_spec(cls, spec: EncoderSpec, **runtime: object) -> BM25Encoder:
        """The encoder `spec` describes, not yet fitted: its state is in the index (`load_state`)."""
        check_options(runtime, cls.RUNTIME_OPTIONS, spec.name)
        return cls(name=spec.name, k1=spec.params["k1"], b=spec.params["b"])

    @property
    def is_fitted(self) -> bool:
        return self.num_docs > 0

    @property
    def vocabulary(self) -> list[str]:
        return self._terms

    @property
    def spec(self) -> EncoderSpec:
        self._require_fitted()
        return EncoderSpec(
            name=self.name,
            kind=self.kind,
            model=None,
            max_doc_length=None,
            max_query_length=None,
            vocab_fingerprint=self._build_fingerprint,
            params={"k1": self.k1, "b": self.b, "analyzer": self.analyzer.config},
        )

    @property
    def added_terms(self) -> tuple[str, ...]:
        return tuple(self._terms[self._build_terms:])

    @property
    def added_idf(self) -> float:
        """The IDF baked into the impacts of appended words: that of a word in one document of the build."""
        return float(corpus_idf(np.array([1]), self.num_docs)[0])

    def grow_vocabulary(self, texts: Iterable[str]) -> None:
        """Append the words of `texts` that the vocabulary lacks (in order of first appearance)."""
        self._require_fitted()
        self._grow_terms(term for text in texts for term in self.analyzer(text))

    def _grow_terms(self, terms: Iterable[str]) -> None:
        new = dict.fromkeys(term for term in terms if self._id(term) is None)
        if new:
            self._with_added([*self.added_terms, *new])

    def use_corpus_statistics(self, statistics: CorpusStatistics) -> None:
        """Take the vocabulary live writes grew (`statistics.added_terms`) and weigh query terms by the IDF of
        `statistics` where it is not the build's (see the module docstring)."""
        self._require_fitted()
        if statistics.added_terms != self.added_terms:
            self._with_added(statistics.added_terms)
        same = (statistics.num_docs == self.num_docs and not statistics.added_terms
                and np.array_equal(statistics.doc_freq, self._doc_freq))
        self._live_idf = None if same else corpus_idf(statistics.doc_freq, statistics.num_docs)

    def _with_added(self, added: Sequence[str]) -> None:
        """The build's vocabulary followed by `added`. New objects, never changed in place: copies of this encoder
        (one per searched snapshot) share the old ones."""
        added_ids = {term: i for i, term in enumerate(added, start=self._build_terms)}
        if len(added_ids) != len(added) or any(term in self._term_ids for term in added):
            raise LexirError("the words appended to the BM25 vocabulary repeat words it holds: the index's "
                             "added_terms.json is damaged; rebuild the index")
        self._terms = [*self._terms[:self._build_terms], *added]
        self._added_ids = added_ids
        self._idf = np.concatenate([self._idf[:self._build_terms], np.full(len(added), self.added_idf, np.float32)])
        self._doc_freq = np.concatenate([self._doc_freq[:self._build_terms], np.zeros(len(added), np.int64)])
        self._after_vocabulary()

    def text_doc_freq(self, texts: Sequence[str]) -> None:
        """BM25 queries need no text IDF."""
        return None

    def fit(self, texts: Iterable[str]) -> None:
        """Learn the vocabulary, document frequencies and average length of a corpus."""
        self._fit_terms((self.analyzer(text),) for text in texts)

    def _fit_terms(self, documents: Iterable[Sequence[list[str]]]) -> None:
        """Fit on analyzed documents, each a sequence of fields' terms (its length: the first field's)."""
        doc_freq: Counter[str] = Counter()
        total_length = 0
        num_docs = 0
        for fields in documents:
            total_length += len(fields[0])
            doc_freq.update({term for terms in fields for term in terms})
            num_docs += 1
        if num_docs == 0:
            raise LexirError("cannot fit BM25 on an empty corpus")
        self._set_state(sorted(doc_freq), doc_freq, num_docs, total_length / num_docs)

    def _set_state(self, terms: list[str], doc_freq: dict[str, int], num_docs: int, avg_length: float) -> None:
        self._terms = terms
        self._term_ids = {term: i for i, term in enumerate(terms)}
        self._added_ids = {}
        self._doc_freq = np.array([doc_freq[term] for term in terms], dtype=np.int64)
        self._idf = corpus_idf(self._doc_freq, num_docs)
        self.num_docs = num_docs
        self.avg_doc_length = avg_length
        self._live_idf = None
        self._build_terms = len(terms)
        self._build_fingerprint = vocabulary_fingerprint(terms)
        self._after_vocabulary()

    def _after_vocabulary(self) -> None:
        """A subclass's per-term tables, remade whenever the vocabulary changes (plain BM25 has none)."""

    def save_state(self, folder: Path) -> None:
        self._require_fitted()
        write_json_atomic(folder / STATE_FILE, self._state())

    def _state(self) -> dict[str, Any]:
        return {"terms": self._terms[:self._build_terms], "df": self._doc_freq[:self._build_terms].tolist(),
                "num_docs": self.num_docs, "avg_doc_length": self.avg_doc_length}

    def load_state(self, folder: Path) -> None:
        path = folder / STATE_FILE
        if not path.is_file():
            raise LexirError(f"BM25 state file {path} is missing: the index is incomplete; rebuild it")
        state = json.loads(path.read_text(encoding="utf-8"))
        self._set_state(state["terms"], dict(zip(state["terms"], state["df"])), state["num_docs"],
                        state["avg_doc_length"])
        self._load_extra(state)

    def _load_extra(self, state: dict[str, Any]) -> None:
        """A subclass's own saved statistics (plain BM25 has none)."""

    def encode_documents(self, texts: Sequence[str]) -> sp.csr_matrix:
        self._require_fitted()
        indptr, indices, data = [0], [], []
        for text in texts:
            terms = self.analyzer(text)
            ids, tf = self._ids_and_counts(terms)
            norm = self.k1 * (1 - self.b + self.b * len(terms) / self.avg_doc_length)
            indices.append(ids)
            data.append(self._idf[ids] * tf / (tf + norm))
            indptr.append(indptr[-1] + len(ids))
        return self._csr(indptr, indices, data)

    def encode_queries(self, texts: Sequence[str]) -> sp.csr_matrix:
        self._require_fitted()
        indptr, indices, data = [0], [], []
        for text in texts:
            terms, term_weights = self._query_terms(text)
            ids, weights = self._ids_and_counts(terms, term_weights)
            if self._live_idf is not None:
                weights = weights * self._live_idf[ids] / self._idf[ids]
            indices.append(ids)
            data.append(weights)
            indptr.append(indptr[-1] + len(ids))
        return self._csr(indptr, indices, data)

    def _query_terms(self, text: str) -> tuple[list[str], list[float] | None]:
        """A query's terms and their weights (None: each counts 1)."""
        return self.analyzer(text), None

    def _ids_and_counts(self, terms: list[str], weights: list[float] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Ids and summed weights (counts, by default) of the terms the vocabulary holds."""
        if weights is None:
            counts: dict[int, float] = self._counts(terms)
        else:
            counts = {}
            for term, weight in zip(terms, weights):
                found = self._id(term)
                if found is not None:
                    counts[found] = counts.get(found, 0.0) + weight
        return (np.fromiter(counts.keys(), dtype=np.int64, count=len(counts)),
                np.fromiter(counts.values(), dtype=np.float32, count=len(counts)))

    def _id(self, term: str) -> int | None:
        found = self._term_ids.get(term)
        return found if found is not None or not self._added_ids else self._added_ids.get(term)

    def _counts(self, terms: list[str]) -> Counter[int]:
        """Term id -> count of the terms the vocabulary holds (the build's dict first: appended words are few)."""
        if not self._added_ids:
            return Counter(self._term_ids[t] for t in terms if t in self._term_ids)
        ids = (self._id(term) for term in terms)
        return Counter(i for i in ids if i is not None)

    def _csr(self, indptr: list[int], indices: list[np.ndarray], data: list[np.ndarray]) -> sp.csr_matrix:
        matrix = sp.csr_matrix(  # int32 indices: scipy's own index type, so it converts nothing
            (np.concatenate(data) if data else np.zeros(0, np.float32),
             np.concatenate(indices).astype(np.int32) if indices else np.zeros(0, np.int32),
             np.array(indptr, dtype=np.int32)),
            shape=(len(indptr) - 1, len(self._terms)), dtype=np.float32,
        )
        matrix.sort_indices()
        return matrix

    def _require_fitted(self) -> None:
        if not self.is_fitted:
            raise LexirError("BM25Encoder must be fitted on the corpus (or loaded from an index) first")
