"""IDF tables for query-side weighting: from an index's document frequencies, from texts, or from an idf.json.

Corpus IDF uses the BM25 formula, idf(t) = log(1 + (N - df + 0.5) / (df + 0.5)), N the number of documents.
Vector df counts the documents whose vector has a nonzero weight for t (expansion terms included); text df
(`text_doc_freq`) counts the documents whose own tokens include t, as OpenSearch's idf.json files are made.
An index stores both (the text df for inference-free encoders); `lexir index idf` writes the text IDF of a
corpus (`text_idf_table`) by the same count. An OpenSearch-format `idf.json` is a JSON object {token: idf}
over the model's vocabulary.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lexir.errors import LexirError

IDF_FILE = "idf.json"


def corpus_idf(doc_freq: np.ndarray, num_docs: int) -> np.ndarray:
    """BM25-style IDF of every term from its document frequency."""
    df = np.asarray(doc_freq, dtype=np.float64)
    return np.log1p((num_docs - df + 0.5) / (df + 0.5)).astype(np.float32)


def text_doc_freq(tokenizer: Any, texts: Iterable[str], size: int, batch: int = 1024) -> tuple[np.ndarray, int]:
    """(df, number of texts): df[t] (int64[size]) counts the texts whose tokens by a `tokenizers.Tokenizer`
    include id t, each text tokenized as a document is (truncation and special tokens as the tokenizer is set
    up). Padding is not counted: a batch pads its shorter texts, and a text's df must not depend on its batch
    (an index subtracts a deleted document's df counted alone)."""
    doc_freq = np.zeros(size, dtype=np.int64)
    num_docs, remaining = 0, iter(texts)
    while chunk := list(itertools.islice(remaining, batch)):
        ids = [np.unique(np.asarray(encoding.ids, dtype=np.int64)[np.asarray(encoding.attention_mask, dtype=bool)])
               for encoding in tokenizer.encode_batch(chunk)]
        doc_freq += np.bincount(np.concatenate(ids), minlength=size)
        num_docs += len(chunk)
    return doc_freq, num_docs


def text_idf_table(tokenizer: Any, texts: Iterable[str]) -> dict[str, float]:
    """{token: BM25 IDF} over a `tokenizers.Tokenizer`'s vocabulary, df counted on the tokens of `texts`
    (`text_doc_freq`; special tokens left out of the table)."""
    vocabulary = tokenizer.get_vocab()
    doc_freq, num_docs = text_doc_freq(tokenizer, texts, len(vocabulary))
    if num_docs == 0:
        raise LexirError("no texts to compute an IDF from")
    idf = corpus_idf(doc_freq, num_docs)
    special = {token.content for token in tokenizer.get_added_tokens_decoder().values() if token.special}
    return {token: round(float(idf[i]), 6) for token, i in vocabulary.items() if token not in special}


def load_idf_json(path: Path | str, vocabulary: Sequence[str]) -> np.ndarray:
    """Read {token: idf} into an array over `vocabulary`; tokens it does not list get 0 (they are dropped)."""
    path = Path(path)
    try:
        table = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LexirError(f"IDF file {path} does not exist") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise LexirError(f"IDF file {path} is not valid JSON: {error}") from None
    if not isinstance(table, dict) or not table:
        raise LexirError(f"IDF file {path} must be a non-empty JSON object {{token: idf}}")
    bad_values = [token for token, value in table.items()
                  if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value)
                  or value < 0]
    if bad_values:
        raise LexirError(f"IDF file {path}: the values of {bad_values[:5]} are not finite non-negative numbers")
    ids = {token: i for i, token in enumerate(vocabulary)}
    unknown = [token for token in table if token not in ids]
    if unknown:
        raise LexirError(
            f"IDF file {path} does not match the tokenizer's vocabulary: {len(unknown)} of its {len(table)} tokens "
            f"are unknown to it (e.g. {unknown[:5]}); use the idf.json made for this model's tokenizer"
        )
    idf = np.zeros(len(vocabulary), dtype=np.float32)
    idf[[ids[token] for token in table]] = [float(value) for value in table.values()]
    return idf

