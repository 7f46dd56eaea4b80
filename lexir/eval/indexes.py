"""The index an evaluation searches: one given by the user, or one built once and cached.

Cached indexes live under `$LEXIR_CACHE/indexes/<corpus-slug>-<encoder>-<hash>` (default
cache root `~/.cache/lexir`). The hash covers the corpus identity (ir_datasets docs id, or
a BEIR folder's corpus file path, size and mtime), the encoder name (for a local model folder,
also the size and mtime of its weights and idf.json, so a retrained model gets a new folder) and the
index format version, so a changed corpus or format gets a new folder; a cached index whose encoder spec
differs from the encoder's (e.g. a local model folder that changed) is rebuilt. Build figures
of a cached index are kept beside it (`<folder>.build.json`) so a later run that reuses it
can still report them.

An encoder whose documents get the same vectors as a cached index's (splade-tiny-if's and splade-tiny's: one
SPLADE model, the same document settings) gets its index derived from that one (lexir/index/derive.py) instead
of encoding the corpus again; its manifest records `derived_from`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from lexir.encoders import EncoderSpec, SparseEncoder, create_encoder
from lexir.encoders.base import needs_corpus_fit
from lexir.encoders.registry import device_option, sparse_entry
from lexir.errors import IndexFormatError, LexirError
from lexir.eval.datasets import EvalDataset, slugify
from lexir.index import InvertedIndex, build_index
from lexir.index.derive import can_derive_from, derive_index, encodes_plain_splade_documents
from lexir.index.format import FORMAT_VERSION, Manifest, is_index, read_manifest
from lexir.index.sharded import is_sharded, read_sharded_manifest
from lexir.presets import Preset

logger = logging.getLogger(__name__)

DEFAULT_ENCODER = "splade-tiny"
CACHE_ENV = "LEXIR_CACHE"


@dataclass(frozen=True)
class PreparedIndex:
    path: Path
    built_now: bool
    build_seconds: float | None
    encode_docs_per_second: float | None


def cache_root() -> Path:
    return Path(os.environ.get(CACHE_ENV) or "~/.cache/lexir").expanduser()


def cached_index_path(dataset: EvalDataset, encoder_name: str, root: Path | None = None) -> Path:
    identity = {"corpus": dataset.corpus_key, "encoder": encoder_name, "format": FORMAT_VERSION}
    stamp = _model_folder_stamp(encoder_name)
    if stamp:
        identity["model_files"] = stamp
    key = json.dumps(identity, sort_keys=True)
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:12]
    return (root or cache_root()) / "indexes" / f"{dataset.slug}-{slugify(encoder_name)}-{digest}"


def _model_folder_stamp(encoder_name: str) -> list[list[object]] | None:
    """(name, size, mtime) of a local model folder's weight and IDF files; None for other encoder names."""
    folder = Path(encoder_name).expanduser()
    if not folder.is_dir():
        return None
    files = sorted(path for pattern in ("*.safetensors", "*.bin", "idf.json") for path in folder.glob(pattern))
    return [[path.name, path.stat().st_size, path.stat().st_mtime_ns] for path in files]


def prepare_index(dataset: EvalDataset, *, encoder_name: str | None = None, index: Path | None = None,
                  cache: Path | None = None, progress: bool = True, cache_name: str | None = None,
                  encoder_options: dict[str, Any] | None = None, device: str | None = None) -> PreparedIndex:
    """The user's index (`index`), else the cached index for (dataset, encoder), built if missing (cached under
    `cache_name` in place of the encoder's name when given; the encoder made with `encoder_options`, its model,
    if it has one, on `device`)."""
    if index is not None:
        if encoder_name is not None:
            raise LexirError("give either an encoder (to build or reuse a cached index) or --index, not both")
        path = Path(index).expanduser()
        if is_sharded(path):  # its shards' manifests hold per-shard build figures only: none are reported
            _warn_other_corpus(read_sharded_manifest(path).source, dataset)
            return PreparedIndex(path, False, None, None)
        manifest = read_manifest(path)
        _warn_other_corpus(manifest.source, dataset)
        return _recorded_figures(path, manifest)
    encoder_name = encoder_name or DEFAULT_ENCODER
    path = cached_index_path(dataset, cache_name or encoder_name, cache)
    encoder = create_encoder(encoder_name, **(encoder_options or {}),
                             **device_option(sparse_entry(encoder_name).encoder_class, device))
    if is_index(path):
        manifest = read_manifest(path)
        if _same_encoder(manifest.encoder, encoder) and _has_statistics(path, encoder):
            return _recorded_figures(path, manifest)
        logger.warning("the cached index %s was built with another '%s' encoder, or by a lexir that did not record "
                       "what its queries need; rebuilding it", path, encoder_name)
    path.parent.mkdir(parents=True, exist_ok=True)
    source = _index_to_derive_from(dataset, encoder, path)
    if source is not None:
        logger.info("deriving the %s index of %s from %s (the same document vectors) at %s", encoder_name,
                    dataset.corpus_source, source, path)
        try:
            derive_index(source, encoder, path)
            return replace(_recorded_figures(path, read_manifest(path)), built_now=True)
        except (OSError, IndexFormatError) as error:
            logger.warning("could not derive the index from %s (%s); encoding the documents", source, error)
    logger.info("building the %s index of %s at %s", encoder_name, dataset.corpus_source, path)
    build_index(dataset.corpus(), encoder, path, resume=not is_index(path), overwrite=is_index(path),
                progress=progress)
    return replace(_recorded_figures(path, read_manifest(path)), built_now=True)


def _index_to_derive_from(dataset: EvalDataset, encoder: SparseEncoder, path: Path) -> Path | None:
    """A cached index of this corpus (in the folder its own encoder's name caches it under, so built from the
    corpus as it is now) whose postings `encoder` would build too (lexir.index.derive): its documents need not be
    encoded again. Models in local folders are left out: their files may have changed since."""
    if not encodes_plain_splade_documents(encoder) or _model_folder_stamp(encoder.spec.model or "") is not None:
        return None
    for candidate in sorted(path.parent.glob(f"{dataset.slug}-*")):
        if candidate != path and can_derive_from(candidate, encoder, dataset.corpus_source) and \
                cached_index_path(dataset, read_manifest(candidate).encoder.name, path.parent.parent) == candidate:
            return candidate
    return None


def prepare_preset_index(dataset: EvalDataset, preset: Preset, *, cache: Path | None = None,
                         progress: bool = True, device: str | None = None) -> PreparedIndex:
    """The cached index a preset searches: its sparse encoder's (built if missing) with a dense side of its dense
    encoder added once, in a cache folder of its own (`SPARSE+DENSE`: the plain `--encoder` folder is left as
    it is); models encode on `device`."""
    from lexir.encoders.registry import create_dense_encoder
    from lexir.index.dense import has_dense, read_dense_manifest
    from lexir.index.dense_builder import add_dense

    name = preset.sparse_label if preset.dense is None else f"{preset.sparse_label}+{preset.dense}"
    prepared = prepare_index(dataset, encoder_name=preset.sparse, cache=cache, progress=progress, cache_name=name,
                             encoder_options=preset.sparse_options, device=device)
    if preset.dense is None:
        return prepared
    encoder = create_dense_encoder(preset.dense, device=device)
    if has_dense(prepared.path) and not read_dense_manifest(prepared.path).encoder.differences(encoder.spec):
        return prepared
    logger.info("adding a %s dense side to %s", preset.dense, prepared.path)
    add_dense(prepared.path, encoder, overwrite=True, progress=progress)
    return prepared


def _recorded_figures(path: Path, manifest: Manifest) -> PreparedIndex:
    """An existing index, with the build figures its manifest recorded (None where it has none)."""
    figures = manifest.extra.get("build", {})
    return PreparedIndex(path, False, _number(figures.get("build_seconds")), _number(figures.get("docs_per_second")))


def _same_encoder(indexed: EncoderSpec, encoder: SparseEncoder) -> bool:
    """Whether a cached index was built by this encoder: the whole spec, or, for an encoder that only has a
    spec once fitted on the corpus (BM25), its name, kind and settings (k1, b, ...)."""
    if needs_corpus_fit(encoder):
        settings = getattr(type(encoder), "SETTINGS", ())
        return (indexed.name == getattr(encoder, "name", None) and indexed.kind == getattr(encoder, "kind", None)
                and all(indexed.params.get(name) == getattr(encoder, name, None) for name in settings))
    return not indexed.differences(encoder.spec)


def _has_statistics(path: Path, encoder: SparseEncoder) -> bool:
    """Whether a cached index holds the statistics its encoder weighs queries with (an index built before text
    document frequencies were recorded would silently fall back to the vector IDF)."""
    return encoder.text_doc_freq([]) is None or InvertedIndex(path).text_doc_freq is not None


def _number(value: object) -> float | None:
    """A finite number, else None (a figure that was not measured)."""
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def _warn_other_corpus(index_source: str, dataset: EvalDataset) -> None:
    """An index of another corpus gives meaningless numbers; say so (one corpus has several spellings)."""
    if _corpus_identity(index_source) != _corpus_identity(dataset.corpus_source):
        logger.warning("the index was built from %s but the dataset's documents are %s; check that they are the "
                       "same collection", index_source, dataset.corpus_source)


def _corpus_identity(source: str) -> str:
    import ir_datasets

    path = Path(source).expanduser()
    if path.is_dir():
        return str((path / "corpus.jsonl").resolve())
    if path.exists() or source not in ir_datasets.registry:
        return str(path.resolve())
    return ir_datasets.docs_parent_id(source) or source
