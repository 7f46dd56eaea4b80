"""Dense and hybrid evaluation on a real collection (Cranfield), and the tuning rules on real split names.

To stay quick the dense side here truncates documents to 64 tokens (docs/benchmarks.md uses the model's
256), so the numbers are checked for sanity and for fusion's basic promise, not against the published table.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from lexir.corpus import Corpus
from lexir.encoders import create_encoder
from lexir.encoders.registry import create_dense_encoder
from lexir.errors import LexirError
from lexir.eval import evaluate, load_dataset
from lexir.eval.cli import eval_app
from lexir.index import build_index
from lexir.index.dense_builder import add_dense
from lexir.search import SearchOptions
from lexir.search.fusion import Fusion

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("one_torch_thread")]


@pytest.fixture(scope="module")
def cranfield_index(ir_datasets_home: Path, tmp_path_factory: pytest.TempPathFactory, minilm) -> Path:
    """BM25 over Cranfield, with a MiniLM dense side added afterwards (documents cut to 64 tokens)."""
    index = tmp_path_factory.mktemp("cranfield") / "bm25-minilm"
    build_index(Corpus("cranfield"), create_encoder("bm25"), index, progress=False)
    add_dense(index, create_dense_encoder("minilm", max_length=64, batch_size=64), progress=False)
    return index


def test_dense_and_hybrid_runs(cranfield_index: Path) -> None:
    dataset = load_dataset("cranfield")
    sparse = evaluate(dataset, index=cranfield_index, progress=False, depth=100)
    dense = evaluate(dataset, index=cranfield_index, options=SearchOptions(mode="dense"), progress=False, depth=100)
    rrf = evaluate(dataset, index=cranfield_index, options=SearchOptions(mode="hybrid"), progress=False, depth=100)
    convex = evaluate(dataset, index=cranfield_index, progress=False, depth=100,
                      options=SearchOptions(mode="hybrid", fusion=Fusion("convex", (0.5, 0.5))))
    ndcg = {name: result.measures["nDCG@10"] for name, result in
            (("bm25", sparse), ("dense", dense), ("rrf", rrf), ("convex", convex))}
    print(ndcg)
    assert dense.num_queries == rrf.num_queries == 225 and not rrf.drop_self_hits
    assert dense.encoder["kind"] == "dense" and rrf.encoder["fusion"]["method"] == "rrf"
    assert all(len(hits) <= 100 for hits in rrf.run.values())
    assert ndcg["dense"] > 0.2
    for fused in ("rrf", "convex"):
        assert ndcg[fused] >= min(ndcg["bm25"], ndcg["dense"]), ndcg


def test_tuning_is_refused_on_test_splits_and_other_collections(cranfield_index: Path) -> None:
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
