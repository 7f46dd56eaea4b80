"""The training objective of an inference-free student: ensemble distillation, contrast, and FLOPS.

Notation: w[i, t] >= 0 is document i's weight for vocabulary token t (a batch of N documents), idf[t] the
query-side weight of t, and the student's score of document d for query q is s(q, d) = sum over the distinct
tokens t of q of idf[t] * w[d, t]. c[i, t] = idf[t] * w[i, t] is then token t's contribution to the score.

Two sparsity penalties (Geng et al. 2024, section "IDF-aware FLOPS"):

    plain FLOPS       L = r * sum_t ( mean_i c[i, t] )^2
    IDF-aware FLOPS   L = sum_t ( mean_i w[i, t] )^2  =  sum_t ( mean_i c[i, t] / idf[t] )^2

Plain FLOPS is the siamese SPLADE penalty applied to what the ranking sees (the contributions), so every unit
of score costs the same whatever the token. The IDF-aware penalty applies FLOPS to the document weights that the
IDF query multiplies: a unit of score then costs 1/idf[t]^2, so low-IDF tokens (frequent, uninformative) are
expensive and are pushed out, while informative high-IDF tokens are cheap to keep. In plain FLOPS, r is a
constant of each batch (no gradient flows through it) that makes its value equal to the IDF-aware value of the
same batch, r = sum_t m[t]^2 / sum_t (idf[t] m[t])^2 with m = mean_i w[i]: one weight then means the same total
pressure in both, and the two differ only in which tokens bear it.
"""

from __future__ import annotations

from typing import Any

import torch

from lexir.train.options import FLOPS_MODES, NORMALIZATIONS


def flops(doc_weights: torch.Tensor, idf: torch.Tensor, mode: str) -> torch.Tensor:
    """The FLOPS penalty of a batch of document vectors [N, V] (see the module docstring)."""
    mean_weights = doc_weights.mean(dim=0)
    if mode == "idf":
        return (mean_weights**2).sum()
    if mode == "plain":
        contributions = (mean_weights * torch.relu(idf.detach())) ** 2
        scale = (mean_weights.detach() ** 2).sum() / contributions.detach().sum().clamp_min(1e-12)
        return scale * contributions.sum()
    raise ValueError(f"unknown FLOPS mode {mode!r}; choose one of {', '.join(FLOPS_MODES)}")


def warmed_up(weight: float, step: int, warmup_steps: int) -> float:
    """SPLADE's quadratic warm-up of a regulariser weight: weight * min(1, step / warmup_steps)^2."""
    if warmup_steps <= 0:
        return weight
    return weight * min(1.0, step / warmup_steps) ** 2


def normalize_per_query(scores: torch.Tensor, method: str) -> torch.Tensor:
    """Scores [Q, G] rescaled within each query's list, so that teachers of different scales can be averaged."""
    if method == "min-max":
        low = scores.min(dim=1, keepdim=True).values
        span = scores.max(dim=1, keepdim=True).values - low
        return (scores - low) / span.clamp_min(1e-6)
    if method == "z-score":
        return (scores - scores.mean(dim=1, keepdim=True)) / scores.std(dim=1, keepdim=True).clamp_min(1e-6)
    raise ValueError(f"unknown normalization {method!r}; choose one of {', '.join(NORMALIZATIONS)}")


def ensemble_distribution(teacher_scores: list[torch.Tensor], method: str, scale: float) -> torch.Tensor:
    """The target distribution over each list: the mean of the normalized teacher scores, times `scale`,
    through a softmax."""
    mean = torch.stack([normalize_per_query(scores, method) for scores in teacher_scores]).mean(dim=0)
    return torch.softmax(mean * scale, dim=1)


def distillation_loss(student_scores: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """KL(target || softmax(student)) over each list, averaged over queries."""
    log_student = torch.log_softmax(student_scores, dim=1)
    return torch.nn.functional.kl_div(log_student, target, reduction="batchmean")


def contrastive_loss(student_scores: torch.Tensor, positive: int = 0) -> torch.Tensor:
    """InfoNCE: -log softmax(student)[positive] over each list (the labelled positive sits at `positive`)."""
    labels = torch.full((student_scores.shape[0],), positive, dtype=torch.long, device=student_scores.device)
    return torch.nn.functional.cross_entropy(student_scores, labels)


def loss_terms(student_scores: torch.Tensor, target: torch.Tensor, doc_weights: torch.Tensor, idf: torch.Tensor,
               *, flops_mode: str, flops_weight: float, contrastive_weight: float
               ) -> dict[str, Any]:
    """Every term of the objective and their weighted sum (`total`), for the optimiser and the log."""
    terms = {"distillation": distillation_loss(student_scores, target),
             "flops": flops(doc_weights, idf, flops_mode)}
    total = terms["distillation"] + flops_weight * terms["flops"]
    if contrastive_weight > 0:
        terms["contrastive"] = contrastive_loss(student_scores)
        total = total + contrastive_weight * terms["contrastive"]
    terms["total"] = total
    return terms
