"""Export a trained tower's embeddings of an image collection into a FAISS index directory.

``export(cfg)`` (``scripts/export.py``, ``conf/export.yaml``) streams ``images`` — class folders
``root/<class>/<image>`` and/or loose images in ``root`` (class ``""``) — through the tower in
batches (only the embeddings stay in memory), builds the configured index, checks its recall and
writes ``index.faiss`` + ``index.json`` into ``out`` atomically: an interrupted export leaves the
previous index as it was.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig
from PIL import UnidentifiedImageError
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from siamese.atomic import sha256_file
from siamese.data import load_image, scan_image_tree
from siamese.index import META_FILE, save_index
from siamese.pipeline import index_description
from siamese.runs import load_tower, resolve_checkpoint, run_config

BAD_IMAGE_POLICIES = ("raise", "skip")


class StreamedImages(Dataset):
    """Images loaded on demand; an unreadable one yields ``{"bad": i, "error": text}`` instead."""

    def __init__(self, paths: list[Path], image_size: int, channels: int):
        self.paths, self.image_size, self.channels = paths, image_size, channels

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> dict:
        try:
            return {"x": load_image(self.paths[i], self.image_size, self.channels), "i": i}
        except (OSError, UnidentifiedImageError, ValueError, SyntaxError) as err:
            return {"bad": i, "error": f"{type(err).__name__}: {err}"}


def collate(items: list[dict]) -> dict:
    good = [it for it in items if "x" in it]
    return {"x": torch.stack([it["x"] for it in good]) if good else None,
            "i": torch.tensor([it["i"] for it in good], dtype=torch.long),
            "bad": [(it["bad"], it["error"]) for it in items if "bad" in it]}


@torch.no_grad()
def stream_embeddings(net, dataset: StreamedImages, batch_size: int, num_workers: int, on_bad_image: str
                      ) -> tuple[np.ndarray, np.ndarray, list[dict]]:
    """``(embeddings (M, D), positions (M,), skipped)`` with a progress bar in images/s."""
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=num_workers, collate_fn=collate)
    device = next(net.parameters()).device
    chunks, positions, skipped = [], [], []
    with tqdm(total=len(dataset), unit="img", desc="embedding", smoothing=0.1) as bar:
        for batch in loader:
            for i, error in batch["bad"]:
                if on_bad_image == "raise":
                    raise ValueError(f"unreadable image {str(dataset.paths[i])!r} ({error}); "
                                     "on_bad_image=skip leaves such files out")
                skipped.append({"path": str(dataset.paths[i]), "error": error})
            if batch["x"] is not None:
                chunks.append(net.embed(batch["x"].to(device)).float().cpu())
                positions.append(batch["i"])
            bar.update(len(batch["i"]) + len(batch["bad"]))
    if not chunks:
        raise ValueError("no readable image to export")
    return torch.cat(chunks).numpy(), torch.cat(positions).numpy(), skipped


def export(cfg: DictConfig) -> dict:
    """Embed ``cfg.images`` with the run's tower and write the index into ``cfg.out``."""
    if cfg.on_bad_image not in BAD_IMAGE_POLICIES:
        raise ValueError(f"on_bad_image must be one of {list(BAD_IMAGE_POLICIES)}, got {cfg.on_bad_image!r}")
    run_dir = Path(cfg.run_dir)
    train_cfg = run_config(run_dir)
    spec = instantiate(cfg.index)
    images = Path(cfg.images).expanduser()
    if not images.is_dir():
        raise FileNotFoundError(f"images={str(images)!r} is not a folder (expected root/<class>/<image> "
                                "and/or images directly in root)")
    paths, labels, classes = scan_image_tree(images, loose=True)
    if not paths:
        raise ValueError(f"no images found under {str(images)!r}")
    checkpoint = resolve_checkpoint(run_dir, str(cfg.checkpoint))
    net = load_tower(train_cfg.model, checkpoint)
    size, channels = int(train_cfg.data.source.image_size), int(train_cfg.data.source.channels)

    start = time.perf_counter()
    emb, positions, skipped = stream_embeddings(net, StreamedImages(paths, size, channels), int(cfg.batch_size),
                                                int(cfg.num_workers), str(cfg.on_bad_image))
    seconds = time.perf_counter() - start
    index = spec.build(emb)
    threshold_source = run_dir / META_FILE
    threshold = json.loads(threshold_source.read_text()).get("threshold") if threshold_source.is_file() else None
    meta = save_index(
        Path(cfg.out), index, np.asarray(labels)[positions],
        classes=classes, images_root=str(images.resolve()),
        paths=[str(paths[i].relative_to(images)) for i in positions],
        checkpoint=str(checkpoint.resolve()), checkpoint_sha256=sha256_file(checkpoint),
        threshold=threshold, skipped=skipped, embed_seconds=seconds,
        **index_description(spec, emb, index, cfg.recall_check, train_cfg.model, train_cfg.data.source),
    )
    print(f"exported {meta['count']} images ({len(skipped)} skipped) in {seconds:.1f} s "
          f"({len(positions) / seconds:.0f} images/s) into {cfg.out}: {meta['index_type']}, "
          f"recall@{int(cfg.recall_check.k)} {meta[f'recall_at_{int(cfg.recall_check.k)}']:.3f}")
    return meta
