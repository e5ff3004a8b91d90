"""The twin's tower: a small CNN that returns one L2-normalised embedding per stage.

The Siamese twin is this one tower applied to ``cat([x1, x2])``: both inputs go through the same
modules in the same call, so the weights are shared by construction (no copies to keep in sync).
The *model embedding* — what verification, the index and matching use — is made from the stages
by ``combine_stages``: the last stage, or all stages concatenated.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from siamese.checks import at_least, image_channels, one_of
from siamese.weights import load_weights
from siamese.whitening import Whitening

EMBEDDINGS = ("last", "concat")
POOLS = ("avg", "max", "gem")
HEAD_NORMS = ("none", "batch")
GEM_P = 3.0     # GeM's exponent (Radenović et al., 2018: p = 3 for retrieval)


def check_embedding(how: str) -> str:
    """``how`` when it names a way to make the model embedding, else a ``ValueError`` naming it."""
    return one_of("model.embedding", how, EMBEDDINGS)


def check_stage_weights(weights: Sequence[float] | None, num_stages: int, embedding: str) -> tuple[float, ...] | None:
    """``model.stage_weights`` as a tuple (``None`` stays ``None``): one value >= 0 per stage, not all 0,
    and only with ``model.embedding=concat`` (``last`` uses one stage)."""
    if weights is None:
        return None
    values = tuple(float(w) for w in weights)
    if len(values) != num_stages or min(values) < 0 or sum(values) <= 0:
        raise ValueError(f"model.stage_weights must give {num_stages} values >= 0 (one per stage, not all 0), "
                         f"got {list(weights)}")
    if embedding != "concat":
        raise ValueError(f"model.stage_weights={list(values)} weighs the stages of model.embedding=concat, "
                         f"but model.embedding={embedding}")
    return values


def combine_stages(stages: Sequence[Tensor], how: str = "last", weights: Sequence[float] | None = None) -> Tensor:
    """The model embedding from per-stage unit embeddings ``[e_l (B, D_l)]``.

    ``last``: ``e_L (B, D_L)``. ``concat``: ``cat(e_1, …, e_L) / √L (B, Σ D_l)``, still of unit
    norm, and its squared distance is the mean of the stages' squared distances,
    ``‖a − b‖² = (1/L) Σ_l ‖a_l − b_l‖²`` — the quantity the per-layer loss trains at every stage.
    With stage ``weights`` w_l: ``cat(√(w_1/W) e_1, …, √(w_L/W) e_L)``, ``W = Σ w_l``, of unit norm,
    whose squared distance is the weighted mean ``(1/W) Σ_l w_l ‖a_l − b_l‖²``.
    """
    if check_embedding(how) == "concat":
        if weights is None:
            return torch.cat(list(stages), dim=1) / math.sqrt(len(stages))
        total = sum(weights)
        return torch.cat([e * math.sqrt(w / total) for e, w in zip(stages, weights)], dim=1)
    return stages[-1]


def _bins(size: int, grid: int) -> list[tuple[int, int]]:
    """``adaptive_*_pool2d``'s bins of one axis: ``[⌊i·size/g⌋, ⌈(i+1)·size/g⌉)`` for ``i < g``."""
    return [(i * size // grid, -(-(i + 1) * size // grid)) for i in range(grid)]


def _adaptive_max(x: Tensor, grid: int) -> Tensor:
    """``adaptive_max_pool2d(x, grid)`` as slices of static bins, which the ONNX exporter can translate."""
    rows, cols = _bins(x.shape[2], grid), _bins(x.shape[3], grid)
    cells = [x[:, :, r0:r1, c0:c1].amax(dim=(2, 3)) for r0, r1 in rows for c0, c1 in cols]   # g² × (B, C)
    return torch.stack(cells, dim=2).view(x.shape[0], x.shape[1], grid, grid)


def grid_pool(x: Tensor, grid: int, how: str = "avg") -> Tensor:
    """``x (B, C, H, W) -> (B, C · g²)``: each channel pooled over the adaptive bins of a ``g × g`` grid.

    ``avg``: the bin's mean; ``max``: its maximum; ``gem``: the generalised mean
    ``(mean_bin max(x, ε)^p)^(1/p)`` with ``p = 3``, between the two (``x ≥ 0`` after a ReLU).
    Flattened channel-major: ``out[:, c · g² + i · g + j]`` is channel c's cell (i, j).
    """
    if how == "max":
        pooled = _adaptive_max(x, grid)
    elif how == "gem":
        pooled = F.adaptive_avg_pool2d(x.clamp(min=1e-6).pow(GEM_P), grid).pow(1.0 / GEM_P)
    else:
        pooled = F.adaptive_avg_pool2d(x, grid)
    return pooled.flatten(1)


def embedding_head(in_features: int, dim: int, norm: str = "none") -> nn.Module:
    """One stage's head before the L2 normalisation: ``(B, in_features) -> (B, dim)``.

    ``none``: ``W x + b`` (``nn.Linear``). ``batch``: the re-identification "BNNeck" (Luo et al., 2019),
    ``γ ⊙ (W x + b − μ) / √(σ² + ε)`` with the batch's (in training) or the running (in evaluation) mean
    μ and variance σ² of each of the ``dim`` values and a learned scale γ, no shift (BNNeck removes the
    bias): the embedding is centred on the origin of its sphere before it is normalised.
    """
    linear = nn.Linear(in_features, dim)
    if one_of("model.head_norm", norm, HEAD_NORMS) == "none":
        return linear
    bn = nn.BatchNorm1d(dim)
    bn.bias.requires_grad_(False)           # BNNeck: no shift (the bias stays 0)
    return nn.Sequential(linear, bn)


@dataclass(frozen=True)
class TowerShape:
    """What a loss needs to know of a tower, without one: stages, model-embedding size and rule."""

    num_stages: int
    embedding_dim: int
    embedding: str = "last"
    stage_weights: tuple[float, ...] | None = None


class Tower(nn.Module):
    """Base of the towers: ``forward(x)`` gives per-stage embeddings, ``embed(x)`` the model embedding."""

    embedding = "last"
    stage_weights: tuple[float, ...] | None = None    # concat's w_l (``combine_stages``); None = equal
    min_image_size = 1     # the smallest image side the tower accepts

    def backbone_parameters(self) -> list[nn.Parameter]:
        """The feature extractor's parameters, apart from the embedding heads (``optimizer.backbone_lr_mult``)."""
        return []

    def set_backbone_trainable(self, trainable: bool) -> None:
        """Freeze (``False``) or release the feature extractor's parameters, heads untouched."""
        for param in self.backbone_parameters():
            param.requires_grad_(trainable)

    def final(self, stages: Sequence[Tensor]) -> Tensor:
        """The model embedding of this tower's per-stage output (``combine_stages``)."""
        return combine_stages(stages, self.embedding, self.stage_weights)

    def embed(self, x: Tensor) -> Tensor:
        """``x (B, C, H, W) -> (B, embedding_dim)``: ``self.final(self(x))``, then the learned whitening
        when one was fitted (``siamese.whitening``: ``self.whitening``, carried in the checkpoint)."""
        e = self.final(self(x))
        whitening = self._modules.get("whitening")
        return e if whitening is None else whitening(e)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        """A checkpoint with a fitted whitening (``whitening.mean``, ``whitening.matrix``) gives this tower one."""
        matrix = state_dict.get(prefix + "whitening.matrix")
        if matrix is not None and self._modules.get("whitening") is None:
            self.whitening = Whitening(matrix.shape[0])
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


def _conv_block(c_in: int, c_out: int) -> nn.Sequential:
    """Two 3×3 conv + BN + ReLU, then 2×2 max-pool: ``(B, c_in, H, W) -> (B, c_out, H/2, W/2)``."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
        nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
    )


class ConvTower(Tower):
    """Conv stages, each followed by a pooled, projected, L2-normalised embedding head.

    Args:
        in_channels: image channels (1 grayscale, 3 RGB); must match the data.
        channels: output channels of each stage; ``len(channels)`` is the number of stages.
        embedding_dim: ``D_l`` of each stage's embedding, an int for all stages or one per stage.
        input_mean, input_std: per-channel input normalisation ``(x − mean) / std`` applied first,
            inside the tower, so evaluation, export and matching normalise exactly as training did.
        embedding: how the model embedding is made from the stages (``combine_stages``):
            ``last`` (``D_L`` values) or ``concat`` (``Σ D_l`` values).
        pool_grid: ``g``, each stage's map is pooled to a ``g × g`` grid before its head: 1 is
            global pooling (position discarded); 2 or more keeps a coarse layout, which
            small images such as digits and glyphs identify by. The head sees ``C_l · g²`` values.
        pool: how each grid cell is pooled (``grid_pool``): ``avg`` (mean), ``max``, ``gem`` (p = 3).
        weights: ``None`` (random) or a path: a state dict of a tower of this shape, or a siamese run's
            checkpoint (its ``net.*`` tensors), loaded whole — stages, heads and the input normalisation
            it was trained with — e.g. a tower trained on many classes to start one on few.
        stage_weights: with ``embedding=concat``, the weight ``w_l`` of each stage in the model
            embedding (``combine_stages``); ``None``: equal. The per-stage embeddings, and so the
            per-layer loss, do not change; verification, retrieval and the index see the weighted distance.
        head_norm: ``none`` or ``batch`` (a BatchNorm of the head's output before the normalisation,
            ``embedding_head``).

    ``forward(x)``: ``x (B, C, H, W) -> [e_1 (B, D_1), …, e_L (B, D_L)]`` with ``‖e_l‖₂ = 1``;
    ``e_l = normalize(head_l(pool_g(stage_l(…stage_1(x)))))``, ``head_l`` linear (``embedding_head``),
    ``pool_g (B, C_l, H_l, W_l) -> (B, C_l · g²)`` pooling adaptive bins (``grid_pool``; a map smaller than
    ``g`` repeats its cells).
    """

    def __init__(self, in_channels: int = 1, channels: Sequence[int] = (32, 64, 128),
                 embedding_dim: int | Sequence[int] = 64, input_mean: Sequence[float] | None = None,
                 input_std: Sequence[float] | None = None, embedding: str = "last", pool_grid: int = 1,
                 weights: str | None = None, stage_weights: Sequence[float] | None = None, pool: str = "avg",
                 head_norm: str = "none"):
        super().__init__()
        self.pool = one_of("model.pool", pool, POOLS)
        self.embedding = check_embedding(embedding)
        self.stage_weights = check_stage_weights(stage_weights, len(channels), self.embedding)
        channels = [int(c) for c in channels]
        if not channels or min(channels) < 1:
            raise ValueError(f"model.channels must be a non-empty list of positive ints, got {channels}")
        image_channels("model.in_channels", in_channels)
        self.pool_grid = at_least("model.pool_grid", pool_grid)
        dims = ([int(embedding_dim)] * len(channels) if isinstance(embedding_dim, int)
                else [int(d) for d in embedding_dim])
        if len(dims) != len(channels) or min(dims) < 1:
            raise ValueError(
                f"model.embedding_dim must be a positive int or one per stage ({len(channels)}), got {dims}"
            )
        self.in_channels = int(in_channels)
        self.stages = nn.ModuleList(
            _conv_block(c_in, c_out) for c_in, c_out in zip([self.in_channels, *channels], channels)
        )
        self.heads = nn.ModuleList(embedding_head(c * pool_grid**2, d, head_norm) for c, d in zip(channels, dims))
        self.embedding_dims = dims
        mean = [0.0] * self.in_channels if input_mean is None else [float(v) for v in input_mean]
        std = [1.0] * self.in_channels if input_std is None else [float(v) for v in input_std]
        if len(mean) != self.in_channels or len(std) != self.in_channels or min(std) <= 0:
            raise ValueError(f"model.input_mean / model.input_std need {self.in_channels} value(s) each "
                             f"(std > 0), got {mean} / {std}")
        self.register_buffer("input_mean", torch.tensor(mean).view(1, -1, 1, 1))
        self.register_buffer("input_std", torch.tensor(std).view(1, -1, 1, 1))
        if weights is not None:
            load_weights(self, weights, "data.source.channels, model.channels, model.embedding_dim and model.pool_grid",
                         "tower")

    @property
    def num_stages(self) -> int:
        return len(self.stages)

    def backbone_parameters(self) -> list[nn.Parameter]:
        return list(self.stages.parameters())

    @property
    def min_image_size(self) -> int:
        """Each stage halves the image (2×2 max-pool): ``2^L`` pixels are needed for ``L`` stages."""
        return 2 ** self.num_stages

    @property
    def embedding_dim(self) -> int:
        """Dimension of the model embedding: the last stage's, or the sum over stages for ``concat``."""
        return sum(self.embedding_dims) if self.embedding == "concat" else self.embedding_dims[-1]

    def forward(self, x: Tensor) -> list[Tensor]:
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"ConvTower expects images (B, {self.in_channels}, H, W), got shape {tuple(x.shape)}"
            )
        x = (x - self.input_mean) / self.input_std
        out = []
        for stage, head in zip(self.stages, self.heads):
            x = stage(x)
            pooled = grid_pool(x, self.pool_grid, self.pool)                  # (B, C_l · g²)
            out.append(F.normalize(head(pooled), dim=1))                      # (B, D_l)
        return out


class RawPixels(Tower):
    """Baseline "tower" without parameters: the flattened, L2-normalised image as its one embedding.

    ``x (B, C, H, W) -> [normalize(flatten(x)) (B, C·H·W)]``. Evaluating it through the same code as a
    trained tower tells what the training added over comparing pixels.
    """

    num_stages = 1

    def forward(self, x: Tensor) -> list[Tensor]:
        return [F.normalize(x.flatten(1), dim=1)]
