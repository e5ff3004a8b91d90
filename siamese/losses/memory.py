"""Cross-batch memory (XBM, Wang et al., CVPR 2020): the embeddings of the last ``S`` training images.

Embeddings drift slowly once training settles, so those of recent batches stand in for the current
model's: a pair loss can score each image of the batch against ``S`` images instead of the batch's
``M``, with no extra forward pass. The memory is a first-in first-out ring of detached per-stage
embeddings ``(S, D_l)``, their class ids ``(S,)`` and image ids ``(S,)``, on the embeddings' device. It
lives in the loss only, not in checkpoints: a resumed run refills it within ``S / M`` steps. Under DDP
each rank remembers the batches its loss saw: its own, or every rank's with ``loss.gather``.
"""
from __future__ import annotations

import torch
from torch import Tensor


class CrossBatchMemory:
    """A ring of the last ``size`` images' per-stage embeddings, class ids and image ids.

    ``add(stages [(M, D_l)], labels (M,), ids (M,))`` writes the batch over the oldest entries (detached);
    ``entries()`` gives the filled ones, ``([(F, D_l)], (F,), (F,))`` with ``F = min(images added, size)``.
    A batch larger than ``size`` is refused: the current batch must fit in the memory whole.
    """

    def __init__(self, size: int):
        self.size = int(size)
        self._stages: list[Tensor] = []
        self._labels = self._ids = torch.empty(0, dtype=torch.long)
        self._next = self._filled = 0      # the slot the next image goes to; how many slots hold one

    def __len__(self) -> int:
        return self._filled

    def add(self, stages: list[Tensor], labels: Tensor, ids: Tensor) -> None:
        m = len(labels)
        if m > self.size:
            raise ValueError(f"loss.memory={self.size} holds fewer images than one training batch ({m}): "
                             f"set loss.memory to at least {m}")
        if not self._stages:
            self._stages = [s.new_zeros(self.size, s.shape[1]) for s in stages]
            self._labels, self._ids = labels.new_zeros(self.size), ids.new_zeros(self.size)
        slots = (self._next + torch.arange(m, device=labels.device)) % self.size
        # out of place: the loss that read the entries before this call may still need them for backward
        self._stages = [memory.index_copy(0, slots, s.detach().to(memory.dtype))
                        for memory, s in zip(self._stages, stages)]
        self._labels[slots], self._ids[slots] = labels, ids
        self._next, self._filled = (self._next + m) % self.size, min(self._filled + m, self.size)

    def entries(self) -> tuple[list[Tensor], Tensor, Tensor]:
        """The filled entries: per-stage embeddings ``[(F, D_l)]``, class ids ``(F,)``, image ids ``(F,)``."""
        f = self._filled
        return [s[:f] for s in self._stages], self._labels[:f], self._ids[:f]
