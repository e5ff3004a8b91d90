"""The one embedding loop: a tower over batches of images, in eval mode, without gradients.

Evaluation, matching and the data checks embed through ``embed`` (an export, which may span many
processes, embeds through Lightning's ``trainer.predict``: ``siamese.export``); ``device_of`` is the
one way to find where a tower lives.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from itertools import chain

import numpy as np
import torch
from torch import nn
from tqdm import tqdm


class NothingToEmbed(ValueError):
    """The batches held no image."""


def device_of(net: nn.Module) -> torch.device:
    """The device of the tower's first parameter or buffer (CPU for a tower without any)."""
    tensor = next(chain(net.parameters(), net.buffers()), None)
    return tensor.device if tensor is not None else torch.device("cpu")


@contextmanager
def eval_mode(net: nn.Module) -> Iterator[nn.Module]:
    """``net`` in eval mode with gradients off for the block; its previous mode is restored after."""
    was_training = net.training
    net.eval()
    try:
        with torch.no_grad():
            yield net
    finally:
        net.train(was_training)


def embed(net: nn.Module, batches: Iterable[dict], total: int | None = None, desc: str | None = None
          ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Model embeddings (``net.embed``) of every ``batch["x"] (B, C, H, W)`` the iterable yields.

    Returns ``(embeddings (N, D) float32, extras)``: ``extras[key] (N, ...)`` concatenates every other
    tensor the batches carry (class ids ``c``, positions ``i``, …) in the same order. ``desc`` shows a
    progress bar in images/s over ``total`` images.
    """
    device = device_of(net)
    chunks: list[torch.Tensor] = []
    extras: dict[str, list[torch.Tensor]] = {}
    with eval_mode(net), tqdm(total=total, unit="img", desc=desc, disable=desc is None, smoothing=0.1) as bar:
        for batch in batches:
            chunks.append(net.embed(batch["x"].to(device)).float().cpu())
            for key, value in batch.items():
                if key != "x" and isinstance(value, torch.Tensor):
                    extras.setdefault(key, []).append(value.cpu())
            bar.update(len(batch["x"]))
    if not chunks:
        raise NothingToEmbed("nothing to embed: no images were given")
    return torch.cat(chunks).numpy(), {key: torch.cat(parts).numpy() for key, parts in extras.items()}
