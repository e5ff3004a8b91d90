"""Additive-margin softmax losses on the unit hypersphere: CosFace (AM-Softmax) and ArcFace.

Both normalise the ``M`` model embeddings ``x (M, D)`` and the ``K`` class weights ``W (K, D)``, so
``cos θⱼ = ŵⱼᵀx̂``, subtract a margin from the target class only, and scale by ``s``::

    CosFace (Wang et al., CVPR 2018):  f_c = s·(cos θ_c − m),      f_j = s·cos θⱼ  (j ≠ c)
    ArcFace (Deng et al., CVPR 2019):  f_c = s·cos(θ_c + m),       f_j = s·cos θⱼ
    L = 1/M Σᵢ −log softmax(f)_{cᵢ}

ArcFace's ``cos(θ + m)`` is computed as ``cos θ cos m − sin θ sin m`` (no ``acos``). Past
``θ + m > π`` it would rise again; there the target logit is ``cos θ − m·sin m`` (InsightFace's
fallback), or, with ``easy_margin``, the margin applies only where ``cos θ > 0``.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from siamese.checks import positive
from siamese.losses.classification import ClassifierLoss


class AdditiveMarginLoss(ClassifierLoss):
    """Base: ``target_cosine(cos_c)`` gives the margin-modified target cosine, the rest is shared."""

    def __init__(self, scale: float = 30.0, margin: float = 0.35):
        super().__init__()
        self.scale = positive("loss.scale", scale)
        self.margin = positive("loss.margin", margin)

    def target_cosine(self, cos: Tensor) -> Tensor:
        raise NotImplementedError

    def classify(self, x, labels):
        cos = F.linear(F.normalize(x, dim=1), F.normalize(self.weight, dim=1)).clamp(-1, 1)   # (M, K)
        rows = torch.arange(len(labels), device=x.device)
        logits = cos.index_put((rows, labels), self.target_cosine(cos[rows, labels])) * self.scale
        return {"loss": F.cross_entropy(logits, labels), "accuracy": (cos.argmax(dim=1) == labels).float().mean()}


class CosFaceLoss(AdditiveMarginLoss):
    """CosFace / AM-Softmax: target logit ``s·(cos θ_c − m)`` (see the module docstring)."""

    def target_cosine(self, cos):
        return cos - self.margin


class ArcFaceLoss(AdditiveMarginLoss):
    """ArcFace: target logit ``s·cos(θ_c + m)`` (see the module docstring); ``margin`` in radians."""

    def __init__(self, scale: float = 64.0, margin: float = 0.5, easy_margin: bool = False):
        super().__init__(scale, margin)
        if self.margin >= math.pi / 2:
            raise ValueError(f"loss.margin must be an angle below pi/2 (radians), got {margin}")
        self.easy_margin = bool(easy_margin)

    def target_cosine(self, cos):
        sin = (1 - cos.pow(2)).clamp_min(1e-12).sqrt()
        shifted = cos * math.cos(self.margin) - sin * math.sin(self.margin)            # cos(θ + m)
        if self.easy_margin:
            return torch.where(cos > 0, shifted, cos)
        return torch.where(cos > math.cos(math.pi - self.margin), shifted, cos - self.margin * math.sin(self.margin))
