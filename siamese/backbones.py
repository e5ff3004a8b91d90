"""Standard CNNs as twin towers: torchvision and timm backbones behind the ``Tower`` contract.

A backbone's stages come from the library's own feature mechanism — torchvision's
``create_feature_extractor`` on named modules, timm's ``features_only`` models — never from copied
forward code. Each selected stage ``l`` gets a head::

    e_l = normalize(W_l · avgpool(f_l(x)))        f_l(x): (B, C_l, H_l, W_l) -> e_l: (B, D_l)

so the tower returns ``[e_l (B, D_l)]`` with ``‖e_l‖ = 1`` like ``ConvTower``, and every loss
(``loss=dcontrastive loss.layers=[2,3]`` included), evaluation, export and matching work unchanged.

Weights: ``None`` (random), ``"imagenet"`` (the library's pretrained weights, downloaded by
torchvision / timm into their usual cache on the user's machine) or a path to a local state dict
in the library's format. With weights, the input normalisation defaults to ImageNet's mean and std;
it is a buffer of the tower, saved in every checkpoint, so evaluation, export and matching
normalise as training did.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from siamese.checks import at_least, image_channels
from siamese.nets import Tower, check_embedding
from siamese.weights import load_weights

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
PROBE_SIZE = 64          # the side of the dummy image that measures each stage's channels and stride


def _stage_of_parameters(named: list[tuple[str, nn.Parameter]], stage_modules: Sequence[str]) -> list[int]:
    """The 1-based stage of each parameter: the stage whose module name prefixes it, else that of the
    last stage met before it (so the stem belongs to stage 1)."""
    stages, current = [], 1
    for name, _ in named:
        for k, module in enumerate(stage_modules, start=1):
            if name == module or name.startswith(module + "."):
                current = k
                break
        stages.append(current)
    return stages


class BackboneTower(Tower):
    """A feature backbone with one embedding head per selected stage (see the module docstring).

    Args:
        backbone: ``x (B, C, H, W) -> [f_1, …, f_S]``, every stage's feature map.
        stage_modules: the module name of each of the ``S`` stages (for freezing).
        stages: 1-based stage numbers that get a head; ``None`` = the last three.
        embedding_dim: ``D_l`` per selected stage (int or one per stage).
        in_channels: image channels of the data (1 or 3); ``backbone_channels`` what the backbone
            takes (a grey image is repeated to 3 channels for a 3-channel backbone).
        input_mean, input_std: normalisation of the backbone's input; ``None`` = ImageNet's when
            ``pretrained``, else none.
        freeze_stages: the first ``N`` stages (stem included) keep their weights, BatchNorm in eval mode.
        channels_last: run the backbone in the channels-last memory format (faster convolutions on GPU).
    """

    def __init__(self, backbone: nn.Module, stage_modules: Sequence[str], stages: Sequence[int] | None,
                 embedding_dim: int | Sequence[int], in_channels: int, backbone_channels: int,
                 pretrained: bool, input_mean=None, input_std=None, embedding: str = "last",
                 freeze_stages: int = 0, channels_last: bool = False):
        super().__init__()
        self.embedding = check_embedding(embedding)
        self.in_channels = image_channels("model.in_channels", in_channels)
        self.backbone, self.backbone_channels = backbone, int(backbone_channels)
        self.channels_last = bool(channels_last)
        with torch.no_grad():
            probe = self.backbone.eval()(torch.zeros(1, self.backbone_channels, PROBE_SIZE, PROBE_SIZE))
        self.backbone.train()
        n = len(probe)
        self.selected = list(range(max(1, n - 2), n + 1)) if stages is None else [int(s) for s in stages]
        if not self.selected or any(not 1 <= s <= n for s in self.selected) or len(set(self.selected)) != len(
                self.selected):
            raise ValueError(f"model.stages must be distinct stage numbers in 1..{n}, got {list(stages or [])}")
        dims = ([int(embedding_dim)] * len(self.selected) if isinstance(embedding_dim, int)
                else [int(d) for d in embedding_dim])
        if len(dims) != len(self.selected) or min(dims) < 1:
            raise ValueError(f"model.embedding_dim must be a positive int or one per selected stage "
                             f"({len(self.selected)}), got {dims}")
        self.embedding_dims = dims
        self.heads = nn.ModuleList(nn.Linear(probe[s - 1].shape[1], d) for s, d in zip(self.selected, dims))
        self.min_image_size = max(PROBE_SIZE // f.shape[-1] for f in probe)     # the deepest stage's stride
        self.freeze_stages = at_least("model.freeze_stages", freeze_stages, 0)
        if self.freeze_stages > n:
            raise ValueError(f"model.freeze_stages={freeze_stages} but the backbone has {n} stages")
        named = list(self.backbone.named_parameters())
        self._stage_of = dict(zip((name for name, _ in named), _stage_of_parameters(named, stage_modules)))
        self.set_backbone_trainable(True)
        default = (IMAGENET_MEAN, IMAGENET_STD) if pretrained else ((0.0,) * 3, (1.0,) * 3)
        mean = list(input_mean) if input_mean is not None else list(default[0])
        std = list(input_std) if input_std is not None else list(default[1])
        if self.backbone_channels == 1 and input_mean is None:
            mean, std = [sum(mean) / len(mean)], [sum(std) / len(std)]
        if len(mean) != self.backbone_channels or len(std) != self.backbone_channels or min(std) <= 0:
            raise ValueError(f"model.input_mean / model.input_std need {self.backbone_channels} value(s) each "
                             f"(std > 0), got {mean} / {std}")
        self.register_buffer("input_mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("input_std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))
        if self.channels_last:
            self.backbone.to(memory_format=torch.channels_last)

    @property
    def num_stages(self) -> int:
        return len(self.selected)

    @property
    def embedding_dim(self) -> int:
        return sum(self.embedding_dims) if self.embedding == "concat" else self.embedding_dims[-1]

    def backbone_parameters(self) -> list[nn.Parameter]:
        return list(self.backbone.parameters())

    def set_backbone_trainable(self, trainable: bool) -> None:
        """Make the backbone trainable (the first ``freeze_stages`` stages stay frozen) or freeze it all."""
        for name, param in self.backbone.named_parameters():
            param.requires_grad_(trainable and self._stage_of[name] > self.freeze_stages)
        self.train(self.training)

    def train(self, mode: bool = True) -> BackboneTower:
        """As ``nn.Module.train``, but a BatchNorm layer whose parameters are frozen stays in eval mode
        (its running statistics frozen too)."""
        super().train(mode)
        for module in self.backbone.modules():
            params = list(module.parameters(recurse=False))
            if isinstance(module, nn.modules.batchnorm._BatchNorm) and params and \
                    not any(p.requires_grad for p in params):
                module.eval()
        return self

    def forward(self, x: Tensor) -> list[Tensor]:
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"{type(self).__name__} expects images (B, {self.in_channels}, H, W), "
                             f"got shape {tuple(x.shape)}")
        if x.shape[1] != self.backbone_channels:
            x = x.expand(-1, self.backbone_channels, -1, -1)
        x = (x - self.input_mean) / self.input_std
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        features = self.backbone(x)
        return [F.normalize(head(features[s - 1].mean(dim=(2, 3))), dim=1)      # (B, C_l) -> (B, D_l)
                for s, head in zip(self.selected, self.heads)]


class _NodeOutputs(nn.Module):
    """torchvision's ``create_feature_extractor`` as a list: ``x -> [f_1, …, f_S]`` in node order."""

    def __init__(self, model: nn.Module, nodes: Sequence[str]):
        super().__init__()
        from torchvision.models.feature_extraction import create_feature_extractor

        self.nodes = list(nodes)
        try:
            self.extractor = create_feature_extractor(model, return_nodes={n: n for n in self.nodes})
        except ValueError as err:
            raise ValueError(f"model.nodes={self.nodes}: {err}") from None

    def forward(self, x: Tensor) -> list[Tensor]:
        out = self.extractor(x)
        return [out[n] for n in self.nodes]


class TorchvisionTower(BackboneTower):
    """A ``torchvision.models`` classifier's stages (``nodes``: the module ending each stage)."""

    def __init__(self, name: str, nodes: Sequence[str], stages: Sequence[int] | None = None,
                 embedding_dim: int | Sequence[int] = 128, weights: str | None = None, in_channels: int = 3,
                 input_mean=None, input_std=None, embedding: str = "last", freeze_stages: int = 0,
                 channels_last: bool = False):
        import torchvision

        builder = getattr(torchvision.models, name, None)
        if builder is None or not callable(builder):
            raise ValueError(f"model.name={name!r} is not a torchvision.models classifier")
        model = builder(weights="DEFAULT" if weights == "imagenet" else None)
        if weights not in (None, "imagenet"):
            load_weights(model, weights, "model.name", "backbone")
        super().__init__(_NodeOutputs(model, nodes), [f"extractor.{n}" for n in nodes], stages, embedding_dim,
                         in_channels, 3, weights is not None, input_mean, input_std, embedding, freeze_stages,
                         channels_last)


class TimmTower(BackboneTower):
    """Any timm model through ``timm.create_model(name, features_only=True)`` (timm is an optional extra:
    ``pip install siamese[timm]``)."""

    def __init__(self, name: str, stages: Sequence[int] | None = None, embedding_dim: int | Sequence[int] = 128,
                 weights: str | None = None, in_channels: int = 3, input_mean=None, input_std=None,
                 embedding: str = "last", freeze_stages: int = 0, channels_last: bool = False):
        try:
            import timm
        except ImportError:
            raise ImportError("model=timm needs timm: pip install 'siamese[timm]'") from None
        try:
            backbone = timm.create_model(name, pretrained=weights == "imagenet", features_only=True,
                                         in_chans=int(in_channels))
        except RuntimeError as err:
            raise ValueError(f"model.name={name!r}: {err}") from None
        if weights not in (None, "imagenet"):
            load_weights(backbone, weights, "model.name", "backbone")
        super().__init__(backbone, backbone.feature_info.module_name(), stages, embedding_dim, in_channels,
                         in_channels, weights is not None, input_mean, input_std, embedding, freeze_stages,
                         channels_last)
