"""Corpus statistics as a declared encoder method: the text df an index stores (built, resumed, merged, kept
current by live writes), the inference-free `idf` option values, and BM25's live IDF inside the encoder."""

from __future__ import annotations

import json
import logging
import shutil
from collections import Counter

import numpy as np
import pytest

from lexir.corpus import Corpus, Document
from lexir.encoders import create_encoder
from lexir.encoders.base import CorpusStatistics
from lexir.encoders.hf import load_fast_tokenizer
from lexir.encoders.idf import corpus_idf, text_idf_table
from lexir.encoders.inference_free import InferenceFreeEncoder
from lexir.errors import LexirError
from lexir.index import InvertedIndex, build_index
from lexir.index.builder import CHUNK_GLOB, staging_folder
from lexir.index.live import SEGMENTS_DIR, LiveIndex
from lexir.search import SearchOptions, open_search
from tests.helpers import write_jsonl
from tests.texts import DOCUMENTS

CONTENTS = [Document(*document).contents for document in DOCUMENTS]


def sparse_side(index, **query_options):
    """The index's sparse retriever, whose encoder weighs queries as searches do."""
    return open_search(index, SearchOptions(query_options=query_options)).retrievers["sparse"]


@pytest.fixture(scope="module")
def if_encoder(splade_tiny):
    return InferenceFreeEncoder("splade-tiny", name="splade-tiny-if", idf="text", batch_size=8,
                                loaded_model=splade_tiny.model)


@pytest.fixture(scope="module")
def if_index(tmp_path_factory, if_encoder):
    folder = tmp_path_factory.mktemp("text-idf")
    build_index(Corpus(str(write_jsonl(folder / "docs.jsonl"))), if_encoder, folder / "index", progress=False)
    return folder / "index"


def brute_force_text_df(encoder: InferenceFreeEncoder, texts: list[str]) -> np.ndarray:
    tokenizer = load_fast_tokenizer(encoder.model_folder)
    counts = Counter(token for text in texts for token in set(tokenizer.encode(text).ids))
    return np.array([counts[t] for t in range(len(encoder.vocabulary))], dtype=np.int64)


def test_the_index_stores_the_text_df_that_lexir_index_idf_counts(if_index, if_encoder):
    index = InvertedIndex(if_index)
    np.testing.assert_array_equal(index.text_doc_freq, brute_force_text_df(if_encoder, CONTENTS))
    np.testing.assert_array_equal(index.statistics.text_doc_freq, if_encoder.text_doc_freq(CONTENTS))
    tokenizer = load_fast_tokenizer(if_encoder.model_folder)
    table = text_idf_table(tokenizer, CONTENTS)  # what `lexir index idf` writes
    idf = corpus_idf(index.text_doc_freq, index.num_docs)
    vocabulary = tokenizer.get_vocab()
    assert all(round(float(idf[vocabulary[token]]), 6) == value for token, value in table.items())
    retriever = sparse_side(if_index)
    retriever.encode(["vitamin"])  # weighs with the index's statistics
    assert retriever.encoder.idf_source == "text"
    np.testing.assert_array_equal(retriever.encoder.idf, idf)
    with pytest.raises(LexirError, match="text IDF comes from an index"):
        InferenceFreeEncoder("splade-tiny", idf="text").encode_queries(["vitamin"])


def test_text_df_does_not_depend_on_the_batch(if_encoder):
    one_batch = if_encoder.text_doc_freq(CONTENTS)  # the shorter texts are padded in a batch; padding never counts
    np.testing.assert_array_equal(one_batch, sum(if_encoder.text_doc_freq([text]) for text in CONTENTS))


def test_encoders_without_text_idf_store_none(tmp_path, splade_tiny):
    build_index(Corpus(str(write_jsonl(tmp_path / "docs.jsonl"))), create_encoder("bm25"), tmp_path / "bm25",
                progress=False)
    index = InvertedIndex(tmp_path / "bm25")
    assert index.text_doc_freq is None and index.statistics.text_doc_freq is None
    assert not (tmp_path / "bm25" / "text_doc_freq.npy").exists()
    assert splade_tiny.text_doc_freq(CONTENTS) is None


class FailingEncoder(InferenceFreeEncoder):
    """Stops the build at its third chunk, as a killed build stops."""

    calls = 0

    def encode_documents(self, texts):
        FailingEncoder.calls += 1
        if FailingEncoder.calls == 3:
            raise LexirError("stopped")
        return super().encode_documents(texts)


def test_a_resumed_build_stores_the_same_text_df(tmp_path, splade_tiny, if_encoder):
    source = Corpus(str(write_jsonl(tmp_path / "docs.jsonl")))
    failing = FailingEncoder("splade-tiny", name="splade-tiny-if", idf="text", loaded_model=splade_tiny.model)
    with pytest.raises(LexirError, match="stopped"):
        build_index(source, failing, tmp_path / "index", chunk_size=3, progress=False)
    assert len(list((staging_folder(tmp_path / "index") / "chunks").glob(CHUNK_GLOB))) == 2
    report = build_index(source, if_encoder, tmp_path / "index", chunk_size=3, resume=True, progress=False)
    assert report.resumed_chunks == 2
    np.testing.assert_array_equal(InvertedIndex(tmp_path / "index").text_doc_freq,
                                  brute_force_text_df(if_encoder, CONTENTS))


def test_live_writes_keep_the_text_df_current_and_merges_recount_it(tmp_path, if_index, if_encoder):
    shutil.copytree(if_index, tmp_path / "index")
    live = LiveIndex(tmp_path / "index", encoder=if_encoder, max_segments=8)
    searcher = open_search(live)
    zeppelin, vitamin = (if_encoder.vocabulary.index(word) for word in ("zeppelin", "vitamin"))
    before = live.snapshot().statistics
    assert before.text_doc_freq[zeppelin] == 0
    live.add([Document("z1", "Airships", "A zeppelin is a rigid airship.")])
    live.add([Document("z2", "", "The zeppelin era ended in 1937.")])
    added = live.snapshot().statistics
    assert (added.num_docs, added.text_doc_freq[zeppelin]) == (before.num_docs + 2, 2)
    live.delete(["d0"])  # a document about vitamin D
    deleted = live.snapshot().statistics
    assert deleted.text_doc_freq[vitamin] == before.text_doc_freq[vitamin] - 1
    live_texts = CONTENTS[1:] + ["Airships A zeppelin is a rigid airship.", "The zeppelin era ended in 1937."]
    np.testing.assert_array_equal(deleted.text_doc_freq, brute_force_text_df(if_encoder, live_texts))
    result = searcher.search("zeppelin", k=2)
    assert result.query_terms["zeppelin"] == pytest.approx(float(corpus_idf(deleted.text_doc_freq,
                                                                            deleted.num_docs)[zeppelin]))
    live.delete(["z1"])
    merged = live.merge()
    segment = InvertedIndex(tmp_path / "index" / SEGMENTS_DIR / merged.segments[0])
    np.testing.assert_array_equal(segment.text_doc_freq, brute_force_text_df(if_encoder, live_texts[-1:]))
    np.testing.assert_array_equal(live.snapshot().statistics.text_doc_freq,
                                  brute_force_text_df(if_encoder, live_texts[:-2] + live_texts[-1:]))


def test_idf_option_values_and_the_fallback_for_an_index_without_text_df(tmp_path, if_index, caplog):
    vectors = sparse_side(if_index, idf="vectors").encoder
    assert vectors.idf_source == "vectors" and sparse_side(if_index, idf="auto").encoder.idf_source == "text"
    older = tmp_path / "older"
    shutil.copytree(if_index, older)
    (older / "text_doc_freq.npy").unlink()  # as built by a lexir that did not record it (nor file checksums,
    manifest = json.loads((older / "manifest.json").read_text())  # which would name the file missing)
    del manifest["files"]
    (older / "manifest.json").write_text(json.dumps(manifest))
    with caplog.at_level(logging.WARNING, logger="lexir.encoders.inference_free"):
        encoder = sparse_side(older).encoder
        encoder.use_corpus_statistics(InvertedIndex(older).statistics)
    assert encoder.idf_source == "vectors"
    np.testing.assert_array_equal(encoder.idf, vectors.idf)
    warnings = [record for record in caplog.records if "no text document frequencies" in record.message]
    assert len(warnings) == 1


def test_bm25_weighs_queries_by_live_idf_only_when_the_statistics_differ(tmp_path):
    build_index(Corpus(str(write_jsonl(tmp_path / "docs.jsonl"))), create_encoder("bm25"), tmp_path / "index",
                progress=False)
    index = InvertedIndex(tmp_path / "index")
    encoder = index.load_encoder()
    query = ["vitamin vitamin calcium bones"]
    counts = encoder.encode_queries(query)
    assert counts.dtype == np.float32 and sorted(counts.data.tolist()) == [1.0, 1.0, 2.0]  # the build's: counts
    build_idf = corpus_idf(index.doc_freq, index.num_docs)
    changed = CorpusStatistics(index.num_docs + 3, np.asarray(index.doc_freq) + 1)
    encoder.use_corpus_statistics(changed)
    rescaled = encoder.encode_queries(query)
    live_idf = corpus_idf(changed.doc_freq, changed.num_docs)
    np.testing.assert_array_equal(rescaled.data, counts.data * live_idf[counts.indices] / build_idf[counts.indices])
    encoder.use_corpus_statistics(index.statistics)
    np.testing.assert_array_equal(encoder.encode_queries(query).data, counts.data)

    live = LiveIndex(tmp_path / "index")
    live.delete(["d0"])
    snapshot = live.snapshot()
    retriever = sparse_side(live)
    once = counts.data * corpus_idf(snapshot.doc_freq, snapshot.num_docs)[counts.indices] / build_idf[counts.indices]
    np.testing.assert_array_equal(retriever.encode(query).vectors.data, once)  # rescaled once, by the encoder
