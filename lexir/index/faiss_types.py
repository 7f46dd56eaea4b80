"""FAISS index types by option string: `flat`, `hnsw:M=32,efSearch=128`, `ivfpq:nlist=256,m=16,nprobe=16`.

Every type scores by inner product (cosine for unit-length vectors). `flat` is exact;
`hnsw` (Malkov & Yashunin, 2018) and `ivfpq` (Jégou et al., 2011) are approximate and
trade recall for speed. A type is stored with all its parameters, defaults filled in, so
the dense side of an index says exactly how it was built and how it is searched.
faiss is imported only here and only when an index is made or opened.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lexir.errors import LexirError

FAISS_INSTALL_HINT = "pip install 'lexir[dense]' (or pip install faiss-cpu)"
TRAIN_POINTS_PER_CENTROID = 256
TRAIN_SEED = 0


@dataclass(frozen=True)
class FaissKind:
    """One index type: its defaults, which parameters apply at search time, and its faiss factory string."""

    defaults: dict[str, int]
    search_params: tuple[str, ...]
    factory: str


KINDS = {
    "flat": FaissKind({}, (), "Flat"),
    "hnsw": FaissKind({"M": 32, "efConstruction": 200, "efSearch": 128}, ("efSearch",), "HNSW{M},Flat"),
    "ivfpq": FaissKind({"nlist": 256, "m": 16, "nbits": 8, "nprobe": 16}, ("nprobe",), "IVF{nlist},PQ{m}x{nbits}"),
}
EXAMPLES = "flat, hnsw:M=32,efSearch=128 or ivfpq:nlist=256,m=16,nprobe=16"


def import_faiss() -> Any:
    """faiss, or a LexirError that says how to install it."""
    try:
        import faiss
    except ImportError as error:
        raise LexirError(f"dense search needs faiss, which is not installed: {FAISS_INSTALL_HINT}") from error
    return faiss


@dataclass(frozen=True)
class FaissType:
    """A FAISS index type and its parameters (all of them, defaults included)."""

    kind: str = "flat"
    params: dict[str, int] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> FaissType:
        """`TYPE` or `TYPE:KEY=VALUE,...` -> FaissType, with every value checked."""
        kind, _, rest = text.strip().partition(":")
        if kind not in KINDS:
            raise LexirError(f"unknown dense index type {kind!r} in {text!r}; use {EXAMPLES}")
        params = {}
        for item in filter(None, (part.strip() for part in rest.split(","))):
            key, separator, value = item.partition("=")
            if not separator or key not in KINDS[kind].defaults:
                allowed = ", ".join(KINDS[kind].defaults) or "none"
                raise LexirError(f"bad dense index option {item!r} in {text!r}: {kind} takes KEY=VALUE with keys "
                                 f"{allowed} (e.g. {EXAMPLES})")
            params[key] = value
        return cls.from_dict({"kind": kind, "params": params})

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FaissType:
        kind = data["kind"]
        params = {**KINDS[kind].defaults, **data.get("params", {})}
        for key, value in params.items():
            if not str(value).isdigit() or int(value) < 1:
                raise LexirError(f"dense index option {key}={value} must be a whole number of at least 1")
        return cls(kind, {key: int(value) for key, value in params.items()})

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "params": dict(self.params)}

    def __str__(self) -> str:
        options = ",".join(f"{key}={value}" for key, value in self.params.items())
        return f"{self.kind}:{options}" if options else self.kind

    def create(self, vectors: np.ndarray) -> Any:
        """An empty faiss index for vectors of this width, trained on `vectors` where the type needs training."""
        faiss = import_faiss()
        count, dim = vectors.shape
        self.check_fits(count, dim)
        index = faiss.index_factory(dim, KINDS[self.kind].factory.format(**self.params), faiss.METRIC_INNER_PRODUCT)
        if self.kind == "hnsw":
            faiss.downcast_index(index).hnsw.efConstruction = self.params["efConstruction"]
        if not index.is_trained:
            sample_size = min(count, TRAIN_POINTS_PER_CENTROID * max(self.params["nlist"], 2 ** self.params["nbits"]))
            sample = np.sort(np.random.default_rng(TRAIN_SEED).choice(count, sample_size, replace=False))
            index.train(np.ascontiguousarray(vectors[sample], dtype=np.float32))
        self.set_search_params(index)
        return index

    def set_search_params(self, index: Any) -> None:
        """Apply the search-time parameters (efSearch, nprobe) to an index made or read from disk."""
        space = import_faiss().ParameterSpace()
        for key in KINDS[self.kind].search_params:
            space.set_index_parameter(index, key, self.params[key])

    def check_fits(self, count: int, dim: int) -> None:
        """Refuse parameters that cannot work for `count` vectors of width `dim` (before any encoding)."""
        if self.kind != "ivfpq":
            return
        nlist, m, nbits = self.params["nlist"], self.params["m"], self.params["nbits"]
        if dim % m:
            raise LexirError(f"ivfpq m={m} must divide the vector width {dim}; choose m among its divisors")
        if nbits > 16:
            raise LexirError(f"ivfpq nbits={nbits} is too large; use at most 16 (8 is usual)")
        needed = max(nlist, 2 ** nbits)
        if count < needed:
            raise LexirError(f"ivfpq with nlist={nlist}, nbits={nbits} needs at least {needed} documents to train, "
                             f"the index has {count}; lower nlist/nbits or use flat or hnsw")
