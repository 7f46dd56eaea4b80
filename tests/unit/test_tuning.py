"""N-way fusion weights chosen on a dev split: coordinate ascent, and the eval path that applies them."""

from __future__ import annotations

import pytest

from lexir.errors import LexirError
from lexir.eval import evaluate
from lexir.eval.tuning import WEIGHT_GRID, coordinate_ascent, scaled
from lexir.search import SearchOptions
from lexir.search.fusion import Fusion
from tests.unit.test_hybrid import toy_split

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_coordinate_ascent_finds_the_best_grid_point():
    target = (0.2, 0.0, 0.7)
    tried = coordinate_ascent(lambda w: -sum((a - b) ** 2 for a, b in zip(w, target)), 3)
    best = max(tried, key=tried.get)
    assert best == target and list(tried)[0] == (1.0, 1.0, 1.0)
    assert all(weight in WEIGHT_GRID for weights in tried for weight in weights)
    assert (0.0, 0.0, 0.0) not in tried  # all-zero weights are never tried
    assert scaled((0.2, 0.0, 0.6)) == (0.25, 0.0, 0.75)


def test_coordinate_ascent_keeps_the_first_on_ties():
    tried = coordinate_ascent(lambda w: 1.0, 4)
    assert max(tried, key=tried.get) == (1.0, 1.0, 1.0, 1.0)


def test_four_retrievers_are_tuned_on_dev(tmp_path, dense_index):
    import shutil

    second = tmp_path / "second"
    shutil.copytree(dense_index, second)  # hybrid over two indexes: four lists (sparse, dense of each)
    source = str(dense_index.parent / "docs.jsonl")
    dev = toy_split("toy/dev", source, {"q1": ("sunlight and strong bones", "d0"),
                                        "q2": ("why does the air get turbulent over a plate", "d4")})
    test = toy_split("toy/test", source, {"q3": ("pills for cholesterol", "d1")})
    options = SearchOptions(mode="hybrid", fusion=Fusion("convex"))
    result = evaluate(test, index=[dense_index, second], options=options, tune_on=dev, depth=10, progress=False)
    tuning = result.query["tuning"]
    assert tuning["best_alpha"] is None and tuning["values"][0][0] == [1.0] * 4
    best = max(value for _, value in tuning["values"])
    first_best = next(weights for weights, value in tuning["values"] if value == best)
    assert tuning["best_weights"] == pytest.approx([w / sum(first_best) for w in first_best], abs=1e-4)
    assert result.query["fusion"]["weights"] == tuning["best_weights"]
    with pytest.raises(LexirError, match="refusing to tune on toy/test"):
        evaluate(dev, index=[dense_index, second], options=options, tune_on=test, progress=False)
