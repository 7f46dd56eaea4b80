"""CIFF out: one `*.ciff` file in the layout PISA's `ciff2pisa` and BMP's `ciff2bmp` read (BMP's reading is
tested in tests/integration/test_interop.py).

The header counts the non-empty posting lists and every document; each term's list carries the index's 8-bit
impacts as `tf` (docids as gaps, as Anserini writes them: lexir/formats/ciff.py); each document's record holds
its external id and, as its length, the sum of its impacts, with `total_terms_in_collection` their sum and
`average_doclength` their mean: as pyterrier-ciff writes CIFF files of learned sparse vectors (and the number
of tokens such a document has in an Anserini impact index, where a token is repeated `weight` times). Impact
consumers (PISA's quantized scorers, BMP) score by the impacts and ignore the lengths. Only 8-bit indexes are
exported: BMP stores impacts as u8 and wraps larger values around silently.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from lexir import __version__
from lexir.errors import LexirError
from lexir.export.source import ExportSource
from lexir.formats.ciff import DocRecord, Header, postings_list, write_ciff

CIFF_VERSION = 1
_IDS_PIECE = 100_000  # documents whose ids are read per step


def document_lengths(source: ExportSource) -> np.ndarray:
    """The sum of each document's impacts (int64[N]), a decoded piece of the posting lists at a time."""
    index = source.index
    lengths = np.zeros(index.num_docs, dtype=np.int64)
    for _, _, docs, impacts in index.decoded_pieces():  # decoding checks every document number < num_docs
        lengths += np.bincount(docs, weights=impacts, minlength=index.num_docs).astype(np.int64)
    return lengths


def header(source: ExportSource, num_lists: int, total_terms: int) -> Any:
    index = source.index
    description = (f"lexir {__version__} export of {index.path.name} ({index.manifest.encoder.name}): tf is the "
                   f"8-bit impact, weight = tf x {index.quantizer.scale!r}")
    return Header(version=CIFF_VERSION, num_postings_lists=num_lists, num_doc_records=index.num_docs,
                  total_postings_lists=num_lists, total_docs=index.num_docs,
                  total_terms_in_collection=total_terms, average_doclength=total_terms / index.num_docs,
                  description=description)


def postings_messages(source: ExportSource, terms: np.ndarray, progress: bool) -> Iterator[Any]:
    """The PostingsList of each term of `terms`, decoded one list at a time."""
    index, vocabulary = source.index, source.vocabulary
    offsets = np.asarray(index.offsets)
    with tqdm(total=index.manifest.num_postings, desc="export ciff", unit="posting", unit_scale=True,
              disable=not progress) as bar:
        for term in terms.tolist():
            start, end = offsets[term], offsets[term + 1]
            yield postings_list(vocabulary[term], *index.postings(term))
            bar.update(end - start)


def doc_records(source: ExportSource, lengths: np.ndarray) -> Iterator[Any]:
    store = source.index.docstore
    for first in range(0, source.index.num_docs, _IDS_PIECE):
        stop = min(first + _IDS_PIECE, source.index.num_docs)
        for docid, doc_id in enumerate(store.ids_between(first, stop), start=first):
            yield DocRecord(docid=docid, collection_docid=doc_id, doclength=int(lengths[docid]))


def write_ciff_export(source: ExportSource, path: Path, progress: bool) -> None:
    bits = source.index.quantizer.bits
    if bits != 8:
        raise LexirError(f"{source.index.path} has {bits}-bit impacts; CIFF export writes 8-bit impacts (BMP's "
                         "ciff2bmp stores u8 and would wrap larger ones): export it as jsonvector, or rebuild it with "
                         "8 bits")
    terms = np.flatnonzero(np.diff(np.asarray(source.index.offsets)))
    lengths = document_lengths(source)
    write_ciff(path, header(source, len(terms), int(lengths.sum())), postings_messages(source, terms, progress),
               doc_records(source, lengths))
