"""Linear quantization of impacts to small unsigned integers.

One global scale per index: q = clip(round(w / scale), 1, 2**bits - 1) for every
stored weight w > 0, with scale = max weight / (2**bits - 1). A nonzero weight
never rounds to 0, so quantization drops no posting. Scores are
scale * sum(query weight * q): ranking only depends on the integers, and upper
bounds for pruning are computed from the stored integers, never from floats.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lexir.errors import LexirError

SUPPORTED_BITS = (8, 16)


@dataclass(frozen=True)
class Quantizer:
    bits: int
    scale: float

    @classmethod
    def fit(cls, max_weight: float, bits: int = 8) -> Quantizer:
        if bits not in SUPPORTED_BITS:
            raise LexirError(f"quantization bits must be one of {SUPPORTED_BITS}, got {bits}")
        if not np.isfinite(max_weight) or max_weight <= 0:
            raise LexirError(f"cannot quantize: the largest document weight is {max_weight}; every vector is empty")
        return cls(bits=bits, scale=float(max_weight) / cls.levels_for(bits))

    @classmethod
    def identity(cls, bits: int) -> Quantizer:
        """Scale 1: integer weights that fit `bits` are stored as they are (pre-encoded integer impacts)."""
        if bits not in SUPPORTED_BITS:
            raise LexirError(f"quantization bits must be one of {SUPPORTED_BITS}, got {bits}")
        return cls(bits=bits, scale=1.0)

    @staticmethod
    def levels_for(bits: int) -> int:
        return 2**bits - 1

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(np.uint8 if self.bits == 8 else np.uint16)

    def quantize(self, weights: np.ndarray) -> np.ndarray:
        levels = self.levels_for(self.bits)
        return np.clip(np.rint(weights / self.scale), 1, levels).astype(self.dtype)

    def dequantize(self, impacts: np.ndarray) -> np.ndarray:
        return impacts.astype(np.float32) * np.float32(self.scale)

    def to_dict(self) -> dict[str, object]:
        return {"method": "linear-global", "bits": self.bits, "scale": self.scale}

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> Quantizer:
        return cls(bits=int(data["bits"]), scale=float(data["scale"]))  # type: ignore[arg-type]
