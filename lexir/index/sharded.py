"""The on-disk format of a sharded index: written and read only here.

A sharded index is a directory:
    shards.json          format name and version, the shard folders in order, the routing hash, the encoder spec,
                         the shared quantizer, and the corpus's global statistics at build time (document count,
                         average length where the encoder has one; document frequencies in global_doc_freq.npy)
    global_doc_freq.npy  document frequency of every build term over the whole corpus (int64)
    shard-NN/            S ordinary lexir index directories (live updates included), one per shard, built with one
                         fitted encoder and one quantizer, so that their scores add up like one index's
    ordinals/shard-NN.npy  each base document's position in the build's input (int64, in the shard's document
                         order): the merge of the shards' lists breaks score ties by it, as one index does by its
                         document numbers
shards.json is written last, so a directory without it is not a sharded index.

Routing: a document lives in shard `shard_of(id, S)`, a stable hash of its UTF-8 id (blake2b, 8 bytes, little
endian, modulo S): the same in every process and Python version, never Python's `hash()`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lexir.encoders.base import EncoderSpec
from lexir.errors import IndexFormatError, LexirError
from lexir.files import atomic_write, write_json_atomic
from lexir.index.quantize import Quantizer

SHARDS_FILE = "shards.json"
FORMAT_NAME = "lexir-sharded"
FORMAT_VERSION = 1
HASH_NAME = "blake2b-8-le"
DOC_FREQ_FILE = "global_doc_freq.npy"
ORDINALS_DIR = "ordinals"
MAX_SHARDS = 1024


def shard_of(doc_id: str, num_shards: int) -> int:
    """The shard that owns `doc_id`: blake2b (8-byte digest) of its UTF-8 bytes, little endian, modulo S."""
    digest = hashlib.blake2b(doc_id.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little") % num_shards


def shard_name(number: int) -> str:
    return f"shard-{number:02d}"


def check_num_shards(num_shards: int) -> int:
    if not isinstance(num_shards, int) or isinstance(num_shards, bool) or not 1 <= num_shards <= MAX_SHARDS:
        raise LexirError(f"the number of shards must be between 1 and {MAX_SHARDS}, got {num_shards!r}")
    return num_shards


def is_sharded(path: Path | str) -> bool:
    """Whether `path` is a finished sharded index directory (its shards.json written)."""
    return (Path(path) / SHARDS_FILE).is_file()


@dataclass(frozen=True)
class ShardedManifest:
    """What shards.json records. `shard_docs[i]` is shard i's document count at build time."""

    shards: tuple[str, ...]
    encoder: EncoderSpec
    quantization: Quantizer
    num_docs: int
    shard_docs: tuple[int, ...]
    avg_doc_length: float | None
    source: str
    created_at: str
    hash: str = HASH_NAME

    @property
    def num_shards(self) -> int:
        return len(self.shards)

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT_NAME, "version": FORMAT_VERSION, "num_shards": self.num_shards,
                "shards": list(self.shards), "hash": self.hash, "encoder": self.encoder.to_dict(),
                "quantization": self.quantization.to_dict(),
                "statistics": {"num_docs": self.num_docs, "avg_doc_length": self.avg_doc_length,
                               "doc_freq_file": DOC_FREQ_FILE},
                "shard_docs": list(self.shard_docs), "source": self.source, "created_at": self.created_at}

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: Path) -> ShardedManifest:
        if data.get("format") != FORMAT_NAME or data.get("version") != FORMAT_VERSION:
            raise IndexFormatError(f"{where} is not a lexir sharded index of version {FORMAT_VERSION} "
                                   f"(format {data.get('format')!r}, version {data.get('version')!r})")
        if data.get("hash") != HASH_NAME:
            raise IndexFormatError(f"{where} routes documents by {data.get('hash')!r}; this lexir knows {HASH_NAME}")
        try:
            shards = tuple(str(name) for name in data["shards"])
            manifest = cls(shards=shards, encoder=EncoderSpec.from_dict(data["encoder"]),
                           quantization=Quantizer.from_dict(data["quantization"]),
                           num_docs=int(data["statistics"]["num_docs"]),
                           shard_docs=tuple(int(n) for n in data["shard_docs"]),
                           avg_doc_length=data["statistics"].get("avg_doc_length"),
                           source=str(data["source"]), created_at=str(data["created_at"]))
        except (KeyError, TypeError, ValueError) as error:
            raise IndexFormatError(f"{where} is damaged ({error!r}); rebuild the sharded index") from None
        if (len(shards) != data.get("num_shards") or len(manifest.shard_docs) != len(shards)
                or len(set(shards)) != len(shards) or not 1 <= len(shards) <= MAX_SHARDS
                or any("/" in name or name.startswith(".") for name in shards)):
            raise IndexFormatError(f"{where} lists its shards inconsistently; rebuild the sharded index")
        return manifest


def read_sharded_manifest(path: Path | str) -> ShardedManifest:
    """shards.json of a sharded index, checked; every problem is one IndexFormatError naming the file."""
    file = Path(path) / SHARDS_FILE
    if not file.is_file():
        raise IndexFormatError(f"{path} is not a sharded lexir index (no {SHARDS_FILE})")
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise IndexFormatError(f"{file} cannot be read ({error}); rebuild the sharded index") from None
    if not isinstance(data, dict):
        raise IndexFormatError(f"{file} is not a JSON object; rebuild the sharded index")
    return ShardedManifest.from_dict(data, file)


def write_sharded_manifest(folder: Path, manifest: ShardedManifest) -> None:
    """Write shards.json (last: it makes the folder a sharded index)."""
    write_json_atomic(folder / SHARDS_FILE, manifest.to_dict(), indent=2)


def shard_path(path: Path | str, name: str) -> Path:
    return Path(path) / name


def write_ordinals(folder: Path, name: str, ordinals: np.ndarray) -> None:
    (folder / ORDINALS_DIR).mkdir(exist_ok=True)
    with atomic_write(folder / ORDINALS_DIR / f"{name}.npy") as handle:
        np.save(handle, np.ascontiguousarray(ordinals, dtype=np.int64))


def read_ordinals(path: Path | str, name: str, num_docs: int) -> np.ndarray:
    """The input positions of shard `name`'s base documents (memory-mapped), checked against its size."""
    file = Path(path) / ORDINALS_DIR / f"{name}.npy"
    try:
        ordinals = np.load(file, mmap_mode="r")
    except (OSError, ValueError) as error:
        raise IndexFormatError(f"{file} is missing or damaged ({error}); rebuild the sharded index") from None
    if ordinals.dtype != np.int64 or ordinals.shape != (num_docs,):
        raise IndexFormatError(f"{file} holds {ordinals.shape} {ordinals.dtype} values for a shard of {num_docs} "
                               "documents; rebuild the sharded index")
    return ordinals


def write_global_doc_freq(folder: Path, doc_freq: np.ndarray) -> None:
    with atomic_write(folder / DOC_FREQ_FILE) as handle:
        np.save(handle, np.ascontiguousarray(doc_freq, dtype=np.int64))


def read_global_doc_freq(path: Path | str) -> np.ndarray:
    file = Path(path) / DOC_FREQ_FILE
    try:
        return np.load(file, mmap_mode="r")
    except (OSError, ValueError) as error:
        raise IndexFormatError(f"{file} is missing or damaged ({error}); rebuild the sharded index") from None
