"""Fusion math on hand-made ranked lists: RRF, min-max and z-score convex combinations, edge cases."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from lexir.cli_options import parse_weights
from lexir.errors import LexirError
from lexir.search.fusion import Fusion, FusionTable, Ranking, fuse, normalize
from lexir.search.options import fusion_of

SPARSE = Ranking(np.array(["a", "b", "c"]), np.array([9.0, 6.0, 3.0]))
DENSE = Ranking(np.array(["c", "d"]), np.array([0.8, 0.4]))


def as_dict(fused) -> dict[str, float]:
    return dict(zip(fused.keys.tolist(), fused.scores.tolist()))


def test_rrf_sums_reciprocal_ranks():
    fused = fuse([SPARSE, DENSE], Fusion("rrf"))
    expected = {"a": 1 / 61, "b": 1 / 62, "c": 1 / 63 + 1 / 61, "d": 1 / 62}
    assert as_dict(fused) == pytest.approx(expected)
    assert fused.keys.tolist() == ["c", "a", "b", "d"]  # b and d tie at 1/62: the smaller key first
    assert fused.parts[0].tolist() == pytest.approx([1 / 63, 1 / 61])


def test_weighted_rrf_and_rrf_k():
    fused = fuse([SPARSE, DENSE], Fusion("rrf", weights=(2.0, 1.0), rrf_k=0))
    assert as_dict(fused) == pytest.approx({"a": 2.0, "b": 1.0, "c": 2 / 3 + 1.0, "d": 0.5})


def test_minmax_convex_with_a_document_on_one_side_only():
    fused = fuse([SPARSE, DENSE], Fusion("convex", weights=(0.4, 0.6)))
    # sparse min-max: a 1, b 0.5, c 0; dense: c 1, d 0; a missing entry counts as that list's lowest (0)
    expected = {"a": 0.4, "b": 0.2, "c": 0.6, "d": 0.0}
    assert as_dict(fused) == pytest.approx(expected)
    assert fused.keys.tolist() == ["c", "a", "b", "d"]
    assert fused.parts[fused.keys.tolist().index("a")].tolist() == pytest.approx([0.4, 0.0])


def test_zscore_convex():
    fused = fuse([SPARSE, DENSE], Fusion("convex", weights=(0.5, 0.5), normalization="zscore"))
    sparse_z = (np.array([9.0, 6.0, 3.0]) - 6.0) / np.std([9.0, 6.0, 3.0])
    dense_z = np.array([1.0, -1.0])  # two values: +-1 around their mean
    expected = {"a": 0.5 * sparse_z[0] + 0.5 * dense_z.min(), "b": 0.5 * sparse_z[1] + 0.5 * dense_z.min(),
                "c": 0.5 * sparse_z[2] + 0.5 * dense_z[0], "d": 0.5 * sparse_z.min() + 0.5 * dense_z[1]}
    assert as_dict(fused) == pytest.approx(expected)


@pytest.mark.parametrize("method", ["rrf", "convex"])
def test_zero_weight_gives_the_other_list_exactly(method):
    only_sparse = fuse([SPARSE, DENSE], Fusion(method, weights=(1.0, 0.0)))
    only_dense = fuse([SPARSE, DENSE], Fusion(method, weights=(0.0, 1.0)))
    assert only_sparse.keys.tolist() == ["a", "b", "c"]
    assert only_dense.keys.tolist() == ["c", "d"]
    assert (only_sparse.parts[:, 1] == 0).all()


def test_ties_and_constant_lists():
    constant = Ranking(np.array(["x", "y"]), np.array([2.0, 2.0]))
    assert normalize(constant.scores, "minmax").tolist() == [0.0, 0.0]
    assert normalize(constant.scores, "zscore").tolist() == [0.0, 0.0]
    tied = fuse([Ranking(np.array(["z", "y"]), np.array([1.0, 1.0])), constant], Fusion("convex"))
    assert tied.keys.tolist() == ["x", "y", "z"] and (tied.scores == 0).all()  # all tied: key order


def test_depth_cuts_the_fused_list_and_integer_keys_work():
    fused = fuse([Ranking(np.array([5, 3, 1]), np.array([3.0, 2.0, 1.0])),
                  Ranking(np.array([1, 7]), np.array([1.0, 0.5]))], Fusion("rrf"), depth=2)
    assert fused.keys.tolist() == [1, 5]


def reference_fusion(rankings: list[Ranking], fusion: Fusion, weights: tuple[float, ...]) -> dict[int, float]:
    """The module docstring's definition, document by document, over the lists of non-zero weight."""
    fused: dict[int, float] = {}
    used = [(ranking, weight) for ranking, weight in zip(rankings, weights) if weight > 0]
    for ranking, _ in used:
        fused.update((int(key), 0.0) for key in ranking.keys)
    for ranking, weight in used:
        if fusion.method == "rrf":
            values, floor = {int(key): 1 / (fusion.rrf_k + rank) for rank, key in enumerate(ranking.keys, 1)}, 0.0
        else:
            normalized = normalize(ranking.scores, fusion.normalization)
            values, floor = dict(zip(ranking.keys.tolist(), normalized.tolist())), float(normalized.min())
        for key in fused:
            fused[key] += weight * values.get(key, floor)
    return fused


@pytest.mark.parametrize("fusion", [Fusion("rrf"), Fusion("rrf", rrf_k=0), Fusion("convex"),
                                    Fusion("convex", normalization="zscore")])
def test_one_table_ranks_every_weight_vector_as_the_definition_says(fusion):
    """A weight search builds a query's table once and ranks it under many weight vectors (zeros included)."""
    rng = np.random.default_rng(7)
    rankings = []
    for size in (40, 25, 60):
        keys = rng.choice(100, size=size, replace=False)
        scores = np.sort(rng.choice([0.5, 1.0, 1.5, 2.0], size=size) + rng.integers(0, 3, size=size))[::-1]
        rankings.append(Ranking(keys, scores.astype(np.float64)))
    table = FusionTable(rankings, fusion)
    for weights in [(1.0, 1.0, 1.0), (0.0, 0.3, 0.7), (0.5, 0.0, 0.0), (0.2, 0.8, 0.0), (0.0, 0.0, 1.0)]:
        fused = table.rank(np.array(weights), depth=30)
        expected = reference_fusion(rankings, fusion, weights)
        best = sorted(expected.items(), key=lambda item: (-item[1], item[0]))[:30]
        assert fused.scores.tolist() == pytest.approx([score for _, score in best])
        cut = best[-1][1]  # documents tied at the cut may be others (the sums' rounding differs); none above it
        assert {key for key, score in best if score > cut + 1e-9} <= set(fused.keys.tolist())
        assert all(fused.keys[i] < fused.keys[i + 1] for i in range(len(fused.keys) - 1)
                   if fused.scores[i] == fused.scores[i + 1])
        assert np.array_equal(fused.parts.sum(axis=1), fused.scores)
        assert not np.signbit(fused.parts[:, np.array(weights) == 0]).any()  # a left-out list's share is +0.0
        assert np.array_equal(fused.keys, fuse(rankings, replace(fusion, weights=weights), 30).keys)
    assert table.rank(np.array([0.0, 1.0, 0.0])).keys.size == 25  # only the documents the weighted list holds


def test_empty_list_and_bad_inputs():
    empty = Ranking(np.array([], dtype=str), np.array([]))
    assert fuse([SPARSE, empty], Fusion("convex")).keys.tolist() == ["a", "b", "c"]
    with pytest.raises(LexirError, match="same document twice"):
        fuse([Ranking(np.array(["a", "a"]), np.array([1.0, 0.5])), SPARSE], Fusion())
    with pytest.raises(LexirError, match="2 fusion weights were given for 3"):
        fuse([SPARSE, DENSE, DENSE], Fusion(weights=(0.5, 0.5)))
    for bad in ({"method": "sum"}, {"normalization": "l2"}, {"weights": (0.0, 0.0)}, {"weights": (-1.0, 2.0)}):
        with pytest.raises(LexirError):
            Fusion(**bad)


def test_fusion_options():
    assert fusion_of(None, None, None, 60) is None
    assert fusion_of("convex", parse_weights("0.3,0.7"), "zscore", 60) == Fusion("convex", (0.3, 0.7), "zscore")
    assert fusion_of(None, (1, 2), None, 60) == Fusion("rrf", (1.0, 2.0))
    assert fusion_of(None, None, None, 10) == Fusion("rrf", rrf_k=10)
    with pytest.raises(LexirError, match="comma-separated list of numbers"):
        parse_weights("0.3;0.7")
    with pytest.raises(LexirError, match="only to convex fusion"):
        fusion_of("rrf", None, "zscore", 60)
