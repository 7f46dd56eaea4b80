"""Fixtures for tests on the real collections in ../shared/data: skipped with a reason when absent,
failed instead under CI=true (see tests/conftest.py's skip_or_fail)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import skip_or_fail

SHARED_DATA = Path(__file__).parents[2].parent / "shared" / "data"


@pytest.fixture(scope="session")
def ir_datasets_home() -> Path:
    """The IR_DATASETS_HOME folder holding offline copies of the shared collections (e.g. beir/nfcorpus, cranfield)."""
    if not SHARED_DATA.is_dir():
        skip_or_fail(f"the shared data folder {SHARED_DATA} is absent")
    home = os.environ.get("IR_DATASETS_HOME")
    if not home or not Path(home).is_dir():
        skip_or_fail("IR_DATASETS_HOME is not set to an existing folder; lay the collections out with "
                     f"`{SHARED_DATA.parent / 'bin' / 'offline-datasets'} DIR` and `export IR_DATASETS_HOME=DIR`")
    return Path(home)
