"""Matching with the checkpoint that filled an index: its tower, in torch."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from omegaconf import OmegaConf

from siamese.inference import embed
from siamese.matching import IndexMatcher
from siamese.runs import indexed_checkpoint, load_tower


class TowerMatcher(IndexMatcher):
    """An index directory with the tower that filled it (its checkpoint checked by sha256)."""

    def __init__(self, index_dir: Path):
        super().__init__(index_dir, required=("checkpoint", "model", "image"))
        self.net = load_tower(OmegaConf.create(self.meta["model"]), indexed_checkpoint(index_dir, self.meta))
        self.check_dimension(self.net.embedding_dim)

    def embed(self, paths: list[Path]) -> np.ndarray:
        """Model embeddings ``(len(paths), D)`` of image files, read as the indexed images were."""
        return embed(self.net, [{"x": torch.from_numpy(self.read_queries(paths))}])[0]
