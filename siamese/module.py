"""``SiameseModule``: the twin (one tower on ``cat([x1, x2])``) trained by a pair loss."""
from __future__ import annotations

from collections.abc import Callable

import pytorch_lightning as pl
import torch
from torch import Tensor, nn
from torchmetrics.classification import BinaryAUROC

from siamese.losses import sqdist


class SiameseModule(pl.LightningModule):
    """Shared-weight twin around ``net`` (a tower returning per-stage embeddings) and ``loss``.

    Args:
        net: the tower, ``x (B, C, H, W) -> [e_l (B, D_l)]``; its last stage is the embedding.
        loss: a loss module ``(e1, e2, batch) -> {"loss": scalar, <term>: scalar, ...}``.
        optimizer: ``params -> torch.optim.Optimizer`` (a Hydra ``_partial_``).
        scheduler: ``optimizer -> LRScheduler`` (a Hydra ``_partial_``) or ``None``; stepped per epoch.

    Validation logs ``val/auc``: the ROC AUC of ``-dist`` (last-stage Euclidean distance of each
    validation pair) for ``y = 1`` (same).
    """

    def __init__(self, net: nn.Module, loss: nn.Module, optimizer: Callable,
                 scheduler: Callable | None = None):
        super().__init__()
        self.net, self.loss = net, loss
        self.optimizer_factory, self.scheduler_factory = optimizer, scheduler
        self.loss.bind(net.num_stages)
        self.val_auc = BinaryAUROC()

    def forward(self, x1: Tensor, x2: Tensor) -> tuple[list[Tensor], list[Tensor]]:
        """Per-stage embeddings of both sides: one tower call on ``cat([x1, x2])`` (2B images)."""
        stages = self.net(torch.cat([x1, x2]))
        b = x1.shape[0]
        return [e[:b] for e in stages], [e[b:] for e in stages]

    @torch.no_grad()
    def embed(self, x: Tensor) -> Tensor:
        """Model embedding (last stage, L2-normalised) of ``x (B, C, H, W)``: ``(B, D)``, eval mode."""
        was_training = self.net.training
        self.net.eval()
        try:
            return self.net(x)[-1]
        finally:
            self.net.train(was_training)

    def training_step(self, batch: dict, batch_idx: int) -> Tensor:
        e1, e2 = self(batch["x1"], batch["x2"])
        out = self.loss(e1, e2, batch)
        b = batch["x1"].shape[0]
        self.log("train/loss", out["loss"], prog_bar=True, batch_size=b)
        for name, value in out.items():
            if name != "loss":
                self.log(f"train/{name}", value, batch_size=b)
        return out["loss"]

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        e1, e2 = self(batch["x1"], batch["x2"])
        dist = sqdist(e1[-1].float(), e2[-1].float()).clamp_min(0).sqrt()
        self.val_auc.update(1.0 / (1.0 + dist), batch["y"].long())
        self.log("val/loss", self.loss(e1, e2, batch)["loss"], batch_size=batch["x1"].shape[0])

    def on_validation_epoch_end(self) -> None:
        self.log("val/auc", self.val_auc.compute(), prog_bar=True)
        self.val_auc.reset()

    def configure_optimizers(self):
        optimizer = self.optimizer_factory(params=self.parameters())
        if self.scheduler_factory is None:
            return optimizer
        return {"optimizer": optimizer,
                "lr_scheduler": {"scheduler": self.scheduler_factory(optimizer=optimizer), "interval": "epoch"}}
