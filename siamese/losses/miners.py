"""Miners: which pairs of a batch a pair loss keeps (``conf/loss/miner``).

A miner is called as ``miner(x (M, D), labels (M,), i (P,), j (P,))`` on the model embeddings of
the batch's ``M`` images and the candidate pairs ``(i, j)``, and returns a keep mask ``(P,)``.
"""
from __future__ import annotations

import torch
from torch import Tensor

from siamese.checks import positive
from siamese.losses.base import hardest, masks, pairwise_dist


class HardPairMiner:
    """Keeps the pairs the multi-similarity miner calls hard (Wang et al., CVPR 2019), by Euclidean distance.

    With, for each image ``a``, ``d⁻(a)`` its distance to the nearest other-class image and ``d⁺(a)``
    to the farthest same-class one, a same pair is kept when ``d(i, j) > d⁻(a) − margin`` and a
    different pair when ``d(i, j) < d⁺(a) + margin``, for ``a = i`` or ``a = j``. A non-finite
    distance is always kept, so a NaN reaches the module's guard.
    """

    def __init__(self, margin: float = 0.1):
        self.margin = positive("loss.miner.margin", margin)

    def __call__(self, x: Tensor, labels: Tensor, i: Tensor, j: Tensor) -> Tensor:
        with torch.no_grad():
            d = pairwise_dist(x)
            hardest_pos, hardest_neg, _ = hardest(d, *masks(labels))
            dij, pos = d[i, j], labels[i] == labels[j]
            keep_pos = (dij > hardest_neg[i] - self.margin) | (dij > hardest_neg[j] - self.margin)
            keep_neg = (dij < hardest_pos[i] + self.margin) | (dij < hardest_pos[j] + self.margin)
            return torch.where(pos, keep_pos, keep_neg) | ~torch.isfinite(dij)

    def __repr__(self) -> str:
        return f"HardPairMiner(margin={self.margin})"
