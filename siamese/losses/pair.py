"""Pair losses: contrastive (two forms), the per-layer double-margin loss, and the binary hinge.

Pair label ``y = 1`` means *same class*, ``y = 0`` *different*; ``sqdist`` is the squared
Euclidean distance, ``dist`` the Euclidean one (see docs/design.md). The formula functions return
per-pair terms ``(N,)``; a reducer (``siamese.losses.reducers``) makes the scalar, by default the
seed's ``Σ / 2N``.
"""
from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from siamese.checks import at_least, one_of, positive
from siamese.losses.base import SiameseLoss, cross_sqdist, dist_from_sqdist, pairwise_sqdist
from siamese.losses.memory import CrossBatchMemory
from siamese.losses.reducers import DEPRECATED_REDUCTIONS, MeanReducer, Reducer, SumOver2N, reducer_named


def sqdist(a: Tensor, b: Tensor) -> Tensor:
    """Squared Euclidean distance of matching rows: ``(N, D), (N, D) -> (N,)``."""
    return (a - b).pow(2).sum(dim=1)


def contrastive_squared_terms(sqd: Tensor, y: Tensor, margin: float) -> Tensor:
    """Seed contrastive term per pair: ``y·d + (1 − y)·max(m − d, 0)``, ``d`` the squared distance."""
    return y * sqd + (1 - y) * torch.clamp(margin - sqd, min=0)


def contrastive_hadsell_terms(sqd: Tensor, y: Tensor, margin: float) -> Tensor:
    """Hadsell et al. (2006) term per pair: ``y·D² + (1 − y)·max(m − D, 0)²``, ``D = sqrt(d)``.

    ``D`` is ``dist_from_sqdist(d)`` (floored, finite gradient) and used only in the negative term, so
    identical embeddings give finite gradients.
    """
    dist = dist_from_sqdist(sqd)
    return y * sqd + (1 - y) * torch.clamp(margin - dist, min=0).pow(2)


def double_margin_terms(d: Tensor, y: Tensor, m1: float, m2: float, power: int = 1) -> Tensor:
    """Double-margin term per pair: ``y·max(d − m1, 0)^p + (1 − y)·max(m2 − d, 0)^p``, ``d (P,)`` a
    distance, ``p`` the hinges' power (1 linear, 2 squared)."""
    return y * torch.clamp(d - m1, min=0).pow(power) + (1 - y) * torch.clamp(m2 - d, min=0).pow(power)


PAIR_SETS = ("sampled", "batch_all", "auto")


@dataclass
class PairSet:
    """The pairs a pair loss scores in one batch: labels ``y (P,)`` (1 same, 0 different) and, for
    ``batch_all``, their positions ``i, j (P,)`` among the ``M = 2N`` images ``cat([x1, x2])``; with
    ``between``, ``i`` indexes the batch's ``M`` images and ``j`` the memory's ``F`` entries."""

    y: Tensor
    i: Tensor | None = None
    j: Tensor | None = None
    between: bool = False

    def sqdist(self, a: Tensor, b: Tensor) -> Tensor:
        """Squared distances ``(P,)`` of the pairs: row by row of the two sides ``a, b (N, D)`` (sampled
        pairs), read from one ``(M, M)`` distance matrix of ``cat([a, b])`` (``batch_all``), or, with
        ``between``, from the ``(M, F)`` distances of the batch's images ``a`` to the memory's ``b``."""
        if self.i is None:
            return sqdist(a, b)
        if self.between:
            return cross_sqdist(a, b)[self.i, self.j]
        return pairwise_sqdist(torch.cat([a, b]))[self.i, self.j]


def batch_all_pairs(batch: dict) -> PairSet:
    """Every unordered pair ``(i, j)``, ``i < j``, of distinct images of the batch.

    The ``M = 2N`` images are ``cat([x1, x2])``; pairs with the same source image on both sides
    (``i1``/``i2`` ids equal) are left out; ``y = 1`` when the class ids agree.
    """
    if "c1" not in batch:
        raise ValueError("loss.pairs=batch_all needs class ids (c1, c2), but the data has none: use loss.pairs=sampled")
    labels = torch.cat([batch["c1"], batch["c2"]])
    m = len(labels)
    i, j = torch.triu_indices(m, m, offset=1, device=labels.device)
    if "i1" in batch:                                   # (M, M) comparisons, then one gather: fast
        ids = torch.cat([batch["i1"], batch["i2"]])
        distinct = (ids.unsqueeze(1) != ids.unsqueeze(0))[i, j]
        if not distinct.all():
            i, j = i[distinct], j[distinct]
    return PairSet((labels.unsqueeze(1) == labels.unsqueeze(0))[i, j].float(), i, j)


def memory_pairs(labels: Tensor, ids: Tensor, memory_labels: Tensor, memory_ids: Tensor) -> PairSet:
    """Every pair of a batch image ``i`` (of ``M``) and a memory entry ``j`` (of ``F``) that is not the same
    source image (image ids differ), ``y = 1`` when the class ids agree (``between`` pairs)."""
    i, j = (ids.unsqueeze(1) != memory_ids.unsqueeze(0)).nonzero(as_tuple=True)
    return PairSet((labels[i] == memory_labels[j]).float(), i, j, between=True)


def _deprecated_reduction(reduction: str) -> Reducer:
    """The reducer a former ``loss.reduction`` string names, with a warning giving the new spelling."""
    name = DEPRECATED_REDUCTIONS.get(reduction, reduction)
    warnings.warn(f"loss.reduction={reduction} is deprecated: use the reducer group, loss/reducer={name}",
                  FutureWarning, stacklevel=3)
    return reducer_named(name)


class PairLoss(SiameseLoss):
    """Base of the losses that consume pairs ``(a, b, y)`` stage by stage (``y = 1`` same).

    Args:
        pairs: ``sampled`` — the data module's pairs ``(x1[k], x2[k])`` (the seed's setting);
            ``batch_all`` — every unordered pair of distinct images of the batch, ``y`` from the class
            ids (``batch_all_pairs``), so a P×K batch of ``M`` images gives ``M(M−1)/2`` pairs;
            ``auto`` — ``batch_all`` on batches that carry class ids (the data module serves P×K
            batches), the data's own pairs on pair lists (CSV, LFW ``pairs.txt``: no class ids).
        reducer: a ``siamese.losses.reducers.Reducer`` (``conf/loss/reducer``); default ``SumOver2N``.
        miner: ``None`` or a miner (``conf/loss/miner``, e.g. ``HardPairMiner``; ``batch_all`` / ``auto``):
            keeps the pairs it names, mined on the model embedding and applied to every stage;
            ``mined_fraction`` is logged.
        reduction: the former string spelling of ``reducer`` (deprecated; ``seed`` = ``sum_over_2n``).
        gather: under DDP, score the pairs of the global batch (every rank's images, gathered with
            their gradient), not of each rank's share; ``batch_all`` / ``auto`` (sampled pairs need nothing).
        memory: ``S > 0`` turns on a cross-batch memory (XBM, ``siamese.losses.memory``) of the ``S``
            training images before this batch (``batch_all`` / ``auto`` on batches with class ids; ``S`` at
            least one batch's ``M`` images): in training, the batch's own pairs as without it, plus each
            of its ``M`` images paired with each of the ``F ≤ S`` remembered ones (detached; not the same
            image id), all reduced together, so the batch's pairs keep their gradient and an empty memory
            gives the loss without one. (pytorch-metric-learning's ``CrossBatchMemory`` also counts the
            batch's own pairs once in each order.) Validation scores the batch alone. ``0``: off.
    """

    def __init__(self, pairs: str = "sampled", reducer: Reducer | None = None, miner=None,
                 reduction: str | None = None, gather: bool = False, memory: int = 0):
        super().__init__()
        self.pairs = one_of("loss.pairs", pairs, PAIR_SETS)
        self.gather = bool(gather)
        if self.gather and pairs == "sampled":
            raise ValueError("loss.gather=true gathers the batch of every rank for a batch-wide loss: it needs "
                             "loss.pairs=batch_all (sampled pairs are independent of each other)")
        memory = at_least("loss.memory", memory, 0)
        if memory and (pairs == "sampled" or miner is not None):
            raise ValueError(f"loss.memory={memory} pairs the batch's images with earlier batches' by class id: it "
                             "needs loss.pairs=batch_all or auto and no loss.miner")
        self.memory = CrossBatchMemory(memory) if memory else None
        if reduction is not None:
            reducer = _deprecated_reduction(reduction)
        if miner is not None and pairs == "sampled":
            raise ValueError(f"loss.miner={miner} mines the pairs of a whole batch: it needs loss.pairs=batch_all")
        self.reducer = reducer if reducer is not None else SumOver2N()
        self.miner = miner
        self.needs_class_ids = pairs == "batch_all" or self.memory is not None
        self.batch_kind = "pairs" if pairs == "sampled" else "pk"

    def compute(self, e1, e2, batch):
        if self.pairs == "sampled" or (self.pairs == "auto" and "c1" not in batch):
            if self.memory is not None:
                raise ValueError(f"loss.memory={self.memory.size} needs class ids (c1, c2), but the data has none "
                                 "(a list of pairs): set loss.memory=0")
            pairs = PairSet(batch["y"].float())
            return self.reduce_all(self.pair_terms(e1, e2, pairs), pairs.y, None)
        if self.memory is not None and self.training:
            return self.compute_with_memory(e1, e2, batch)
        pairs = batch_all_pairs(batch)
        keep = None
        if self.miner is not None:
            labels = torch.cat([batch["c1"], batch["c2"]])
            keep = self.miner(torch.cat([self.final(e1), self.final(e2)]), labels, pairs.i, pairs.j)
        out = self.reduce_all(self.pair_terms(e1, e2, pairs), pairs.y, keep)
        if keep is not None:
            out["mined_fraction"] = keep.float().mean()
        return out

    def compute_with_memory(self, e1: list[Tensor], e2: list[Tensor], batch: dict) -> dict[str, Tensor]:
        """The batch's pairs (``batch_all_pairs``) and those of its ``M = 2N`` images (per stage
        ``cat([e1_l, e2_l])``) with the memory's entries (``memory_pairs``), reduced together; then the
        batch is written to the memory."""
        if "i1" not in batch:
            raise ValueError(f"loss.memory={self.memory.size} tells an image from its memory entry by its id "
                             "(i1, i2), but the batch has none: set loss.memory=0")
        labels = torch.cat([batch["c1"], batch["c2"]])
        ids = torch.cat([batch["i1"], batch["i2"]])
        images = [torch.cat([a, b]) for a, b in zip(e1, e2)]
        pairs = batch_all_pairs(batch)
        terms, y = self.pair_terms(e1, e2, pairs), pairs.y
        if len(self.memory):
            stages, memory_labels, memory_ids = self.memory.entries()
            remembered = memory_pairs(labels, ids, memory_labels, memory_ids)
            extra = self.pair_terms(images, stages, remembered)
            terms = {name: torch.cat([t, extra[name]]) for name, t in terms.items()}
            y = torch.cat([y, remembered.y])
        self.memory.add(images, labels, ids)
        return self.reduce_all(terms, y, None)

    def reduce_all(self, terms: dict[str, Tensor], y: Tensor, keep: Tensor | None) -> dict[str, Tensor]:
        """Each named group of per-pair terms reduced over the kept pairs; ``loss`` is their sum."""
        if keep is not None:
            terms, y = {name: t[keep] for name, t in terms.items()}, y[keep]
        out = {name: self.reducer(t, y) for name, t in terms.items()}
        if "loss" not in out:
            out["loss"] = torch.stack(list(out.values())).sum()
        return out

    def pair_terms(self, e1: list[Tensor], e2: list[Tensor], pairs: PairSet) -> dict[str, Tensor]:
        """Per-pair terms ``(P,)`` by name (``loss``, or one group per layer), before reduction, from the
        per-stage embeddings of the two sides and the pair set (``pairs.sqdist``, ``pairs.y``)."""
        raise NotImplementedError


class ContrastiveLoss(PairLoss):
    """Contrastive loss on the model embeddings, ``N`` pairs, ``y = 1`` same / ``0`` different.

    ``form="squared"`` (default), the seed document's formula with ``d`` the **squared** distance::

        L = 1/(2N) Σᵢ [ yᵢ·dᵢ + (1 − yᵢ)·max(m − dᵢ, 0) ]

    ``form="hadsell"``, Hadsell, Chopra & LeCun (CVPR 2006), ``D`` the Euclidean distance::

        L = 1/(2N) Σᵢ [ yᵢ·Dᵢ² + (1 − yᵢ)·max(m − Dᵢ, 0)² ]

    On L2-normalised embeddings ``d ∈ [0, 4]`` and ``D ∈ [0, 2]``: pick ``margin`` accordingly.
    ``pairs``, ``reducer``, ``miner``: see ``PairLoss`` (the formulas above are ``pairs=sampled``
    with the default ``SumOver2N`` reducer). ``form="seed"`` is the former name of ``squared``.
    """

    FORMS = {"squared": contrastive_squared_terms, "hadsell": contrastive_hadsell_terms}

    def __init__(self, margin: float = 1.0, form: str = "squared", **pair_set):
        super().__init__(**pair_set)
        if form == "seed":
            warnings.warn("loss.form=seed is deprecated: the same formula is loss.form=squared", FutureWarning,
                          stacklevel=2)
            form = "squared"
        self.form = one_of("loss.form", form, self.FORMS)
        self.margin = positive("loss.margin", margin)

    def pair_terms(self, e1, e2, pairs):
        sqd = pairs.sqdist(self.final(e1), self.final(e2))
        return {"loss": self.FORMS[self.form](sqd, pairs.y, self.margin)}


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

        L = 1/(2N) Σᵢ Σₗ wₗ·[ yᵢ·max(dᵢₗ − m1ₗ, 0)^p + (1 − yᵢ)·max(m2ₗ − dᵢₗ, 0)^p ]

    ``dᵢₗ`` is the squared Euclidean distance of the pair's stage-``l`` embeddings (``distance="squared"``,
    the seed's), or the Euclidean distance itself (``distance="euclidean"``: ``dᵢₗ = sqrt(squared)``, so
    both terms pull and push with a constant force instead of one proportional to the distance;
    m1 and m2 are then distances, not squared ones). ``hinge`` sets ``p``: ``linear`` (1, the seed's) or
    ``squared`` (2: a pair's pull or push grows with how far it is past its margin, so the worst pairs
    weigh most and those just past it hardly at all). Same-class pairs
    are pulled inside ``m1``, different-class pairs pushed beyond ``m2`` (``0 < m1 < m2``), at every
    selected stage. ``m1``, ``m2`` and ``weights`` are scalars or one value per selected layer.
    ``layers`` lists 1-based stage numbers (``None`` = all stages). The returned dict holds ``loss``
    and one term ``layer<l>`` per stage (each already weighted and divided by ``2N``; they sum to
    ``loss``). ``pairs``, ``reduction``, ``miner``: see ``PairLoss`` (each layer is reduced on its
    own; the formula above is ``pairs=sampled, reduction=seed``).
    """

    DISTANCES = ("squared", "euclidean")
    HINGES = {"linear": 1, "squared": 2}

    def __init__(self, m1=0.2, m2=1.0, layers: Sequence[int] | None = None, weights=1.0, distance: str = "squared",
                 hinge: str = "linear", **pair_set):
        super().__init__(**pair_set)
        self.distance = one_of("loss.distance", distance, self.DISTANCES)
        self.power = self.HINGES[one_of("loss.hinge", hinge, tuple(self.HINGES))]
        self.requested_layers = None if layers is None else [int(v) for v in layers]
        if self.requested_layers is not None and (
                not self.requested_layers or len(set(self.requested_layers)) != len(self.requested_layers)):
            raise ValueError(f"loss.layers must be distinct stage numbers, got {self.requested_layers}")
        self._raw = {"loss.m1": m1, "loss.m2": m2, "loss.weights": weights}
        # Validate now with the best count known; check(tower) validates against the real tower.
        lists = [len(v) for v in self._raw.values() if not isinstance(v, (int, float))]
        self._margins(len(self.requested_layers) if self.requested_layers is not None else max(lists, default=1))
        self.layers: list[int] | None = None     # set by bind

    def _margins(self, n: int) -> tuple[list[float], list[float], list[float]]:
        """``(m1, m2, weights)``, one value per selected layer, checked: ``0 < m1 < m2``, ``w >= 0``."""
        m1, m2, w = (_broadcast(key, value, n) for key, value in self._raw.items())
        for k, (a, b) in enumerate(zip(m1, m2)):
            positive("loss.m1", a)
            if not a < b:
                raise ValueError(f"loss.m1 must be < loss.m2 at layer {k + 1}, got m1={a}, m2={b}")
        if any(v < 0 for v in w):
            raise ValueError(f"loss.weights must be >= 0, got {w}")
        return m1, m2, w

    def _stages(self, num_stages: int) -> list[int]:
        """The selected 1-based stages of a tower with ``num_stages`` stages (all when none are named)."""
        layers = self.requested_layers or list(range(1, num_stages + 1))
        unknown = [s for s in layers if not 1 <= s <= num_stages]
        if unknown:
            raise ValueError(f"loss.layers names stage(s) {unknown} but the tower has stages 1..{num_stages}")
        return layers

    def check(self, tower) -> None:
        self._margins(len(self._stages(tower.num_stages)))

    def bind(self, tower, num_classes: int | None = None) -> None:
        super().bind(tower, num_classes)
        self.layers = self._stages(tower.num_stages)
        self.m1, self.m2, self.weights = self._margins(len(self.layers))

    def pair_terms(self, e1, e2, pairs):
        if self.layers is None:
            raise RuntimeError("DoubleMarginContrastiveLoss.bind(tower) must be called first")
        return {f"layer{stage}": w * double_margin_terms(self._distance(pairs.sqdist(e1[stage - 1], e2[stage - 1])),
                                                         pairs.y, m1, m2, self.power)
                for stage, m1, m2, w in zip(self.layers, self.m1, self.m2, self.weights)}

    def _distance(self, sqd: Tensor) -> Tensor:
        """The distance the margins apply to, ``(P,) -> (P,)``: ``sqd`` itself, or its square root
        (``dist_from_sqdist``: floored, so identical embeddings give finite gradients)."""
        return sqd if self.distance == "squared" else dist_from_sqdist(sqd)


class HingeLoss(PairLoss):
    """Binary hinge loss on pairs, the pair a two-class problem (``y = 1`` same, ``0`` different).

    With ``t = 2y − 1 ∈ {+1, −1}``, ``D`` the Euclidean distance of the model embeddings and a
    learned affine score ``ŷ = a·D + b`` (``a``, ``b`` parameters of the loss, in the optimizer)::

        L = 1/N Σᵢ max(0, 1 − tᵢ·ŷᵢ)

    ``a`` starts negative (a larger distance should mean "different"); ``ŷ > 0`` reads "same".
    ``pairs``, ``reducer`` (default ``MeanReducer``, as above), ``miner``: see ``PairLoss``.
    """

    def __init__(self, scale_init: float = -4.0, bias_init: float = 2.0, reducer: Reducer | None = None,
                 **pair_set):
        super().__init__(reducer=reducer if reducer is not None else MeanReducer(), **pair_set)
        self.scale = nn.Parameter(torch.tensor(float(scale_init)))
        self.bias = nn.Parameter(torch.tensor(float(bias_init)))

    def pair_terms(self, e1, e2, pairs):
        score = self.scale * dist_from_sqdist(pairs.sqdist(self.final(e1), self.final(e2))) + self.bias
        return {"loss": torch.clamp(1 - (2 * pairs.y - 1) * score, min=0)}
