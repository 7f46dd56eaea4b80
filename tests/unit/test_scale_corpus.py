"""The scale benchmark's corpus generator (benchmarks/scale_corpus.py): seeded, the requested shape, real
term co-occurrence kept, and valid Pyserini JsonVectorCollection / query JSONL written chunk by chunk."""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import scale_corpus  # noqa: E402

VOCABULARY = 300
TOKENS = [f"tok{t}" if t % 7 else f"##w{t}" for t in range(VOCABULARY)]


def pool(rows: int, seed: int = 3) -> sp.csr_matrix:
    """Float vectors with clustered terms (each row draws from one of a few topics), 30-60 terms a row."""
    rng = np.random.default_rng(seed)
    parts = []
    for _ in range(rows):
        topic = rng.integers(5) * 60
        terms = np.sort(rng.choice(np.arange(topic, topic + 60), size=rng.integers(30, 61), replace=False))
        parts.append(sp.csr_matrix((rng.uniform(0.01, 2.8, terms.size), (np.zeros(terms.size, int), terms)),
                                   shape=(1, VOCABULARY)))
    return sp.vstack(parts, format="csr", dtype=np.float32)


def read_corpus(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(scale_corpus, "CHUNK", 7)  # many chunks: the streamed writing's seams are exercised


def test_corpus_has_requested_shape_and_is_valid_jsonvector(tmp_path, small_chunks):
    shape = scale_corpus.Shape(num_docs=250, postings_per_doc=20)
    stats = scale_corpus.write_corpus(tmp_path / "c.jsonl.gz", pool(40), TOKENS, shape, progress=False)
    records = read_corpus(tmp_path / "c.jsonl.gz")
    assert len(records) == 250 == stats["documents"]
    assert [r["id"] for r in records] == [str(i) for i in range(250)]
    assert all(set(r) == {"id", "contents", "vector"} for r in records)
    weights = [w for r in records for w in r["vector"].values()]
    assert all(isinstance(w, int) and 1 <= w <= 255 for w in weights)
    assert all(t in TOKENS for r in records for t in r["vector"])
    assert stats["postings"] == len(weights)
    assert 17 <= len(weights) / 250 <= 23  # the requested mean length, within the perturbation's noise
    assert json.loads((tmp_path / "c.jsonl.gz.json").read_text())["postings"] == len(weights)
    assert not list(tmp_path.glob("*.partial"))


def test_corpus_is_deterministic_per_seed(tmp_path, small_chunks):
    real = pool(30)
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        scale_corpus.write_corpus(tmp_path / f"{name}.jsonl.gz", real, TOKENS,
                                  scale_corpus.Shape(num_docs=60, seed=seed), progress=False)
    a, b, c = ((tmp_path / f"{n}.jsonl.gz").read_bytes() for n in "abc")
    assert a == b
    assert a != c


def test_documents_keep_real_cooccurrence(tmp_path, small_chunks):
    """Without swaps every generated document's terms are a subset of one real document's."""
    real = pool(25)
    real_sets = [set(real.indices[real.indptr[r]:real.indptr[r + 1]].tolist()) for r in range(real.shape[0])]
    shape = scale_corpus.Shape(num_docs=80, postings_per_doc=15, swap=0.0)
    scale_corpus.write_corpus(tmp_path / "c.jsonl.gz", real, TOKENS, shape, progress=False)
    for record in read_corpus(tmp_path / "c.jsonl.gz"):
        terms = {TOKENS.index(t) for t in record["vector"]}
        assert any(terms <= s for s in real_sets)


def test_queries_are_the_real_ones_then_perturbed_copies(tmp_path):
    real_queries = pool(12, seed=9)
    shape = scale_corpus.Shape(num_docs=1, num_queries=30)
    stats = scale_corpus.write_queries(tmp_path / "q.jsonl", real_queries, pool(40), TOKENS, shape)
    records = [json.loads(line) for line in (tmp_path / "q.jsonl").read_text().splitlines()]
    assert stats["queries"] == len(records) == 30
    assert [r["id"] for r in records] == [f"q{i}" for i in range(30)]
    for i in range(12):  # the real queries, unperturbed: round(100 w), capped at 255
        span = slice(real_queries.indptr[i], real_queries.indptr[i + 1])
        want = {TOKENS[t]: min(255, int(np.rint(100 * w))) for t, w in
                zip(real_queries.indices[span], real_queries.data[span]) if np.rint(100 * w) > 0}
        assert records[i]["vector"] == want
    assert records[12]["vector"] != records[0]["vector"]
