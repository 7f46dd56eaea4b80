"""Fixtures for tests on the real collections (BEIR NFCorpus, Cranfield): skipped with a reason when they cannot
be loaded, failed instead under CI=true (see tests/conftest.py's skip_or_fail).

The collections are wherever ir_datasets finds them: IR_DATASETS_HOME (laid out from ../shared/data by
`make datasets`, or by hand), or its default home; ../shared is not needed when they are there.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest

from tests.conftest import skip_or_fail
from tests.helpers import lexir

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


class DocumentedIndexes:
    """One session's indexes of the real collections, made as docs/benchmarks.md makes them, and the results of
    the `lexir eval` commands run on them (each command runs once).

    `lexir eval DATASET --encoder NAME` builds and caches each sparse index under $LEXIR_CACHE (a fresh folder of
    the session); `with_dense` copies the cached splade-tiny index and adds a MiniLM side to it
    (`lexir index add-dense DIR --encoder minilm`), or copies the cached BM25 index and that dense side into it.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.cache = root / "cache"
        self.results: dict[tuple[str, ...], dict] = {}

    def eval(self, dataset: str, *args: str) -> dict:
        """result.json of `lexir eval DATASET ARGS --no-progress --out DIR`."""
        command = (dataset, *args)
        if command not in self.results:
            out = self.root / "runs" / f"{len(self.results):03d}"
            lexir("eval", *command, "--no-progress", "--out", out)
            self.results[command] = json.loads((out / "result.json").read_text())
        return self.results[command]

    def cached_index(self, dataset: str, encoder: str) -> Path:
        """The index `lexir eval DATASET --encoder NAME` built: $LEXIR_CACHE/indexes/<corpus>-<encoder>-<hash>."""
        self.eval(dataset, "--encoder", encoder)
        corpus = "beir-nfcorpus" if dataset.startswith("beir/nfcorpus") else dataset
        pattern = re.compile(rf"{re.escape(corpus)}-{re.escape(encoder)}-[0-9a-f]{{12}}")
        found = [path for path in (self.cache / "indexes").iterdir() if pattern.fullmatch(path.name)]
        assert len(found) == 1, found
        return found[0]

    def with_dense(self, dataset: str, sparse: str, options: dict[str, object] | None = None) -> Path:
        """The splade-tiny (or BM25) index of `dataset` with the MiniLM dense side (flat, 256 tokens); with
        `options` (a preset's sparse_options, e.g. BM25's k1 and b), a sparse index built with them (seconds
        for BM25) gets a copy of that dense side."""
        collection = "nfcorpus" if dataset.startswith("beir/nfcorpus") else dataset
        label = sparse + "".join(f"-{key}{value}" for key, value in sorted((options or {}).items()))
        target = self.root / "indexes" / f"{collection}-{label}-minilm"
        if not target.is_dir():
            staging = target.with_name(target.name + ".partial")  # a failed step leaves no half-made index
            shutil.rmtree(staging, ignore_errors=True)
            if options:
                corpus = "beir/nfcorpus" if collection == "nfcorpus" else dataset
                settings = [f"--encoder-option={key}={value}" for key, value in options.items()]
                lexir("index", "build", corpus, "--encoder", sparse, *settings, "--out", staging, "--quiet")
            else:
                shutil.copytree(self.cached_index(dataset, sparse), staging)
            if sparse == "splade-tiny" and not options:
                lexir("index", "add-dense", staging, "--encoder", "minilm", "--quiet")
            else:
                shutil.copytree(self.with_dense(dataset, "splade-tiny") / "dense", staging / "dense")
            staging.rename(target)
        return target


@pytest.fixture(scope="session")
def documented(ir_datasets_home, tmp_path_factory) -> DocumentedIndexes:
    with pytest.MonkeyPatch.context() as patch:
        root = tmp_path_factory.mktemp("documented")
        patch.setenv("LEXIR_CACHE", str(root / "cache"))
        yield DocumentedIndexes(root)
