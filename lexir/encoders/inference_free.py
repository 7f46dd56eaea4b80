"""Inference-free sparse encoding: a model encodes documents; a query is only tokenized and IDF-weighted.

After Geng et al., "Towards Competitive Search Relevance For Inference-Free Learned Sparse Retrievers"
(2024) and the OpenSearch neural sparse `doc-*` models. The document side is SPLADE (any masked LM, with
the SPLADE or the OpenSearch v3 activation). The query side loads no model and imports neither torch nor
transformers: the model's `tokenizer.json` splits the query, special tokens are dropped, and token t weighs
tf(t) * idf(t) (tf counted or binary). The IDF table is the model's `idf.json` (or one given by path), or an
IDF of the index being searched (`use_corpus_statistics`): by default its text IDF, df counted on the tokens of
the documents' texts (stored by the index: `text_doc_freq`), or on request its vector IDF, df counted on the
expanded document vectors. Text IDF measured +0.7 nDCG@10 on NFCorpus and +1.3 on Cranfield over vector IDF
with splade-tiny's documents (docs/benchmarks.md).

Query-side settings do not change document vectors, so they are not part of the spec: one index serves
every IDF table and query option.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from lexir.encoders.analyzer import LUCENE_ENGLISH_STOPWORDS
from lexir.encoders.base import CorpusStatistics, EncoderSpec, check_options
from lexir.encoders.device import check_device
from lexir.encoders.echo import splade_class
from lexir.encoders.hf import load_fast_tokenizer
from lexir.encoders.idf import IDF_FILE, corpus_idf, load_idf_json, text_doc_freq
from lexir.encoders.pieces import readable
from lexir.encoders.query_tokens import QueryTokenizer
from lexir.encoders.splade import SpladeEncoder, spec_settings
from lexir.errors import LexirError

logger = logging.getLogger(__name__)

QUERY_TF_MODES = ("binary", "count")
QUERY_OPTIONS = ("idf", "query_tf", "min_idf", "drop_stopwords", "max_query_terms")
INDEX_IDF = {"text": "text", "vectors": "vectors", "corpus": "vectors"}  # `corpus`: the older name of `vectors`


@dataclass(frozen=True)
class IdfTable:
    """An IDF table as an array (for the index and callers) and as a Python list: a short query's few
    lookups cost less in a list than in numpy calls, so queries read the list."""

    values: np.ndarray
    as_list: list[float]

    @classmethod
    def of(cls, values: np.ndarray) -> IdfTable:
        return cls(values, values.tolist())


class InferenceFreeEncoder:
    """SPLADE documents, tokenizer-and-IDF queries.

    Args:
        model: hub id or folder of the document model (masked LM).
        idf: "auto" (the model folder's idf.json if it has one, else "text"), "text" (the searched index's text
            IDF; for an index without text df, built by an older lexir, "vectors" with a warning), "vectors"
            (the index's IDF of the expanded document vectors; "corpus" is its older name), or an idf.json path.
        query_tf: "binary" (each distinct token once) or "count" (repeated tokens add up).
        min_idf: drop query tokens whose IDF is below this.
        drop_stopwords: drop English stopwords (Lucene's list) from queries.
        max_query_terms: keep only the highest-weighted query tokens.
        Other arguments are those of SpladeEncoder, for the document side.
    """

    kind = "inference-free"
    added_terms: tuple[str, ...] = ()  # the model's vocabulary is fixed (see grow_vocabulary)
    SETTINGS = tuple(name for name in SpladeEncoder.SETTINGS if name != "query_top_k")  # queries are not SPLADE's
    RUNTIME_OPTIONS = tuple(name for name in SpladeEncoder.RUNTIME_OPTIONS if name != "query_model") + QUERY_OPTIONS

    def __init__(
        self,
        model: str,
        *,
        name: str | None = None,
        model_folder: str | None = None,
        idf: str = "auto",
        query_tf: str = "binary",
        min_idf: float | None = None,
        drop_stopwords: bool = False,
        max_query_terms: int | None = None,
        **document_options: Any,
    ) -> None:
        if query_tf not in QUERY_TF_MODES:
            raise LexirError(f"query_tf must be one of {', '.join(QUERY_TF_MODES)}, got {query_tf!r}")
        if max_query_terms is not None and max_query_terms < 1:
            raise LexirError(f"max_query_terms must be at least 1, got {max_query_terms}")
        self.documents = splade_class(model, model_folder)(model, name=name, model_folder=model_folder,
                                                           **document_options)
        self.name = self.documents.name
        self.idf_option = idf
        self.query_tf = query_tf
        self.min_idf = min_idf
        self.drop_stopwords = drop_stopwords
        self.max_query_terms = max_query_terms
        self._statistics: CorpusStatistics | None = None
        self._index_idf: IdfTable | None = None
        self._warned_vectors = False

    @classmethod
    def from_spec(cls, spec: EncoderSpec, **runtime: Any) -> InferenceFreeEncoder:
        """The encoder `spec` describes; `runtime` (RUNTIME_OPTIONS: query options among them) changes no
        document vector."""
        check_options(runtime, cls.RUNTIME_OPTIONS, spec.name)
        return cls(spec.model or spec.name, name=spec.name, **spec_settings(spec, cls.SETTINGS), **runtime)

    def __getstate__(self) -> dict[str, Any]:
        loaded = ("_tokenizer", "_dropped_ids", "_query_tokens")
        return {key: value for key, value in self.__dict__.items() if key not in loaded}

    @property
    def model_folder(self) -> str:
        return self.documents.model_folder

    @property
    def device(self) -> str:
        """Where the document model runs (queries run no model); set before the first document is encoded."""
        return self.documents.device

    @device.setter
    def device(self, name: str) -> None:
        self.documents.device = check_device(name)

    @property
    def vocabulary(self) -> list[str]:
        return self.documents.vocabulary

    @property
    def spec(self) -> EncoderSpec:
        document_spec = self.documents.spec
        return EncoderSpec(
            name=self.name, kind=self.kind, model=document_spec.model, max_doc_length=document_spec.max_doc_length,
            max_query_length=document_spec.max_query_length, vocab_fingerprint=document_spec.vocab_fingerprint,
            params={key: value for key, value in document_spec.params.items() if key != "query_top_k"},
        )

    @cached_property
    def _asked_source(self) -> str:
        """The `idf` option resolved without the index: "text", "vectors", or an idf.json path."""
        option = self.idf_option
        if option == "auto":
            shipped = Path(self.model_folder) / IDF_FILE
            return str(shipped) if shipped.is_file() else "text"
        return INDEX_IDF.get(option) or str(Path(option).expanduser().resolve())

    @property
    def idf_source(self) -> str:
        """Where query IDF comes from: "text", "vectors" (of the searched index), or the path of an idf.json."""
        statistics = self._statistics
        if self._asked_source == "text" and statistics is not None and statistics.text_doc_freq is None:
            return "vectors"
        return self._asked_source

    def use_corpus_statistics(self, statistics: CorpusStatistics) -> None:
        """Weigh later queries by the IDF of the searched documents (unless the IDF comes from a file)."""
        self._statistics = statistics
        source = self.idf_source
        if source != self._asked_source and not self._warned_vectors:  # warned once, at the first index
            self._warned_vectors = True
            logger.warning("the index records no text document frequencies (it was built by an older lexir): "
                           "queries take the IDF of the expanded document vectors (idf=vectors); rebuild the "
                           "index for its text IDF")
        if source in ("text", "vectors"):
            doc_freq = statistics.text_doc_freq if source == "text" else statistics.doc_freq
            self._index_idf = IdfTable.of(corpus_idf(doc_freq, statistics.num_docs))

    def with_corpus_statistics(self, statistics: CorpusStatistics) -> InferenceFreeEncoder:
        """A copy weighing queries by `statistics` (this encoder is unchanged); tokenizer and tables are loaded
        first, so that every copy shares them."""
        _ = self._query_tokens, self._dropped_ids
        if self._asked_source not in ("text", "vectors"):
            _ = self._file_idf
        weighted = object.__new__(type(self))  # not copy.copy: __getstate__ leaves the loaded tokenizer out
        weighted.__dict__.update(self.__dict__)
        weighted.use_corpus_statistics(statistics)
        self._warned_vectors = weighted._warned_vectors
        return weighted

    def grow_vocabulary(self, texts: Sequence[str]) -> None:
        """A model's vocabulary is fixed: every text is already written in its tokens."""

    def text_doc_freq(self, texts: Sequence[str]) -> np.ndarray:
        """How many of `texts` hold each vocabulary token among their own tokens (as `lexir index idf` counts)."""
        return text_doc_freq(self._tokenizer, texts, len(self.vocabulary))[0]

    @cached_property
    def _file_idf(self) -> IdfTable:
        return IdfTable.of(load_idf_json(self.idf_source, self.vocabulary))

    def _idf_table(self) -> IdfTable:
        if self.idf_source not in ("text", "vectors"):
            return self._file_idf
        if self._index_idf is None:
            raise LexirError(f"{self.idf_source} IDF comes from an index: search through lexir.search.Searcher, "
                             "or call use_corpus_statistics(CorpusStatistics(...)) first")
        return self._index_idf

    @property
    def idf(self) -> np.ndarray:
        return self._idf_table().values

    @cached_property
    def _tokenizer(self) -> Any:
        return load_fast_tokenizer(self.model_folder)

    @cached_property
    def _query_tokens(self) -> QueryTokenizer:
        return QueryTokenizer(self._tokenizer)

    @cached_property
    def _dropped_ids(self) -> frozenset[int]:
        """Special tokens, and stopwords when asked: never query terms."""
        dropped = {i for i, token in self._tokenizer.get_added_tokens_decoder().items() if token.special}
        if self.drop_stopwords:
            # a stopword's pieces as each vocabulary writes a word's start: "the", "▁the", "Ġthe"
            dropped |= {i for token, i in self._tokenizer.get_vocab().items()
                        if not token.startswith("##") and readable(token) in LUCENE_ENGLISH_STOPWORDS}
        return frozenset(dropped)

    def encode_documents(self, texts: Sequence[str]) -> sp.csr_matrix:
        return self.documents.encode_documents(texts)

    def encode_queries(self, texts: Sequence[str]) -> sp.csr_matrix:
        idf = self._idf_table().as_list
        limit = self.documents.max_query_length
        dropped = self._dropped_ids
        # float32, as the table: a threshold between two float32 values must keep what numpy would keep
        min_idf = -math.inf if self.min_idf is None else float(np.float32(self.min_idf))
        indptr, indices, data = [0], [], []
        for text in texts:  # plain Python: a query holds a few dozen tokens at most
            counts = Counter(i for i in self._query_tokens(text)[:limit] if i not in dropped)
            terms = [t for t in sorted(counts) if idf[t] > 0 and idf[t] >= min_idf]
            weights = [idf[t] * counts[t] for t in terms] if self.query_tf == "count" else [idf[t] for t in terms]
            if self.max_query_terms is not None and len(terms) > self.max_query_terms:
                by_weight = sorted(range(len(terms)), key=lambda j: -np.float32(weights[j]))  # stable: ties by id
                best = sorted(by_weight[: self.max_query_terms])
                terms, weights = [terms[j] for j in best], [weights[j] for j in best]
            indices.extend(terms)
            data.extend(weights)
            indptr.append(len(indices))
        return sp.csr_matrix((np.array(data, dtype=np.float32), np.array(indices, dtype=np.int32),
                              np.array(indptr, dtype=np.int32)), shape=(len(texts), len(idf)))
