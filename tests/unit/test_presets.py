"""Presets: the shipped file parses, bad presets and unknown names are refused, --preset stands alone."""

from __future__ import annotations

import pytest

from lexir.errors import LexirError
from lexir.eval.cli import eval_app
from lexir.presets import load_preset, parse_presets, presets
from lexir.search.feedback import Feedback
from lexir.search.fusion import Fusion
from tests.unit.test_hybrid import invoke, invoke_error

GOOD = """
[small]
description = "BM25 with RM3"
sparse = "bm25"
prf = { method = "rm3", docs = 5, terms = 20, weight = 0.6 }

[fused]
sparse = "bm25"
dense = "minilm"
mode = "hybrid"
fuse = "convex"
normalization = "zscore"
weights = [0.4, 0.6]
dense_prf = { docs = 2 }
"""


def test_presets_parse_into_search_options():
    parsed = parse_presets(GOOD)
    assert parsed["small"].options.prf == Feedback("rm3", docs=5, terms=20, weight=0.6)
    assert parsed["small"].options.mode == "sparse" and parsed["small"].dense is None
    fused = parsed["fused"]
    assert fused.options.fusion == Fusion("convex", weights=(0.4, 0.6), normalization="zscore")
    assert fused.options.dense_prf.method == "rocchio" and fused.options.dense_prf.docs == 2
    assert (fused.sparse, fused.dense) == ("bm25", "minilm")


def test_shipped_presets_are_valid():
    best = load_preset("offline-best")
    assert best.options.mode == "hybrid" and best.dense is not None and best.sparse == "bm25"
    assert "offline-best" in presets()


@pytest.mark.parametrize("text, message", [
    ("[p]\nsparse = 'bm25'\nalpha = 1", "unknown settings alpha"),
    ("[p]\ndense = 'minilm'", "must name its sparse encoder"),
    ("[p]\nsparse = 'bm25'\nmode = 'hybrid'", "must name its dense encoder"),
    ("[p]\nsparse = 'bm25'\nprf = { method = 'rm3', depth = 3 }", "preset 'p'"),
    ("[p]\nsparse = 'bm25'\nprf = { method = 'bo1' }", "unknown feedback method"),
    ("[p\nsparse = 'bm25'", "not valid TOML"),
])
def test_bad_presets_are_refused(text, message):
    with pytest.raises(LexirError, match=message):
        parse_presets(text)


def test_unknown_preset_and_mixed_options_are_refused():
    with pytest.raises(LexirError, match="unknown preset 'fastest'; known presets: .*offline-best"):
        load_preset("fastest")
    assert "unknown preset" in invoke_error(eval_app, "cranfield", "--preset", "fastest")
    message = invoke_error(eval_app, "cranfield", "--preset", "offline-best", "--mode", "dense", "--prf", "rm3")
    assert "give it alone, not with --mode, --prf" in message
    assert "not both" in invoke_error(eval_app, "cranfield", "--preset", "offline-best", "--encoder", "bm25")


def test_search_takes_a_preset(dense_index):
    outcome = invoke(__import__("lexir.cli", fromlist=["app"]).app, "search", str(dense_index), "strong bones",
                     "--preset", "offline-best", "--json", "-k", "3")
    assert outcome.exit_code == 0, outcome.output
    assert '"hits"' in outcome.stdout
