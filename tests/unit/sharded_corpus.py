"""A small corpus for the sharded-index tests: tests/texts.py's documents, exact copies under other ids (score
ties that cross shards) and mixtures of their sentences, with the single and sharded indexes built from it."""

from __future__ import annotations

import random
from pathlib import Path

from lexir.corpus import Corpus
from lexir.index import build_index
from lexir.index.sharded_build import build_sharded_index
from tests.helpers import write_jsonl
from tests.texts import DOCUMENTS, QUERIES


def sharded_documents(count: int = 48) -> list[tuple[str, str, str]]:
    """`count` documents: the originals, then copies (ids c0, c1, ...) and seeded mixtures (m0, m1, ...)."""
    generator = random.Random(18)
    documents = list(DOCUMENTS)
    for number in range(6):
        _, title, text = DOCUMENTS[number * 2 % len(DOCUMENTS)]
        documents.append((f"c{number}", title, text))
    sentences = [sentence for _, _, text in DOCUMENTS for sentence in text.split(". ") if sentence]
    for number in range(count - len(documents)):
        documents.append((f"m{number}", f"mixture {number}", ". ".join(generator.sample(sentences, 2))))
    return documents


SHARDED_QUERIES = [*QUERIES, "heat", "blood pressure heart", "vitamin", "flow", "the"]


def build_pair(folder: Path, encoder_factory, num_shards: int, chunk_size: int = 7, documents=None
               ) -> tuple[Path, Path]:
    """(one index, sharded index) of `documents` (default sharded_documents()) built with fresh encoders from
    `encoder_factory`."""
    source = write_jsonl(folder / "docs.jsonl", documents or sharded_documents())
    build_index(Corpus(str(source)), encoder_factory(), folder / "one", progress=False)
    build_sharded_index(Corpus(str(source)), encoder_factory(), folder / "sharded", num_shards,
                        chunk_size=chunk_size, progress=False)
    return folder / "one", folder / "sharded"
