"""Small builders used by several test modules."""

from __future__ import annotations

import json
from pathlib import Path

from tests.texts import DOCUMENTS


def write_jsonl(path: Path, documents=DOCUMENTS) -> Path:
    with open(path, "w", encoding="utf-8") as handle:
        for doc_id, title, text in documents:
            handle.write(json.dumps({"_id": doc_id, "title": title, "text": text}) + "\n")
    return path


def build_dense_index(folder: Path, dense_encoder, documents=DOCUMENTS) -> Path:
    """A BM25 index of `documents` at folder/index, with a flat dense side added afterwards."""
    from lexir.corpus import Corpus
    from lexir.encoders import create_encoder
    from lexir.index import build_index
    from lexir.index.dense_builder import add_dense

    source = write_jsonl(folder / "docs.jsonl", documents)
    build_index(Corpus(str(source)), create_encoder("bm25"), folder / "index", progress=False)
    add_dense(folder / "index", dense_encoder, progress=False)
    return folder / "index"
