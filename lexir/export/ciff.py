"""CIFF out: one `*.ciff` file in the layout PISA's `ciff2pisa` and BMP's `ciff2bmp` read (BMP's reading is
tested in tests/integration/test_interop.py).

The header counts the non-empty posting lists and every live document (a live index is exported as its current
snapshot: export/source.py); each term's list carries the index's 8-bit
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
from lexir.formats.ciff import DocRecord, Header, ListArrays, write_ciff

CIFF_VERSION = 1


def header(source: ExportSource, num_lists: int, total_terms: int) -> Any:
    index = source.index
    description = (f"lexir {__version__} export of {index.path.name} ({index.manifest.encoder.name}): tf is the "
                   f"8-bit impact, weight = tf x {index.quantizer.scale!r}")
    return Header(version=CIFF_VERSION, num_postings_lists=num_lists, num_doc_records=source.num_docs,
                  total_postings_lists=num_lists, total_docs=source.num_docs,
                  total_terms_in_collection=total_terms, average_doclength=total_terms / max(source.num_docs, 1),
                  description=description)


def postings_lists(source: ExportSource, terms: np.ndarray, progress: bool) -> Iterator[ListArrays]:
    """The postings of each term of `terms`, decoded one list at a time (written without a message per posting)."""
    vocabulary = source.vocabulary
    with tqdm(total=source.num_postings, desc="export ciff", unit="posting", unit_scale=True,
              disable=not progress) as bar:
        for term in terms.tolist():
            docs, impacts = source.postings(term)
            yield ListArrays(vocabulary[term], docs, impacts)
            bar.update(len(docs))


def doc_records(source: ExportSource, lengths: np.ndarray) -> Iterator[Any]:
    for docid, doc_id in enumerate(source.ids()):
        yield DocRecord(docid=docid, collection_docid=doc_id, doclength=int(lengths[docid]))


def write_ciff_export(source: ExportSource, path: Path, progress: bool) -> None:
    bits = source.index.quantizer.bits
    if bits != 8:
        raise LexirError(f"{source.index.path} has {bits}-bit impacts; CIFF export writes 8-bit impacts (BMP's "
                         "ciff2bmp stores u8 and would wrap larger ones): export it as jsonvector, or rebuild it with "
                         "8 bits")
    terms = np.flatnonzero(source.doc_freq)
    lengths = source.document_lengths()
    write_ciff(path, header(source, len(terms), int(lengths.sum())), postings_lists(source, terms, progress),
               doc_records(source, lengths))
