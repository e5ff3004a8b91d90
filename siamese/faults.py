"""Deliberate faults, to check that the framework fails safely (tests and scripts/bench_faults.py).

Add to a run with, e.g.::

    python scripts/train.py +callbacks.fault._target_=siamese.faults.FaultInjector +callbacks.fault.kill_at_step=7
"""
from __future__ import annotations

import os
import signal

import pytorch_lightning as pl
import torch


class FaultInjector(pl.Callback):
    """At training step ``kill_at_step``: SIGKILL this process (as the OOM killer or a crash would).
    At step ``nan_at_step``: write NaN into the first weight of the tower's head ``nan_stage``
    (1-based), so the loss terms that use that stage become NaN."""

    def __init__(self, kill_at_step: int | None = None, nan_at_step: int | None = None, nan_stage: int = 1):
        self.kill_at_step, self.nan_at_step, self.nan_stage = kill_at_step, nan_at_step, int(nan_stage)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if trainer.global_step == self.kill_at_step:
            os.kill(os.getpid(), signal.SIGKILL)
        if trainer.global_step == self.nan_at_step:
            with torch.no_grad():
                pl_module.net.heads[self.nan_stage - 1].weight[0, 0] = float("nan")
