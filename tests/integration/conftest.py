"""Fixtures for tests on the real collections (BEIR NFCorpus, Cranfield): skipped with a reason when they cannot
be loaded, failed instead under CI=true (see tests/conftest.py's skip_or_fail).

The collections are wherever ir_datasets finds them: IR_DATASETS_HOME (laid out from ../shared/data by
`make datasets`, or by hand), or its default home; ../shared is not needed when they are there.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import skip_or_fail

SHARED_DATA = Path(__file__).parents[2].parent / "shared" / "data"
COLLECTIONS = ("beir/nfcorpus/test", "beir/nfcorpus/dev", "cranfield")


def _unloadable(dataset_id: str) -> str | None:
    """Why a collection's documents, queries or judgements cannot be read (None when they can)."""
    try:
        import ir_datasets

        dataset = ir_datasets.load(dataset_id)
        for records in (dataset.docs_iter(), dataset.queries_iter(), dataset.qrels_iter()):
            next(iter(records))
    except Exception as error:  # ir_datasets raises anything from network, archive and checksum code
        return f"{type(error).__name__}: {str(error)[:200]}"
    return None


@pytest.fixture(scope="session")
def ir_datasets_home() -> Path:
    """The ir_datasets home that holds the collections (e.g. beir/nfcorpus, cranfield)."""
    problems = {dataset_id: why for dataset_id in COLLECTIONS if (why := _unloadable(dataset_id))}
    if problems:
        hint = (f"lay them out with `{SHARED_DATA.parent / 'bin' / 'offline-datasets'} DIR` and "
                "`export IR_DATASETS_HOME=DIR`" if SHARED_DATA.is_dir() else "set IR_DATASETS_HOME to a folder "
                "holding them, or let ir_datasets download them")
        skip_or_fail(f"cannot load {', '.join(problems)} ({next(iter(problems.values()))}); {hint}")
    import ir_datasets

    return Path(os.environ.get("IR_DATASETS_HOME") or ir_datasets.util.home_path())
