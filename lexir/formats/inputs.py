"""What `lexir index build FILE` was given: documents (texts), a JsonVectorCollection, or a CIFF file.

`auto` recognises a CIFF file by its name (`*.ciff`, `*.ciff.gz`) and a JsonVectorCollection by its first
non-blank line (a JSON object with a `vector`); anything else is documents (Corpus: ir_datasets id, BEIR folder,
JSONL of texts). The vector sources are opened with the `vectors` encoder that indexes them.
"""

from __future__ import annotations

import json
from pathlib import Path

from lexir.corpus import LineReader
from lexir.encoders.base import SparseEncoder
from lexir.encoders.vectors import VectorsEncoder
from lexir.errors import LexirError
from lexir.formats.ciff_documents import CiffDocuments
from lexir.formats.jsonvector import JsonVectorCollection

INPUT_FORMATS = ("auto", "documents", "jsonvector", "ciff")
CIFF_SUFFIXES = (".ciff", ".ciff.gz")

VectorSource = JsonVectorCollection | CiffDocuments


def detect_input_format(source: str, asked: str = "auto") -> str:
    """"documents", "jsonvector" or "ciff": `asked` checked, or, for "auto", recognised as the module says."""
    if asked not in INPUT_FORMATS:
        raise LexirError(f"--input-format must be one of {', '.join(INPUT_FORMATS)}, got {asked!r}")
    if asked != "auto":
        return asked
    path = Path(source).expanduser()
    if not path.is_file():
        return "documents"
    if path.name.endswith(CIFF_SUFFIXES):
        return "ciff"
    return "jsonvector" if _holds_vectors(path) else "documents"


def _holds_vectors(path: Path) -> bool:
    """Whether the first non-blank line is a JSON object with a `vector` (a bad first line is left to the reader
    that the rest of the file is read with, which reports it with its line number)."""
    for raw in LineReader().parsed_lines(path, lambda raw: raw):
        try:
            record = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            return False
        return isinstance(record, dict) and "vector" in record
    return False


def open_vectors(source: str, input_format: str, query_encoder: SparseEncoder | None, *, skip_bad_lines: bool,
                 work_folder: Path, progress: bool = True) -> tuple[VectorSource, VectorsEncoder]:
    """The vector source and its encoder. A CIFF file's own vocabulary keeps the file's term order (so that an
    export writes its postings lists in the same order); a JSONL one's is fitted by the builder (sorted)."""
    if input_format == "ciff":
        if skip_bad_lines:
            raise LexirError("--skip-bad-lines is for JSONL files: a CIFF file is read whole or not at all")
        documents = CiffDocuments(source, work_folder=work_folder, progress=progress)
        return documents, VectorsEncoder(query_encoder, vocabulary=None if query_encoder else documents.terms)
    return JsonVectorCollection(source, skip_bad_lines=skip_bad_lines), VectorsEncoder(query_encoder)
