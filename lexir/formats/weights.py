"""What a vector file's weights allow: kept exactly as the index's integers, or quantized like encoder output.

Pre-encoded collections often carry integer impacts already (Pyserini's SPLADE recipes store round(w * 100),
CIFF's `tf` is an integer): when every weight is a whole number that fits the index's bits, the identity
quantization (scale 1) stores them unchanged, so that CIFF -> lexir -> CIFF gives back the same integers.

Imports nothing of lexir: the builder reads it.
"""

from __future__ import annotations

import math

import numpy as np


class WeightRange:
    """Whether every weight seen so far is a whole number, and the largest one (reset per full read)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.integral = True
        self.largest = 0.0

    def see(self, weights: np.ndarray) -> None:
        """Take in one document's (or one postings list's) weights."""
        if weights.size:
            self.integral = self.integral and bool(np.all(weights == np.floor(weights)))
            self.largest = max(self.largest, float(weights.max()))

    def fits_exactly(self, bits: int) -> bool:
        """Whether every weight is a whole number that `bits` unsigned bits hold (and one is above zero): then
        the identity quantization (Quantizer.identity) stores them unchanged."""
        return self.integral and 0 < self.largest <= 2**bits - 1 and math.isfinite(self.largest)
