"""The training objective's pieces, on small tensors whose answers are worked out by hand."""

from __future__ import annotations

import math

import pytest
import torch

from lexir.train.losses import (
    contrastive_loss,
    distillation_loss,
    ensemble_distribution,
    flops,
    loss_terms,
    normalize_per_query,
    warmed_up,
)

WEIGHTS = torch.tensor([[1.0, 0.0, 2.0], [3.0, 4.0, 0.0]])  # two documents, three tokens
IDF = torch.tensor([0.5, 2.0, 4.0])


def test_idf_aware_flops_is_flops_of_the_document_weights():
    # mean over documents: [2, 2, 1] -> 4 + 4 + 1
    assert flops(WEIGHTS, IDF, "idf").item() == pytest.approx(9.0)


def test_plain_flops_has_the_same_value_but_charges_high_idf_tokens_more():
    weights = WEIGHTS.clone().requires_grad_(True)
    idf_aware = flops(weights, IDF, "idf")
    idf_aware.backward()
    idf_gradient = weights.grad.clone()
    weights.grad = None
    plain = flops(weights, IDF, "plain")
    plain.backward()
    assert plain.item() == pytest.approx(idf_aware.item())
    # IDF-aware: the gradient of token t is m[t] (the same price for every token at equal mean weight);
    # plain: it is r * idf[t]^2 * m[t], rising with IDF.
    ratio = weights.grad[0] / idf_gradient[0]
    means = torch.tensor([2.0, 2.0, 1.0])
    scale = (means**2).sum() / ((means * IDF) ** 2).sum()
    assert torch.allclose(ratio, scale * IDF**2)
    assert ratio[2] > ratio[1] > ratio[0]


def test_unknown_flops_mode_is_refused():
    with pytest.raises(ValueError, match="unknown FLOPS mode"):
        flops(WEIGHTS, IDF, "l1")


def test_regulariser_weight_warms_up_quadratically():
    assert warmed_up(0.1, 0, 100) == 0.0
    assert warmed_up(0.1, 50, 100) == pytest.approx(0.025)
    assert warmed_up(0.1, 400, 100) == pytest.approx(0.1)
    assert warmed_up(0.1, 3, 0) == 0.1


def test_per_query_normalizations():
    scores = torch.tensor([[1.0, 3.0, 5.0], [10.0, 10.0, 40.0]])
    assert torch.allclose(normalize_per_query(scores, "min-max"), torch.tensor([[0.0, 0.5, 1.0], [0.0, 0.0, 1.0]]))
    z = normalize_per_query(scores, "z-score")
    assert torch.allclose(z.mean(dim=1), torch.zeros(2), atol=1e-6)
    assert torch.allclose(z.std(dim=1), torch.ones(2))
    with pytest.raises(ValueError):
        normalize_per_query(scores, "rank")


def test_ensemble_removes_the_teachers_scale_before_averaging():
    dense = torch.tensor([[0.2, 0.4, 0.6]])  # cosine-like
    sparse = torch.tensor([[30.0, 10.0, 20.0]])  # dot-product-like, a different order
    target = ensemble_distribution([dense, sparse], "min-max", scale=1.0)
    # normalized: dense [0, .5, 1], sparse [1, 0, .5]; mean [.5, .25, .75]
    expected = torch.softmax(torch.tensor([[0.5, 0.25, 0.75]]), dim=1)
    assert torch.allclose(target, expected)


def test_distillation_is_zero_when_the_student_matches_the_target():
    student = torch.tensor([[2.0, 1.0, 0.0]])
    assert distillation_loss(student, torch.softmax(student, dim=1)).item() == pytest.approx(0.0, abs=1e-6)
    assert distillation_loss(student, torch.tensor([[0.0, 0.0, 1.0]])).item() > 1.0


def test_contrastive_loss_is_the_negative_log_probability_of_the_positive():
    student = torch.tensor([[1.0, 1.0]])
    assert contrastive_loss(student).item() == pytest.approx(math.log(2))


def test_loss_terms_add_up():
    student = torch.tensor([[2.0, 0.5]])
    target = torch.tensor([[0.5, 0.5]])
    terms = loss_terms(student, target, WEIGHTS, IDF, flops_mode="idf", flops_weight=0.1, contrastive_weight=0.5)
    expected = terms["distillation"] + 0.1 * 9.0 + 0.5 * terms["contrastive"]
    assert terms["total"].item() == pytest.approx(expected.item())
    assert "contrastive" not in loss_terms(student, target, WEIGHTS, IDF, flops_mode="idf", flops_weight=0.1,
                                           contrastive_weight=0.0)


def test_distillation_is_the_mean_over_queries_of_each_lists_kl_divergence():
    """Worked out by hand on a batch of three lists: KL(p || q) = sum_i p_i log(p_i / q_i) per list, then the mean
    over the lists (not the sum over the batch, nor the mean over every entry)."""
    student = torch.tensor([[2.0, 0.0, -1.0], [0.5, 0.5, 3.0], [1.0, -2.0, 0.0]])
    target = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8], [1 / 3, 1 / 3, 1 / 3]])
    per_list = []
    for scores, wanted in zip(student.tolist(), target.tolist()):
        log_normalizer = math.log(sum(math.exp(score) for score in scores))
        per_list.append(sum(p * (math.log(p) - (score - log_normalizer)) for score, p in zip(scores, wanted)))
    assert len({round(value, 6) for value in per_list}) == 3  # three different lists: a mean is not any one of them
    assert distillation_loss(student, target).item() == pytest.approx(sum(per_list) / 3, abs=1e-6)
    assert distillation_loss(student[1:2], target[1:2]).item() == pytest.approx(per_list[1], abs=1e-6)
