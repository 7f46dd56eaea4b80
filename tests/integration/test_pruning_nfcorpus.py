"""Every top-k algorithm returns exhaustive scoring's hits on a real collection: NFCorpus indexed with
BM25 (a 3-second build), all 323 test queries."""

from __future__ import annotations

import ir_datasets
import pytest

from lexir.corpus import Corpus
from lexir.encoders import create_encoder
from lexir.index import InvertedIndex, build_index
from lexir.search.segment import SegmentSearcher
from tests.unit.test_pruning_search import assert_all_algorithms_agree


@pytest.mark.integration
@pytest.mark.parametrize("k", [1, 10, 100])
def test_nfcorpus_all_algorithms_equal_exhaustive(ir_datasets_home, tmp_path_factory, k):
    folder = tmp_path_factory.getbasetemp() / "nfcorpus-bm25"
    if not (folder / "manifest.json").is_file():
        build_index(Corpus("beir/nfcorpus"), create_encoder("bm25"), folder, progress=False)
    index = InvertedIndex(folder)
    queries = [query.text for query in ir_datasets.load("beir/nfcorpus/test").queries_iter()]
    assert_all_algorithms_agree(SegmentSearcher(index), index.load_encoder().encode_queries(queries), k)
