"""Image files streamed for export: a dataset that reports an unreadable file instead of failing, so
that the exporter applies the ``on_bad_image`` policy to it (``siamese.export.ShardWriter``)."""
from __future__ import annotations

from pathlib import Path

import torch
from torch.utils.data import Dataset

from siamese.data.sources import load_image
from siamese.imaging import UNREADABLE_IMAGE_ERRORS


class StreamedImages(Dataset):
    """Images loaded on demand as ``{"x": (C, H, W), "i": position}``; an unreadable one yields
    ``{"bad": position, "error": text}`` so that the policy is applied in the main process."""

    def __init__(self, paths: list[Path], image_size: int, channels: int, resize: str = "stretch"):
        self.paths, self.image_size, self.channels, self.resize = paths, image_size, channels, resize

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> dict:
        try:
            return {"x": load_image(self.paths[i], self.image_size, self.channels, self.resize), "i": i}
        except UNREADABLE_IMAGE_ERRORS as err:
            return {"bad": i, "error": f"{type(err).__name__}: {err}"}


def collate_streamed(items: list[dict]) -> dict:
    """``{"x": (B', C, H, W) or None, "i": (B',), "bad": [(position, error), ...]}``."""
    good = [it for it in items if "x" in it]
    return {"x": torch.stack([it["x"] for it in good]) if good else None,
            "i": torch.tensor([it["i"] for it in good], dtype=torch.long),
            "bad": [(it["bad"], it["error"]) for it in items if "bad" in it]}
