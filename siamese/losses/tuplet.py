"""Batch-mining losses over the ``B`` embeddings of a batch and their class ids.

All work on the Euclidean distance matrix ``d (B, B)`` of the batch (``pairwise_dist`` in
``siamese.losses.base``: identical embeddings keep finite gradients). Anchors, positives
and negatives: ``p`` is a positive of ``a`` when ``c[p] = c[a]`` and ``p ≠ a``; ``n`` is a
negative when ``c[n] ≠ c[a]``. They need several images per class in a batch: use the P×K
sampler (``data.sampler=pk``), which ``data.sampler=auto`` serves them. A batch without any valid
tuple (one class, or no two images of a class: a small validation batch, say) gives a loss of 0
that still has a gradient (of zeros), and logs ``tuples = 0``.
Everything is vectorised over the batch (no Python loop over samples).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from siamese.checks import positive
from siamese.losses.base import ClassIdLoss, hardest, masks, pairwise_dist


class TupletLoss(ClassIdLoss):
    """Base of the batch-mining losses: they ask for P×K batches (``data.sampler=auto``). ``gather``:
    under DDP, mine the global batch (every rank's embeddings, gathered with their gradient)."""

    batch_kind = "pk"

    def __init__(self, gather: bool = False):
        super().__init__()
        self.gather = bool(gather)


def _no_tuple(x: Tensor, **terms: float) -> dict[str, Tensor]:
    """The result for a batch without a valid tuple: 0, connected to ``x`` so backward still runs."""
    zero = x.sum() * 0.0
    return {"loss": zero, "tuples": zero.detach(), **{k: zero.detach() + v for k, v in terms.items()}}


def _margin_or_soft(x: Tensor, margin: float | None) -> Tensor:
    return F.softplus(x) if margin is None else torch.clamp(x + margin, min=0)


class TripletLoss(TupletLoss):
    """Triplet loss over the valid triplets ``(a, p, n)`` of the batch (Schroff et al., FaceNet 2015)::

        L = 1/|T| Σ_{(a,p,n) ∈ T} max(0, d(a,p) − d(a,n) + margin)

    ``T`` is every valid triplet, or, with ``max_triplets``, a uniformly drawn subset of that many
    (drawn from torch's global generator, so seeded runs repeat). The mean counts zero terms.

    Only valid triplets are formed: for the ``M`` positive pairs ``(a, p)`` (``M = B(K−1)`` in a P×K
    batch), one ``(M, B)`` matrix ``d(a,p) − d(a,n) + margin`` masked to the negatives of ``a``, so
    memory grows as ``B²K``, not ``B³``.
    """

    def __init__(self, margin: float = 0.2, max_triplets: int | None = None, gather: bool = False):
        super().__init__(gather)
        self.margin = positive("loss.margin", margin)
        if max_triplets is not None and int(max_triplets) < 1:
            raise ValueError(f"loss.max_triplets must be >= 1 or null, got {max_triplets}")
        self.max_triplets = None if max_triplets is None else int(max_triplets)

    def compute_batch(self, x, labels):
        d = pairwise_dist(x)
        pos, neg = masks(labels)
        a, p = pos.nonzero(as_tuple=True)                               # the M positive pairs
        valid = neg[a]                                                  # (M, B): n is a negative of a
        if not valid.any():
            return _no_tuple(x, active=0.0)
        terms = (d[a, p].unsqueeze(1) - d[a] + self.margin).clamp_min(0)[valid]
        if self.max_triplets is not None and terms.numel() > self.max_triplets:
            terms = terms[torch.randperm(terms.numel(), device=terms.device)[: self.max_triplets]]
        return {"loss": terms.mean(), "tuples": torch.tensor(float(terms.numel())),
                "active": (terms > 0).float().mean()}


class TriHardLoss(TupletLoss):
    """Batch-hard triplet loss, TriHard (Hermans, Beyer & Leibe, "In Defense of the Triplet Loss", 2017).

    For each anchor ``a`` with a positive and a negative in the batch (set ``A``)::

        L = 1/|A| Σ_{a ∈ A} h( max_p d(a,p) − min_n d(a,n) )

    with ``h(x) = max(0, x + margin)``, or the soft margin ``h(x) = log(1 + exp(x))`` when
    ``margin`` is null (``soft``).
    """

    def __init__(self, margin: float | None = 0.2, gather: bool = False):
        super().__init__(gather)
        self.margin = None if margin is None else positive("loss.margin", margin)

    def compute_batch(self, x, labels):
        pos, neg = masks(labels)
        hard_pos, hard_neg, valid = hardest(pairwise_dist(x), pos, neg)
        if not valid.any():
            return _no_tuple(x, active=0.0)
        terms = _margin_or_soft(hard_pos[valid] - hard_neg[valid], self.margin)
        return {"loss": terms.mean(), "tuples": valid.sum().float(), "active": (terms > 1e-6).float().mean()}


class QuadrupletLoss(TupletLoss):
    """Quadruplet loss (Chen, Chen, Zhang & Huang, "Beyond triplet loss", CVPR 2017), batch-hard form.

    For each anchor ``a`` with a positive and a negative (set ``A``), the hardest positive, the
    hardest negative, and the hardest *negative pair* ``(n1, n2)``: two images of different
    classes, neither of ``a``'s class (so the pair does not share the anchor)::

        L = 1/|A| Σ_{a ∈ A} [ max(0, d⁺ₐ − d⁻ₐ + α1) + max(0, d⁺ₐ − d⁼ₐ + α2) ]
        d⁺ₐ = max_p d(a,p),   d⁻ₐ = min_n d(a,n),   d⁼ₐ = min_{c(n1)≠c(n2), c(n1),c(n2)≠c(a)} d(n1,n2)

    ``α1 > α2 > 0``: the first term is the triplet constraint, the second pushes the anchor's
    positives closer than *any* two other-class images (the paper's hard-mining training).
    Anchors whose batch has no such negative pair (fewer than three classes) drop the second term.

    ``d⁼ₐ`` depends only on ``a``'s class and is found in ``O(B²)``: the batch's hardest negative
    pair serves every class but its own two, and those two get one masked search each.
    """

    def __init__(self, alpha1: float = 0.3, alpha2: float = 0.15, gather: bool = False):
        super().__init__(gather)
        self.alpha1 = positive("loss.alpha1", alpha1)
        self.alpha2 = positive("loss.alpha2", alpha2)
        if not self.alpha1 > self.alpha2:
            raise ValueError(f"loss.alpha1 must be > loss.alpha2, got alpha1={alpha1}, alpha2={alpha2}")

    def compute_batch(self, x, labels):
        d = pairwise_dist(x)
        pos, neg = masks(labels)
        hard_pos, hard_neg, valid = hardest(d, pos, neg)
        if not valid.any():
            return _no_tuple(x, triplet_term=0.0, pair_term=0.0)
        hard_pair = self.hardest_negative_pair(d, neg, labels)              # (B,)
        first = torch.clamp(hard_pos - hard_neg + self.alpha1, min=0)[valid]
        has_pair = torch.isfinite(hard_pair) & valid
        second = torch.clamp(hard_pos - hard_pair + self.alpha2, min=0)[has_pair]
        loss = (first.sum() + second.sum()) / valid.sum()
        return {"loss": loss, "tuples": valid.sum().float(), "triplet_term": first.mean(),
                "pair_term": second.sum() / valid.sum()}


    @staticmethod
    def hardest_negative_pair(d: Tensor, neg: Tensor, labels: Tensor) -> Tensor:
        """Per anchor: ``min d(n1, n2)`` over pairs of different classes, neither the anchor's (or inf)."""
        neg_d = torch.where(neg, d, torch.full_like(d, torch.inf))
        flat = int(neg_d.argmin())
        ends = (labels[flat // len(labels)], labels[flat % len(labels)])
        out = neg_d.flatten()[flat].expand(len(labels)).clone()
        for c in ends:                            # the global hardest pair's two classes, no more
            keep = labels != c
            sub = neg_d[keep][:, keep]
            out[labels == c] = sub.min() if sub.numel() else torch.inf
        return out


class MSMLLoss(TupletLoss):
    """Margin sample mining loss, MSML (Xiao, Luo, Zhang, Wang & Jiang, 2017).

    One term per batch: the hardest positive pair against the hardest negative pair of the batch::

        L = max(0, max_{c(a)=c(p), a≠p} d(a,p) − min_{c(m)≠c(n)} d(m,n) + margin)
    """

    def __init__(self, margin: float = 0.2, gather: bool = False):
        super().__init__(gather)
        self.margin = positive("loss.margin", margin)

    def compute_batch(self, x, labels):
        d = pairwise_dist(x)
        pos, neg = masks(labels)
        if not pos.any() or not neg.any():
            return _no_tuple(x)
        loss = torch.clamp(d[pos].max() - d[neg].min() + self.margin, min=0)
        return {"loss": loss, "tuples": torch.tensor(1.0)}
