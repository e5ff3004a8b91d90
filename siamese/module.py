"""``SiameseModule``: the twin (one tower on ``cat([x1, x2])``) trained by a pair loss."""
from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import pytorch_lightning as pl
import torch
from torch import Tensor, nn

from siamese import metrics
from siamese.evaluation import leave_one_out_retrieval


class NonFiniteError(RuntimeError):
    """Training produced a NaN or infinite loss term or gradient; the run stops before any export."""


class SiameseModule(pl.LightningModule):
    """Shared-weight twin around ``net`` (a tower returning per-stage embeddings) and ``loss``.

    Args:
        net: a ``siamese.nets.Tower``, ``x (B, C, H, W) -> [e_l (B, D_l)]``; ``net.embed`` gives the model embedding.
        loss: a loss module ``(e1, e2, batch) -> {"loss": scalar, <term>: scalar, ...}``; a loss with
            parameters (a classifier's weights) trains and checkpoints with the module.
        optimizer: ``params -> torch.optim.Optimizer`` (a Hydra ``_partial_``).
        scheduler: ``optimizer -> LRScheduler`` (a Hydra ``_partial_``) or ``None``; stepped per epoch.
        num_classes: classes of the data, for losses that own a class-weight matrix.
        loss_name: how messages and logs name the loss (e.g. ``dcontrastive``).
        collapse_threshold: warn (once) when the mean pairwise distance of a training batch's
            model embeddings falls below this: the embeddings have collapsed to a point.

    Every training step checks that each loss term and, after backward, each gradient is finite;
    otherwise it raises ``NonFiniteError`` naming the step, the term (``<loss_name>/<term>``) or
    parameter, and the last good checkpoint. It logs ``train/spread`` (the mean pairwise distance)
    and every term the loss returns (e.g. ``train/active``, the share of non-zero terms).

    Validation logs, each epoch, from the model embeddings of the validation pairs:
    ``val/auc`` and ``val/eer`` of the pair distances (``y = 1`` same), and, when the data has class
    ids, ``val/p_at_1`` and ``val/map_at_r`` of leave-one-out retrieval among the distinct images.
    """

    def __init__(self, net: nn.Module, loss: nn.Module, optimizer: Callable,
                 scheduler: Callable | None = None, num_classes: int | None = None,
                 loss_name: str | None = None, collapse_threshold: float = 0.01):
        super().__init__()
        self.net, self.loss = net, loss
        self.loss_name = loss_name or type(loss).__name__
        self.collapse_threshold, self._collapse_warned = float(collapse_threshold), False
        self.optimizer_factory, self.scheduler_factory = optimizer, scheduler
        self.loss.bind(net, num_classes)   # single-embedding losses train the tower's model embedding
        self._val: list[dict[str, np.ndarray]] = []

    def forward(self, x1: Tensor, x2: Tensor) -> tuple[list[Tensor], list[Tensor]]:
        """Per-stage embeddings of both sides: one tower call on ``cat([x1, x2])`` (2B images)."""
        stages = self.net(torch.cat([x1, x2]))
        b = x1.shape[0]
        return [e[:b] for e in stages], [e[b:] for e in stages]

    def training_step(self, batch: dict, batch_idx: int) -> Tensor:
        e1, e2 = self(batch["x1"], batch["x2"])
        out = self.loss(e1, e2, batch)
        for name, value in out.items():
            if not torch.isfinite(value).all():
                term = self.loss_name if name == "loss" else f"{self.loss_name}/{name}"
                self._stop(f"the loss term {term} is {value.item()}")
        b = batch["x1"].shape[0]
        self.log("train/loss", out["loss"], prog_bar=True, batch_size=b)
        for name, value in out.items():
            if name != "loss":
                self.log(f"train/{name}", value, batch_size=b)
        self._monitor_spread(torch.cat([self.net.final(e1), self.net.final(e2)]).detach().float())
        return out["loss"]

    def on_after_backward(self) -> None:
        for name, param in self.named_parameters():
            if param.grad is not None and not torch.isfinite(param.grad).all():
                self._stop(f"the gradient of {name} is not finite (loss {self.loss_name})")

    def _stop(self, what: str) -> None:
        callback = self.trainer.checkpoint_callback if self._trainer is not None else None
        last = (callback.last_model_path or callback.best_model_path) if callback else ""
        raise NonFiniteError(
            f"step {self.global_step}: {what}. Training stopped; no index or report is written. "
            f"Last good checkpoint: {last or 'none yet'}. Likely causes: a learning rate too high "
            "(optimizer.lr), a margin out of scale, or NaN in the input images.")

    def _monitor_spread(self, emb: Tensor) -> None:
        """Log the batch's mean pairwise embedding distance; warn once when it collapses."""
        spread = torch.pdist(emb[:256]).mean()
        self.log("train/spread", spread, batch_size=len(emb))
        if spread < self.collapse_threshold and not self._collapse_warned:
            self._collapse_warned = True
            warnings.warn(
                f"step {self.global_step}: the embeddings have collapsed (mean pairwise distance "
                f"{spread.item():.2e} in the batch, below {self.collapse_threshold}): every image maps "
                f"to nearly one point. Likely causes: a margin too small for {self.loss_name} (nothing "
                "pushes different pairs apart) or a learning rate too high (optimizer.lr).", stacklevel=2)

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        e1, e2 = self(batch["x1"], batch["x2"])
        self.log("val/loss", self.loss(e1, e2, batch)["loss"], batch_size=batch["x1"].shape[0])
        a, b = self.net.final(e1).float(), self.net.final(e2).float()
        step = {"dist": (a - b).norm(dim=1).cpu().numpy(), "y": batch["y"].cpu().numpy()}
        if "c1" in batch:   # retrieval needs class ids
            step.update(emb=torch.cat([a, b]).cpu().numpy(), c=torch.cat([batch["c1"], batch["c2"]]).cpu().numpy(),
                        i=torch.cat([batch["i1"], batch["i2"]]).cpu().numpy())
        self._val.append(step)

    def on_validation_epoch_end(self) -> None:
        val = {k: np.concatenate([step[k] for step in self._val]) for k in self._val[0]}
        self._val.clear()
        self.log("val/auc", metrics.roc_auc(val["dist"], val["y"]), prog_bar=True)
        self.log("val/eer", metrics.equal_error_rate(val["dist"], val["y"])[0])
        if "c" not in val:
            return
        retrieval = leave_one_out_retrieval(val["emb"], val["c"], val["i"])
        self.log("val/p_at_1", retrieval["p_at_1"])
        self.log("val/map_at_r", retrieval["map_at_r"])

    def configure_optimizers(self):
        optimizer = self.optimizer_factory(params=self.parameters())
        if self.scheduler_factory is None:
            return optimizer
        return {"optimizer": optimizer,
                "lr_scheduler": {"scheduler": self.scheduler_factory(optimizer=optimizer), "interval": "epoch"}}
