"""An index derived from another whose documents have the same vectors, instead of encoding them again.

Two encoders can give every document the same vector and differ only in their queries: splade-tiny and
splade-tiny-if (one SPLADE model encodes the documents of both; the second weighs tokenized queries by IDF), or
a SPLADE model and a DiSCo query model over it. Building the second's index would encode the corpus again for
nothing: its postings, quantization and document store are the first's, byte for byte. Deriving copies those
files, adds what only the new encoder's queries need (the documents' text df), and writes a manifest naming the
new encoder. Only plain SPLADE document sides are compared (the same model, vocabulary and document settings);
an index with live writes or a dense side is not derived from.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import lexir
from lexir.encoders.base import EncoderSpec, SparseEncoder
from lexir.encoders.inference_free import InferenceFreeEncoder
from lexir.encoders.splade import SpladeEncoder
from lexir.errors import IndexFormatError
from lexir.files import swap_folder
from lexir.index.builder import stored_text_doc_freq
from lexir.index.docstore import DOCSTORE_FILE
from lexir.index.format import (
    MANIFEST_FILE,
    REBUILD,
    is_index,
    read_manifest,
    record_files,
    write_array,
    write_manifest,
)

TEXT_DF_FILE = "text_doc_freq.npy"  # recomputed for the new encoder (or left out when it has no use for it)


def document_side(spec: EncoderSpec) -> dict[str, Any] | None:
    """What fixes a SPLADE index's document vectors: model, vocabulary and document settings, without the name
    and the query side (query length, query top-k); None for other encoders."""
    if spec.kind not in (SpladeEncoder.kind, InferenceFreeEncoder.kind):
        return None
    return {"model": spec.model, "vocab_fingerprint": spec.vocab_fingerprint, "max_doc_length": spec.max_doc_length,
            "params": {key: value for key, value in spec.params.items() if key != "query_top_k"}}


def encodes_plain_splade_documents(encoder: SparseEncoder) -> bool:
    """Whether `encoder`'s documents are encoded by SpladeEncoder itself (not a subclass that pools otherwise)."""
    documents = encoder.documents if isinstance(encoder, InferenceFreeEncoder) else encoder
    return type(documents) is SpladeEncoder


def can_derive_from(folder: Path, encoder: SparseEncoder, source: str) -> bool:
    """Whether the index at `folder`, built from `source`, holds exactly the postings `encoder` would build: the
    same document side, a manifest that records its files, and no live writes or dense side beside them."""
    if not is_index(folder) or not encodes_plain_splade_documents(encoder):
        return False
    try:
        manifest = read_manifest(folder)
    except IndexFormatError:
        return False
    wanted = document_side(encoder.spec)
    if manifest.source != source or not manifest.files or document_side(manifest.encoder) != wanted:
        return False
    recorded = {path.split("/")[0] for path in manifest.files} | {MANIFEST_FILE}
    return all(entry.name in recorded for entry in folder.iterdir())


def derive_index(source: Path, encoder: SparseEncoder, target: Path) -> None:
    """Write at `target` (replacing what is there) the index of `encoder` whose postings are those of the index at
    `source` (see can_derive_from). It is assembled in a staging folder beside `target` and renamed into place
    only when every copied file matches the checksum `source`'s manifest recorded."""
    started = time.perf_counter()
    manifest = read_manifest(source)
    staging = target.parent / f".{target.name}.derived"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        for path in manifest.files:
            if path != TEXT_DF_FILE:
                (staging / path).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source / path, staging / path)
        damaged = [path for path, record in record_files(staging).items() if record != manifest.files[path]]
        if damaged:
            raise IndexFormatError(f"{source} does not match its manifest ({', '.join(damaged)}): {REBUILD}")
        text_df = stored_text_doc_freq(encoder, staging / DOCSTORE_FILE)
        if text_df is not None:
            write_array(staging, TEXT_DF_FILE.removesuffix(".npy"), text_df)
        figures = {"build_seconds": round(time.perf_counter() - started, 3), "derived_from": source.name}
        write_manifest(staging, replace(manifest, encoder=encoder.spec, lexir_version=lexir.__version__,
                                        extra={"build": figures},
                                        created_at=datetime.now(timezone.utc).isoformat(timespec="seconds")))
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    swap_folder(staging, target)
