"""What every loss shares: float32 arithmetic, the call signature, and config-time checks.

A loss module is called as ``loss(e1, e2, batch)``: ``e1``, ``e2`` are lists of per-stage
embeddings ``(N, D_l)`` of the two sides of ``N`` pairs, ``batch`` the data module's dict
(``y`` 1 = same / 0 = different; ``c1``, ``c2`` class ids when the data has them). It returns a
dict with ``loss`` (the scalar to minimise) and named terms for logging. Autocast is switched
off and the embeddings are cast to float32 first, whatever precision the tower ran in.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from siamese.nets import combine_stages


def cross_sqdist(a: Tensor, b: Tensor) -> Tensor:
    """Squared Euclidean distances ``(A, B)`` between the rows of ``a (A, D)`` and ``b (B, D)``, in Gram
    form ``‖a‖² + ‖b‖² − 2 a·b`` (one matmul), clamped at 0; rounding as ``pairwise_sqdist``.

    With ``b is a`` the squared norms are computed once, one node of the graph: two would sum their
    gradients in another order, and a training run would drift from the same run before this function.
    """
    norms_a = a.pow(2).sum(dim=1)
    norms_b = norms_a if b is a else b.pow(2).sum(dim=1)
    return (norms_a.unsqueeze(1) + norms_b.unsqueeze(0) - 2 * a @ b.T).clamp_min(0)


def pairwise_sqdist(x: Tensor) -> Tensor:
    """Squared Euclidean distances ``(B, B)`` of the rows of ``x (B, D)``, in Gram form
    ``‖a‖² + ‖b‖² − 2 a·b`` (``cross_sqdist(x, x)``: no ``(B, B, D)`` difference tensor), clamped at 0.

    Float32 rounding: the cancellation leaves a squared distance good to a few units in the last
    place of ``‖a‖² + ‖b‖²``, about ``1e-6 · (‖a‖² + ‖b‖²)`` absolute (unit vectors, D = 64–2048:
    measured up to 1.4e-6), so identical rows come out as up to ~``1e-6 · ‖a‖²`` rather than 0.
    """
    return cross_sqdist(x, x)


def dist_from_sqdist(sqd: Tensor) -> Tensor:
    """Euclidean distances from squared ones, any shape: ``sqrt(max(sqd, 1e-12))``.

    The floor keeps the gradient of the square root finite (it is infinite at 0), so identical
    embeddings train; nothing comes out exactly 0 (at least 1e-6).
    """
    return sqd.clamp_min(1e-12).sqrt()


def pairwise_dist(x: Tensor) -> Tensor:
    """Euclidean distances ``(B, B)``: ``dist_from_sqdist(pairwise_sqdist(x))``.

    Identical or near-identical rows are not resolved below about ``1.5e-3 · ‖x‖`` in float32 (unit
    vectors: distances under ~1.5e-3 may read as up to 1.5e-3, from the Gram form's rounding), and
    nothing is exactly 0, the diagonal included.
    """
    return dist_from_sqdist(pairwise_sqdist(x))


def masks(labels: Tensor) -> tuple[Tensor, Tensor]:
    """``(positive (B, B), negative (B, B))`` boolean masks; the diagonal is in neither."""
    same = labels.unsqueeze(0) == labels.unsqueeze(1)
    eye = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    return same & ~eye, ~same


def hardest(d: Tensor, pos: Tensor, neg: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Per anchor: farthest positive ``(B,)``, nearest negative ``(B,)``, and which anchors have both."""
    hard_pos = torch.where(pos, d, torch.full_like(d, -torch.inf)).amax(dim=1)
    hard_neg = torch.where(neg, d, torch.full_like(d, torch.inf)).amin(dim=1)
    return hard_pos, hard_neg, pos.any(dim=1) & neg.any(dim=1)


class SiameseLoss(nn.Module):
    """Base class: subclasses implement ``compute(e1, e2, batch)`` on float32 embeddings.

    A loss meets its tower twice, each with one job: ``check(tower)`` raises the config errors that
    depend on the tower (before any data is read), and ``bind(tower, num_classes)``, called once by
    the ``SiameseModule``, ties the loss to the tower's model embedding and, for a classifier,
    makes its class weights. ``tower`` is a ``siamese.nets.Tower`` or a ``TowerShape``.
    """

    needs_class_ids = False
    batch_kind = "pairs"   # what data.sampler=auto serves: "pairs" (random pairs) or "pk" (P×K batches)
    gather = False         # under DDP: the module hands the loss every rank's batch (loss.gather=true)
    embedding = "last"     # the tower's model.embedding, set by bind: what ``final`` returns
    stage_weights = None   # the tower's model.stage_weights (concat), set by bind

    def final(self, stages: list[Tensor]) -> Tensor:
        """The model embedding of one side's per-stage list (``siamese.nets.combine_stages``)."""
        return combine_stages(stages, self.embedding, self.stage_weights)

    def follow(self, tower) -> None:
        """Make ``final`` the tower's model embedding (its ``embedding`` rule and ``stage_weights``)."""
        self.embedding = tower.embedding
        self.stage_weights = tower.stage_weights

    def check(self, tower) -> None:
        """Raise a ``ValueError`` naming the key when the loss's settings do not fit ``tower``."""

    def bind(self, tower, num_classes: int | None = None) -> None:
        """Check against ``tower``, train its model embedding, and make any parameters sized by it."""
        self.check(tower)
        self.follow(tower)
        self.make_parameters(tower.embedding_dim, num_classes)

    def make_parameters(self, embedding_dim: int, num_classes: int | None) -> None:
        """Parameters sized by the tower or the data (a classifier's ``(K, D)`` weights); default none."""

    def forward(self, e1: list[Tensor], e2: list[Tensor], batch: dict) -> dict[str, Tensor]:
        with torch.autocast(device_type=e1[-1].device.type, enabled=False):
            return self.compute([t.float() for t in e1], [t.float() for t in e2], batch)

    def compute(self, e1: list[Tensor], e2: list[Tensor], batch: dict) -> dict[str, Tensor]:
        raise NotImplementedError


class ClassIdLoss(SiameseLoss):
    """Base of the losses that consume class ids: the ``2N`` model embeddings and their labels.

    ``compute_batch(x (2N, D), labels (2N,))`` sees ``cat([final(e1), final(e2)])`` and ``cat([c1, c2])``.
    """

    needs_class_ids = True

    def compute(self, e1, e2, batch):
        if "c1" not in batch or "c2" not in batch:
            raise ValueError(f"loss {type(self).__name__} needs class ids (c1, c2) but the data has "
                             "none (e.g. a CSV of pairs): use a pair loss such as contrastive")
        labels = torch.cat([batch["c1"], batch["c2"]]).long()
        return self.compute_batch(torch.cat([self.final(e1), self.final(e2)]), labels)

    def compute_batch(self, x: Tensor, labels: Tensor) -> dict[str, Tensor]:
        raise NotImplementedError
