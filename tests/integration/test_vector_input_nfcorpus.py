"""Pre-encoded vectors of real documents: 200 NFCorpus documents encoded with splade-tiny, written as a
JsonVectorCollection and indexed from it with `--query-encoder splade-tiny`, rank every NFCorpus test query as
the index built from their texts does (same ids, same scores), for text queries and their pre-encoded vectors."""

from __future__ import annotations

from itertools import islice

import ir_datasets
import pytest

from lexir.corpus import Document, DocumentList
from lexir.formats.jsonvector import write_jsonvector
from lexir.index import build_index
from lexir.search import open_search
from tests.helpers import lexir
from tests.unit.test_vector_input import as_vectors, query_vectors, top

DOCUMENTS = 200


@pytest.mark.integration
def test_nfcorpus_vectors_rank_as_their_texts(ir_datasets_home, splade_tiny, one_torch_thread, tmp_path):
    documents = [Document(doc.doc_id, doc.title or "", doc.text or "")
                 for doc in islice(ir_datasets.load("beir/nfcorpus").docs_iter(), DOCUMENTS)]
    build_index(DocumentList(documents), splade_tiny, tmp_path / "texts", progress=False)
    contents = [document.contents for document in documents]
    vectors = as_vectors(splade_tiny.encode_documents(contents), splade_tiny.vocabulary)
    write_jsonvector(tmp_path / "nfcorpus-200.jsonl.gz",
                     [(document.id, vector, text) for document, vector, text in zip(documents, vectors, contents)])
    lexir("index", "build", tmp_path / "nfcorpus-200.jsonl.gz", "--query-encoder", "splade-tiny", "--out",
          tmp_path / "vectors", "--quiet")
    queries = [query.text for query in ir_datasets.load("beir/nfcorpus/test").queries_iter()]
    expected = top(open_search(tmp_path / "texts"), queries)
    assert sum(len(ids) == 10 for ids, _ in expected) > len(queries) // 2
    from_vectors = open_search(tmp_path / "vectors")
    assert top(from_vectors, queries) == expected
    assert top(from_vectors, query_vectors(queries)) == expected
