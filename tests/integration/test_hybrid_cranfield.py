"""Dense and hybrid evaluation on a real collection (Cranfield): the run's shape, and the tuning rules on real
split names. The numbers themselves are pinned to docs/benchmarks.md in test_effectiveness.py, on the same
session index (splade-tiny + MiniLM at the model's 256 tokens, as documented)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from lexir.errors import LexirError
from lexir.eval import evaluate, load_dataset
from lexir.eval.cli import eval_app
from lexir.search import SearchOptions

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cranfield_index(documented):
    return documented.with_dense("cranfield", "splade-tiny")


def test_dense_and_hybrid_runs(documented, cranfield_index):
    dense = documented.eval("cranfield", "--index", str(cranfield_index), "--mode", "dense")
    rrf = documented.eval("cranfield", "--index", str(cranfield_index), "--mode", "hybrid", "--fuse", "rrf")
    assert dense["num_queries"] == rrf["num_queries"] == 225 and not rrf["drop_self_hits"]
    assert dense["encoder"]["kind"] == "dense" and rrf["encoder"]["fusion"]["method"] == "rrf"
    assert rrf["encoder"]["name"] == "rrf(splade-tiny + minilm)" and rrf["query"]["fusion_depth"] == 100


def test_tuning_is_refused_on_test_splits_and_other_collections(cranfield_index):
    cranfield = load_dataset("cranfield")
    cases = [(cranfield, "the split being evaluated"), (load_dataset("beir/nfcorpus/test"), "refusing to tune"),
             (load_dataset("beir/nfcorpus/dev"), "another collection")]
    for tune_on, fragment in cases:
        with pytest.raises(LexirError, match=fragment):
            evaluate(cranfield, index=cranfield_index, options=SearchOptions(mode="hybrid"), tune_on=tune_on,
                     progress=False)
    outcome = CliRunner().invoke(eval_app, ["cranfield", "--index", str(cranfield_index), "--mode", "hybrid",
                                            "--tune-on", "cranfield"])
    assert isinstance(outcome.exception, LexirError) and "being evaluated" in str(outcome.exception)
