"""Export a trained tower's embeddings of an image collection into a FAISS index directory.

``export(cfg)`` (``scripts/export.py``, ``conf/export.yaml``) streams ``images`` — class folders
``root/<class>/<image>`` and/or loose images in ``root`` (class ``""``) — through the tower in
batches (only the embeddings stay in memory), builds the configured index, checks its recall and
writes the index file + ``index.json`` into ``out`` (``siamese.index.save_index``: ``index.json``
is the commit point), so an interrupted export leaves the previous index as it was.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from hydra.utils import instantiate
from omegaconf import DictConfig
from torch.utils.data import DataLoader

from siamese.checks import one_of
from siamese.data import BAD_IMAGE_POLICIES
from siamese.data.streaming import StreamedImages, collate_streamed, readable_batches
from siamese.imaging import scan_image_tree
from siamese.index import META_FILE, index_description, save_index
from siamese.inference import NothingToEmbed, embed
from siamese.runs import checkpoint_reference, load_tower, model_description, resolve_checkpoint, run_config


def export(cfg: DictConfig) -> dict:
    """Embed ``cfg.images`` with the run's tower and write the index into ``cfg.out``."""
    on_bad_image = one_of("on_bad_image", cfg.on_bad_image, BAD_IMAGE_POLICIES)
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
    checkpoint = resolve_checkpoint(run_dir, cfg.checkpoint)
    net = load_tower(train_cfg.model, checkpoint)
    image = model_description(train_cfg.model, train_cfg.data.source)["image"]

    start = time.perf_counter()
    loader = DataLoader(StreamedImages(paths, image["size"], image["channels"], image["resize"]),
                        batch_size=int(cfg.batch_size),
                        num_workers=int(cfg.num_workers), collate_fn=collate_streamed)
    skipped: list[dict] = []
    try:
        emb, extras = embed(net, readable_batches(loader, paths, on_bad_image, skipped), total=len(paths),
                            desc="embedding")
    except NothingToEmbed:
        raise ValueError(f"no readable image to export under {str(images)!r}") from None
    positions = extras["i"]
    seconds = time.perf_counter() - start
    index = spec.build(emb)
    threshold_source = run_dir / META_FILE
    threshold = json.loads(threshold_source.read_text()).get("threshold") if threshold_source.is_file() else None
    check = cfg.recall_check
    meta = save_index(
        Path(cfg.out), index, np.asarray(labels)[positions],
        classes=classes, images_root=str(images.resolve()),
        paths=[str(paths[i].relative_to(images)) for i in positions],
        **checkpoint_reference(checkpoint, Path(cfg.out)),
        threshold=threshold, skipped=skipped, embed_seconds=seconds,
        **index_description(spec, emb, index, check.k, check.sample, check.floor),
        **model_description(train_cfg.model, train_cfg.data.source),
    )
    print(f"exported {meta['count']} images ({len(skipped)} skipped) in {seconds:.1f} s "
          f"({len(positions) / seconds:.0f} images/s) into {cfg.out}: {meta['index_type']}, "
          f"recall@{int(check.k)} {meta[f'recall_at_{int(check.k)}']:.3f}")
    return meta
