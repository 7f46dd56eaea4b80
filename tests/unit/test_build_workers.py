"""Index builds with several encoding processes give the same index as one process."""

from __future__ import annotations

import numpy as np

from lexir.corpus import Corpus
from lexir.index import InvertedIndex, build_index
from lexir.index.format import ARRAY_NAMES
from tests.helpers import write_jsonl


def test_two_worker_processes_build_the_same_index(tmp_path, splade_tiny):
    corpus = Corpus(str(write_jsonl(tmp_path / "docs.jsonl")))
    single = build_index(corpus, splade_tiny, tmp_path / "one", chunk_size=3, progress=False)
    double = build_index(corpus, splade_tiny, tmp_path / "two", chunk_size=3, progress=False, workers=2)
    assert single.encoded_docs == double.encoded_docs == 12
    one, two = InvertedIndex(tmp_path / "one"), InvertedIndex(tmp_path / "two")
    for name in ARRAY_NAMES:
        np.testing.assert_array_equal(getattr(one, name), getattr(two, name), err_msg=name)
    assert one.docstore.all_ids() == two.docstore.all_ids()
