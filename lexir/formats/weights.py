"""What a vector file's weights allow: kept exactly as the index's integers, or quantized like encoder output.

Pre-encoded collections often carry integer impacts already (Pyserini's SPLADE recipes store round(w * 100),
CIFF's `tf` is an integer): when every weight is a whole number that fits the index's bits, the identity
quantization (scale 1) stores them unchanged, so that CIFF -> lexir -> CIFF gives back the same integers.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from lexir.index.quantize import Quantizer


class WeightRange:
    """Whether every weight seen so far is a whole number, and the largest one (reset per full read)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.integral = True
        self.largest = 0.0

    def see(self, weights: Iterable[float]) -> None:
        for weight in weights:
            if self.integral and not float(weight).is_integer():
                self.integral = False
            if weight > self.largest:
                self.largest = float(weight)

    def exact_quantizer(self, bits: int) -> Quantizer | None:
        """Scale 1 (weights stored as they are) when every weight is a whole number within `bits`; else None."""
        if self.integral and 0 < self.largest <= Quantizer.levels_for(bits) and math.isfinite(self.largest):
            return Quantizer(bits=bits, scale=1.0)
        return None
