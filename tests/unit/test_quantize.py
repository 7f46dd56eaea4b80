"""Quantization: range, no dropped postings, bounded error."""

from __future__ import annotations

import numpy as np
import pytest

from lexir.errors import LexirError
from lexir.index.quantize import Quantizer


@pytest.mark.parametrize("bits", [8, 16])
def test_round_trip_error_is_at_most_half_a_step(bits):
    weights = np.random.default_rng(0).gamma(1.0, 0.7, size=10_000).astype(np.float32) + 1e-6
    quantizer = Quantizer.fit(float(weights.max()), bits)
    impacts = quantizer.quantize(weights)
    assert impacts.max() == 2**bits - 1
    assert impacts.min() >= 1
    error = np.abs(quantizer.dequantize(impacts) - weights)
    tiny = weights < quantizer.scale / 2  # these round up to one step instead of down to zero
    float32_rounding = 4 * np.finfo(np.float32).eps * weights.max()
    assert error[~tiny].max() <= quantizer.scale / 2 + float32_rounding


def test_bad_inputs():
    with pytest.raises(LexirError, match="bits"):
        Quantizer.fit(1.0, 4)
    with pytest.raises(LexirError, match="empty"):
        Quantizer.fit(0.0)
