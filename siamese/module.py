"""``SiameseModule``: the twin (one tower on ``cat([x1, x2])``) trained by a pair loss."""
from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import pytorch_lightning as pl
import torch
from torch import Tensor, nn

from siamese import metrics
from siamese.checks import non_negative
from siamese.evaluation import leave_one_out_retrieval


def gather_batch(all_gather: Callable, e1: list[Tensor], e2: list[Tensor], batch: dict
                 ) -> tuple[list[Tensor], list[Tensor], dict]:
    """Every rank's embeddings (with their gradient) and batch tensors as one global batch:
    ``(W·N, D_l)`` per stage, ``(W·N,)`` per key. ``all_gather(tensor, sync_grads)`` is the strategy's
    (``LightningModule.all_gather``): ``(N, …) -> (W, N, …)``.

    Each rank's loss is then the global loss; the gradient of the gathered embeddings is summed back
    over ranks and DDP averages the ranks' parameter gradients, so the update equals one process on
    the joint batch.
    """
    def joint(tensors: list[Tensor]) -> list[Tensor]:
        return [all_gather(t, sync_grads=True).flatten(0, 1) for t in tensors]

    tensors = {key: all_gather(value, sync_grads=False).flatten(0, 1) for key, value in batch.items()
               if isinstance(value, Tensor) and key not in ("x1", "x2")}
    return joint(e1), joint(e2), {**batch, **tensors}


PAIR_ROWS = ("dist", "y", "k")     # validation arrays with one row a pair (the others: two a pair, one an image)


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
        backbone_lr_mult: the learning rate of the tower's backbone (``net.backbone_parameters()``)
            is the optimizer's times this.
        head_lr_mult: the learning rate of the tower's embedding heads (its parameters outside the
            backbone) is the optimizer's times this; a loss's own weights keep the optimizer's rate.
        decay_biases_and_norms: ``False`` exempts every parameter of one dimension — biases and the
            normalisation layers' scales and shifts — from the optimizer's weight decay ("no bias decay",
            He et al. 2019); ``True`` (the optimizer's own behaviour) decays them like the weights.

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
                 loss_name: str | None = None, collapse_threshold: float = 0.01, backbone_lr_mult: float = 1.0,
                 head_lr_mult: float = 1.0, decay_biases_and_norms: bool = True):
        super().__init__()
        self.net, self.loss = net, loss
        self.loss_name = loss_name or type(loss).__name__
        self.collapse_threshold, self._collapse_warned = float(collapse_threshold), False
        self.optimizer_factory, self.scheduler_factory = optimizer, scheduler
        self.backbone_lr_mult = non_negative("optimizer.backbone_lr_mult", backbone_lr_mult)
        self.head_lr_mult = non_negative("optimizer.head_lr_mult", head_lr_mult)
        self.decay_biases_and_norms = bool(decay_biases_and_norms)
        self.loss.bind(net, num_classes)   # single-embedding losses train the tower's model embedding
        self._val: list[dict[str, np.ndarray]] = []
        self.images_seen = 0     # training images (2 per pair) through this rank's tower; kept on resume

    def forward(self, x1: Tensor, x2: Tensor) -> tuple[list[Tensor], list[Tensor]]:
        """Per-stage embeddings of both sides: one tower call on ``cat([x1, x2])`` (2B images)."""
        stages = self.net(torch.cat([x1, x2]))
        b = x1.shape[0]
        return [e[:b] for e in stages], [e[b:] for e in stages]

    @property
    def world_size(self) -> int:
        return self.trainer.world_size if self._trainer is not None else 1

    def training_step(self, batch: dict, batch_idx: int) -> Tensor:
        e1, e2 = self(batch["x1"], batch["x2"])
        if getattr(self.loss, "gather", False) and self.world_size > 1:
            e1, e2, batch = gather_batch(self.all_gather, e1, e2, batch)      # the loss sees the global batch
        out = self.loss(e1, e2, batch)
        bad = next((name for name, value in out.items() if not torch.isfinite(value).all()), None)
        self._agree_finite(bad is not None, lambda: "the loss term " + (
            self.loss_name if bad == "loss" else f"{self.loss_name}/{bad}") + f" is {out[bad].item()}")
        b = batch["x1"].shape[0]
        self.images_seen += 2 * b
        self.log("train/loss", out["loss"], prog_bar=True, batch_size=b)
        for name, value in out.items():
            if name != "loss":
                self.log(f"train/{name}", value, batch_size=b)
        self._monitor_spread(torch.cat([self.net.final(e1), self.net.final(e2)]).detach().float())
        return out["loss"]

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["images_seen"] = self.images_seen

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        """Resume: restore ``images_seen``, and refuse a checkpoint whose optimizer split the parameters
        into other learning-rate groups than this config does (torch would fail on the group count, or
        silently keep the checkpoint's rates)."""
        self.images_seen = int(checkpoint.get("images_seen", 0))
        states = checkpoint.get("optimizer_states") or [{}]
        def described(groups):       # (multiplier, decayed) of each group
            return [(group.get("lr_mult", 1.0), group.get("decay", True)) for group in groups]

        saved = described(states[0].get("param_groups", []))
        wanted = described(self.parameter_groups())
        if saved and saved != wanted:
            raise ValueError(
                f"the checkpoint's optimizer has parameter groups (learning-rate multiplier, weight decay on) "
                f"{saved}, this config gives {wanted} (optimizer.backbone_lr_mult={self.backbone_lr_mult}, "
                f"optimizer.head_lr_mult={self.head_lr_mult}, optimizer.decay_biases_and_norms="
                f"{self.decay_biases_and_norms}): resume with the run's values (its .hydra/config.yaml); a run "
                "from before optimizer.head_lr_mult existed resumes with optimizer.head_lr_mult=1.0")

    def on_after_backward(self) -> None:
        bad = next((name for name, param in self.named_parameters()
                    if param.grad is not None and not torch.isfinite(param.grad).all()), None)
        self._agree_finite(bad is not None, lambda: f"the gradient of {bad} is not finite (loss {self.loss_name})")

    def _agree_finite(self, local_bad: bool, what) -> None:
        """Stop every rank together when any rank saw a non-finite value (``what()`` names it there);
        the other ranks name the rank that did. One process: stop when ``local_bad``."""
        if self.world_size == 1:
            if local_bad:
                self._stop(what())
            return
        flags = self.all_gather(torch.tensor(float(local_bad), device=self.device)).flatten()
        if flags.any():
            ranks = flags.nonzero().flatten().tolist()
            self._stop(f"rank {self.global_rank}: {what()}" if local_bad
                       else f"rank(s) {ranks} saw a non-finite loss term or gradient (see their message)")

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
        self.log("val/loss", self.loss(e1, e2, batch)["loss"], batch_size=batch["x1"].shape[0], sync_dist=True)
        a, b = self.net.final(e1).float(), self.net.final(e2).float()
        step = {"dist": (a - b).norm(dim=1), "y": batch["y"].float(), "k": batch["k"]}
        if "c1" in batch:   # retrieval needs class ids
            step.update(emb=torch.cat([a, b]), c=torch.cat([batch["c1"], batch["c2"]]),
                        i=torch.cat([batch["i1"], batch["i2"]]))
        self._val.append({key: value.detach() for key, value in step.items()})

    def validation_figures(self) -> dict[str, np.ndarray]:
        """This epoch's validation arrays from every rank: gathered (``all_gather``; each rank holds the
        same number of pairs), the padding duplicates dropped by pair position ``k``. On one process,
        this rank's arrays as they are."""
        local = {key: torch.cat([step[key] for step in self._val]) for key in self._val[0]}
        self._val.clear()
        if self.world_size > 1:
            local = {key: self.all_gather(value).flatten(0, 1) for key, value in local.items()}
            # the pair rows lose their padding duplicates; the image rows (emb, c, i) keep them: retrieval
            # counts each image once by its id
            _, first = np.unique(local["k"].cpu().numpy(), return_index=True)
            pairs = torch.as_tensor(first, device=local["k"].device)
            local = {key: value[pairs] if key in PAIR_ROWS else value for key, value in local.items()}
        return {key: value.cpu().numpy() for key, value in local.items()}

    def on_validation_epoch_end(self) -> None:
        val = self.validation_figures()
        figures = {"val/auc": metrics.roc_auc(val["dist"], val["y"]),
                   "val/eer": metrics.equal_error_rate(val["dist"], val["y"])[0]}
        if "c" in val:
            retrieval = leave_one_out_retrieval(val["emb"], val["c"], val["i"])    # each image once, by id
            figures.update({"val/p_at_1": retrieval["p_at_1"], "val/map_at_r": retrieval["map_at_r"]})
        for name, value in figures.items():    # the same on every rank: computed from the gathered arrays
            self.log(name, value, prog_bar=name == "val/auc", sync_dist=self.world_size > 1)

    def parameter_groups(self) -> list[dict]:
        """The parameters grouped by learning-rate multiplier (``lr_mult``), groups in order of first
        appearance: the backbone's get ``backbone_lr_mult``, the tower's others — its embedding heads —
        ``head_lr_mult``, the loss's own 1. Equal multipliers share a group, so with both knobs at 1 it
        is one group of every parameter, as before either knob existed. Without
        ``decay_biases_and_norms`` the one-dimensional parameters of each multiplier form a group of their
        own with ``weight_decay`` 0 (marked ``decay: False``)."""
        backbone = {id(p) for p in self.net.backbone_parameters()}
        tower = {id(p) for p in self.net.parameters()}
        groups: dict[tuple[float, bool], list[nn.Parameter]] = {}
        for p in self.parameters():
            mult = self.backbone_lr_mult if id(p) in backbone else self.head_lr_mult if id(p) in tower else 1.0
            groups.setdefault((mult, self.decay_biases_and_norms or p.ndim > 1), []).append(p)
        return [{"params": params, "lr_mult": mult} if decay else
                {"params": params, "lr_mult": mult, "decay": False, "weight_decay": 0.0}
                for (mult, decay), params in groups.items()]

    def configure_optimizers(self):
        optimizer = self.optimizer_factory(params=self.parameter_groups())
        for group in optimizer.param_groups:
            group["lr"] = group["lr"] * group.get("lr_mult", 1.0)
        if self.scheduler_factory is None:
            return optimizer
        return {"optimizer": optimizer,
                "lr_scheduler": {"scheduler": self.scheduler_factory(optimizer=optimizer), "interval": "epoch"}}
