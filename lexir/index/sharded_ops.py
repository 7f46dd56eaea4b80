"""What `lexir index` commands do to a sharded index: the same thing to every shard, each failure naming it.

`check_sharded` checks shards.json, the global statistics and ordinals files, then each shard as an ordinary
index (index/check.py); `add_dense_sharded` gives every shard a dense side with one encoder; `merge_sharded`
folds each shard's live segments; `sharded_info` is shards.json with the shards' sizes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lexir.encoders.dense import DenseEncoder
from lexir.errors import IndexFormatError, LexirError
from lexir.files import folder_bytes
from lexir.index.check import IndexCheck, check_index
from lexir.index.dense import has_dense
from lexir.index.dense_builder import DenseBuildReport, add_dense
from lexir.index.faiss_types import FaissType
from lexir.index.format import read_manifest
from lexir.index.live import Commit, LiveIndex
from lexir.index.sharded import is_sharded, read_global_doc_freq, read_ordinals, read_sharded_manifest, shard_path


@dataclass
class ShardedCheck:
    """Each shard's check."""

    path: Path
    shards: list[IndexCheck] = field(default_factory=list)

    def summary(self) -> str:
        return "\n".join([f"{self.path}: sharded index of {len(self.shards)} shards, sound",
                          *(f"  {check.summary()}" for check in self.shards)])


def check_sharded(path: Path | str, *, full: bool = False) -> ShardedCheck:
    """Check a sharded index; raises one IndexFormatError naming every damaged shard (and its files)."""
    path = Path(path)
    manifest = read_sharded_manifest(path)
    read_global_doc_freq(path)
    result, problems = ShardedCheck(path), []
    for name, base_docs in zip(manifest.shards, manifest.shard_docs):
        folder = shard_path(path, name)
        try:
            if not folder.is_dir():
                raise IndexFormatError(f"its folder {folder} is missing")
            if read_manifest(folder).num_docs != base_docs:
                raise IndexFormatError(f"{folder} holds {read_manifest(folder).num_docs} base documents; "
                                       f"shards.json says {base_docs}")
            read_ordinals(path, name, base_docs)
            result.shards.append(check_index(folder, full=full))
        except LexirError as error:
            problems.append(f"shard {name}: {error}")
    if problems:
        raise IndexFormatError(f"{path} is damaged: " + "; ".join(problems))
    return result


def add_dense_sharded(path: Path | str, encoder: DenseEncoder, *, faiss_type: FaissType | str = "flat",
                      overwrite: bool = False, progress: bool = True) -> list[DenseBuildReport]:
    """A dense side for every shard, with one encoder and FAISS type (each swapped in as add_dense does)."""
    manifest = read_sharded_manifest(path)
    return [add_dense(shard_path(path, name), encoder, faiss_type=faiss_type, overwrite=overwrite, progress=progress)
            for name in manifest.shards]


def merge_sharded(path: Path | str) -> dict[str, tuple[Commit, Commit]]:
    """Each shard's live segments folded into one: shard name -> (commit before, commit after)."""
    manifest = read_sharded_manifest(path)
    return {name: LiveIndex(shard_path(path, name)).merge_commits() for name in manifest.shards}


def sharded_info(path: Path | str) -> dict[str, Any]:
    """shards.json, with the bytes of the whole index and of each shard."""
    path = Path(path)
    info = read_sharded_manifest(path).to_dict()
    info["index_bytes"] = folder_bytes(path)
    info["shard_bytes"] = {name: folder_bytes(shard_path(path, name)) for name in info["shards"]}
    return info


def has_dense_side(path: Path | str) -> bool:
    """Whether the index at `path` has a dense side to search: its own, or (a sharded index) one in every shard."""
    if not is_sharded(path):
        return has_dense(Path(path))
    return all(has_dense(shard_path(path, name)) for name in read_sharded_manifest(path).shards)
