"""`lexir index export`: an index's vectors and postings in the formats other engines read.

- `jsonvector`: Pyserini's JsonVectorCollection (jsonvector.py), document by document;
- `ciff`: the Common Index File Format (ciff.py), term by term, for PISA and BMP;
- `opensearch`: `_bulk` NDJSON, the index body (rank_features or SEISMIC sparse_vector) and idf.json
  (opensearch.py).
An index with live updates is exported as its current snapshot: every live document of every segment, deleted
ones left out, numbered anew (export/source.py). Document-major formats stream ranges of documents inverted from
the memory-mapped postings (index/forward.py); CIFF streams the posting lists as they lie, written as protobuf
wire bytes a whole list at a time (formats/ciff_wire.py). A file is written beside its target and renamed onto it when
complete (an OpenSearch folder is swapped in whole), so a failed export leaves nothing half-written.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from lexir.errors import LexirError
from lexir.export.ciff import write_ciff_export
from lexir.export.jsonvector import write_jsonvector_export
from lexir.export.opensearch import FIELD_TYPES, write_opensearch
from lexir.export.source import ExportSource
from lexir.files import folder_bytes, swap_folder
from lexir.index.forward import DEFAULT_BATCH_POSTINGS

FORMATS = ("jsonvector", "ciff", "opensearch")
SUFFIXES = {"jsonvector": (".jsonl", ".jsonl.gz"), "ciff": (".ciff", ".ciff.gz")}


@dataclass(frozen=True)
class ExportReport:
    path: Path
    format: str
    num_docs: int
    num_postings: int
    bytes: int
    seconds: float


def check_target(fmt: str, out: Path, overwrite: bool) -> None:
    """A known format, a file name that says what it holds, and no existing output unless `overwrite`."""
    if fmt not in FORMATS:
        raise LexirError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    suffixes = SUFFIXES.get(fmt, ())
    if suffixes and not out.name.endswith(suffixes):
        raise LexirError(f"a {fmt} export is one file named *{' or *'.join(suffixes)}, not {out.name}")
    if out.exists() and not overwrite:
        raise LexirError(f"{out} exists; give --overwrite to replace it")
    if out.exists() and (out.is_dir() != (fmt == "opensearch")):
        raise LexirError(f"{out} is a {'folder' if out.is_dir() else 'file'}; a {fmt} export writes a "
                         f"{'folder' if fmt == 'opensearch' else 'file'}: choose another --out")


def export_index(index: Path | str, fmt: str, out: Path | str, *, field_type: str | None = None,
                 overwrite: bool = False, progress: bool = True,
                 batch_postings: int = DEFAULT_BATCH_POSTINGS) -> ExportReport:
    """Write the index at `index` as `fmt` to `out` (a file, or for opensearch a folder). `field_type` picks the
    OpenSearch vector field (rank_features, the default, or sparse_vector); `batch_postings` bounds the postings
    a document-major export holds at once."""
    out = Path(out)
    check_target(fmt, out, overwrite)
    if fmt != "opensearch" and field_type is not None:
        raise LexirError(f"an OpenSearch field type is for --format opensearch, not {fmt}")
    field_type = field_type or FIELD_TYPES[0]
    if field_type not in FIELD_TYPES:
        raise LexirError(f"unknown OpenSearch field type {field_type!r}; choose one of {', '.join(FIELD_TYPES)}")
    started = time.perf_counter()
    source = ExportSource(index, batch_postings)
    try:
        _write(source, fmt, out, field_type, progress)
        size = folder_bytes(out) if out.is_dir() else out.stat().st_size
        return ExportReport(out, fmt, source.num_docs, source.num_postings, size, time.perf_counter() - started)
    except OSError as error:  # a full disk, a folder without write permission: one line, nothing left half-written
        raise LexirError(f"cannot write {out}: {error.strerror or error}") from None
    finally:
        source.close()


def _write(source: ExportSource, fmt: str, out: Path, field_type: str, progress: bool) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "jsonvector":
        write_jsonvector_export(source, out, progress)
    elif fmt == "ciff":
        write_ciff_export(source, out, progress)
    else:
        staging = out.with_name(f".{out.name}.partial")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        try:
            write_opensearch(source, staging, field_type, progress)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        swap_folder(staging, out)
