"""Pair losses: contrastive (two forms), the per-layer double-margin loss, and the binary hinge.

Pair label ``y = 1`` means *same class*, ``y = 0`` *different*; ``sqdist`` is the squared
Euclidean distance, ``dist`` the Euclidean one (see docs/design.md). The formula functions return
per-pair terms ``(N,)``; the reduction lives in the module so that it matches the docstring (the
seed divides the sum by ``2N``).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from siamese.losses.base import SiameseLoss, positive


def sqdist(a: Tensor, b: Tensor) -> Tensor:
    """Squared Euclidean distance of matching rows: ``(N, D), (N, D) -> (N,)``."""
    return (a - b).pow(2).sum(dim=1)


def contrastive_seed_terms(sqd: Tensor, y: Tensor, margin: float) -> Tensor:
    """Seed contrastive term per pair: ``y·d + (1 − y)·max(m − d, 0)``, ``d`` the squared distance."""
    return y * sqd + (1 - y) * torch.clamp(margin - sqd, min=0)


def contrastive_hadsell_terms(sqd: Tensor, y: Tensor, margin: float) -> Tensor:
    """Hadsell et al. (2006) term per pair: ``y·D² + (1 − y)·max(m − D, 0)²``, ``D = sqrt(d)``.

    The square root has an infinite derivative at 0; it is taken of ``d`` clamped at 1e-12 and used
    only in the negative term, so identical embeddings give finite gradients.
    """
    dist = sqd.clamp_min(1e-12).sqrt()
    return y * sqd + (1 - y) * torch.clamp(margin - dist, min=0).pow(2)


def double_margin_terms(sqd: Tensor, y: Tensor, m1: float, m2: float) -> Tensor:
    """Double-margin term per pair: ``y·max(d − m1, 0) + (1 − y)·max(m2 − d, 0)``, ``d`` squared."""
    return y * torch.clamp(sqd - m1, min=0) + (1 - y) * torch.clamp(m2 - sqd, min=0)


class PairLoss(SiameseLoss):
    """Base of the losses that consume pairs ``(e1, e2, y)`` stage by stage."""

    def compute(self, e1, e2, batch):
        return self.compute_pairs(e1, e2, batch["y"].float())

    def compute_pairs(self, e1: list[Tensor], e2: list[Tensor], y: Tensor) -> dict[str, Tensor]:
        raise NotImplementedError


class ContrastiveLoss(PairLoss):
    """Contrastive loss on the last-stage embeddings, ``N`` pairs, ``y = 1`` same / ``0`` different.

    ``form="seed"`` (default), the seed document's formula with ``d`` the **squared** distance::

        L = 1/(2N) Σᵢ [ yᵢ·dᵢ + (1 − yᵢ)·max(m − dᵢ, 0) ]

    ``form="hadsell"``, Hadsell, Chopra & LeCun (CVPR 2006), ``D`` the Euclidean distance::

        L = 1/(2N) Σᵢ [ yᵢ·Dᵢ² + (1 − yᵢ)·max(m − Dᵢ, 0)² ]

    On L2-normalised embeddings ``d ∈ [0, 4]`` and ``D ∈ [0, 2]``: pick ``margin`` accordingly.
    """

    FORMS = {"seed": contrastive_seed_terms, "hadsell": contrastive_hadsell_terms}

    def __init__(self, margin: float = 1.0, form: str = "seed"):
        super().__init__()
        if form not in self.FORMS:
            raise ValueError(f"loss.form must be one of {sorted(self.FORMS)}, got {form!r}")
        self.margin = positive("loss.margin", margin)
        self.form = form

    def compute_pairs(self, e1, e2, y):
        terms = self.FORMS[self.form](sqdist(e1[-1], e2[-1]), y, self.margin)
        return {"loss": terms.sum() / (2 * len(y))}


def _broadcast(key: str, value, n: int) -> list[float]:
    """A scalar repeated ``n`` times, or a list that must hold exactly ``n`` values."""
    if isinstance(value, (int, float)):
        return [float(value)] * n
    values = [float(v) for v in value]
    if len(values) != n:
        raise ValueError(f"{key} has {len(values)} values but {n} layers are selected: {values}")
    return values


class DoubleMarginContrastiveLoss(PairLoss):
    """Per-layer double-margin contrastive loss of the seed document.

    For ``N`` pairs (``y = 1`` same, ``0`` different) and the selected tower stages ``l``::

        L = 1/(2N) Σᵢ Σₗ wₗ·[ yᵢ·max(dᵢₗ − m1ₗ, 0) + (1 − yᵢ)·max(m2ₗ − dᵢₗ, 0) ]

    ``dᵢₗ`` is the squared Euclidean distance of the pair's stage-``l`` embeddings. Same-class pairs
    are pulled inside ``m1``, different-class pairs pushed beyond ``m2`` (``0 < m1 < m2``), at every
    selected stage. ``m1``, ``m2`` and ``weights`` are scalars or one value per selected layer.
    ``layers`` lists 1-based stage numbers (``None`` = all stages). The returned dict holds ``loss``
    and one term ``layer<l>`` per stage (each already weighted and divided by ``2N``; they sum to
    ``loss``).
    """

    def __init__(self, m1=0.2, m2=1.0, layers: Sequence[int] | None = None, weights=1.0):
        super().__init__()
        self.layers = None if layers is None else [int(v) for v in layers]
        if self.layers is not None and (not self.layers or len(set(self.layers)) != len(self.layers)):
            raise ValueError(f"loss.layers must be distinct stage numbers, got {self.layers}")
        self._raw = {"loss.m1": m1, "loss.m2": m2, "loss.weights": weights}
        # Validate now with the best count known; bind() re-checks against the real tower.
        lists = [len(v) for v in self._raw.values() if not isinstance(v, (int, float))]
        self._check(len(self.layers) if self.layers is not None else max(lists, default=1))

    def _check(self, n: int) -> None:
        m1, m2, w = (_broadcast(key, value, n) for key, value in self._raw.items())
        for k, (a, b) in enumerate(zip(m1, m2)):
            positive("loss.m1", a)
            if not a < b:
                raise ValueError(f"loss.m1 must be < loss.m2 at layer {k + 1}, got m1={a}, m2={b}")
        if any(v < 0 for v in w):
            raise ValueError(f"loss.weights must be >= 0, got {w}")
        self.m1, self.m2, self.weights = m1, m2, w

    def bind(self, num_stages: int, embedding_dim: int, num_classes: int | None = None) -> None:
        if self.layers is None:
            self.layers = list(range(1, num_stages + 1))
        unknown = [s for s in self.layers if not 1 <= s <= num_stages]
        if unknown:
            raise ValueError(
                f"loss.layers names stage(s) {unknown} but the tower has stages 1..{num_stages}"
            )
        self._check(len(self.layers))

    def compute_pairs(self, e1, e2, y):
        if self.layers is None or len(self.m1) != len(self.layers):
            raise RuntimeError("DoubleMarginContrastiveLoss.bind(num_stages) must be called first")
        out = {}
        for stage, m1, m2, w in zip(self.layers, self.m1, self.m2, self.weights):
            terms = double_margin_terms(sqdist(e1[stage - 1], e2[stage - 1]), y, m1, m2)
            out[f"layer{stage}"] = w * terms.sum() / (2 * len(y))
        out["loss"] = torch.stack(list(out.values())).sum()
        return out


class HingeLoss(PairLoss):
    """Binary hinge loss on pairs, the pair a two-class problem (``y = 1`` same, ``0`` different).

    With ``t = 2y − 1 ∈ {+1, −1}``, ``D`` the Euclidean distance of the last-stage embeddings and a
    learned affine score ``ŷ = a·D + b`` (``a``, ``b`` parameters of the loss, in the optimizer)::

        L = 1/N Σᵢ max(0, 1 − tᵢ·ŷᵢ)

    ``a`` starts negative (a larger distance should mean "different"); ``ŷ > 0`` reads "same".
    """

    def __init__(self, scale_init: float = -4.0, bias_init: float = 2.0):
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(float(scale_init)))
        self.bias = nn.Parameter(torch.tensor(float(bias_init)))

    def compute_pairs(self, e1, e2, y):
        dist = sqdist(e1[-1], e2[-1]).clamp_min(1e-12).sqrt()
        score = self.scale * dist + self.bias
        terms = torch.clamp(1 - (2 * y - 1) * score, min=0)
        return {"loss": terms.mean(), "active": (terms > 0).float().mean()}
