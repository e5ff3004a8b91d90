"""Export a trained tower's embeddings of an image collection into a FAISS index directory.

``export(cfg)`` (``scripts/export.py``, ``conf/export.yaml``) lists ``images`` — class folders
``root/<class>/<image>`` and/or loose images in ``root`` (class ``""``) — and embeds them through
Lightning's ``trainer.predict`` on every process the ``trainer`` config starts (``trainer=ddp``,
torchrun, SLURM): each rank embeds its own shards (``siamese.shards``: each image exactly once, no
padding) and ``ShardWriter`` streams them to ``<out>/shards/`` as they finish, with a progress bar
per rank in images/s. A killed export run again with ``resume=true`` embeds only the unfinished
shards. Rank 0 then builds the index from the memory-mapped shards within ``index.max_memory``
(``IndexSpec.build_on_disk``: IVF lists merged on disk), checks its recall and writes the index
directory (``siamese.index_store``: ``index.json`` is the commit point), so an interrupted export
leaves the previous index as it was.
"""
from __future__ import annotations

import os
import shutil
import time
import warnings
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from omegaconf import DictConfig
from pytorch_lightning.callbacks import BasePredictionWriter
from torch.utils.data import DataLoader, Sampler
from tqdm import tqdm

from siamese.checks import at_least, one_of
from siamese.config import make
from siamese.data import BAD_IMAGE_POLICIES
from siamese.data.streaming import StreamedImages, collate_streamed
from siamese.imaging import scan_image_tree
from siamese.index import IndexSpec, index_description
from siamese.index_store import read_meta, save_index
from siamese.inference import eval_mode
from siamese.runs import checkpoint_reference, load_tower, model_description, resolve_checkpoint, run_config
from siamese.shards import ShardPlan, ShardStore, listing_digest

IVFDATA_NAME = "index.{token}.ivfdata"


class ShardBatches(Sampler):
    """Batches of ``batch_size`` image ids over ``shards`` of ``plan`` in order; a batch never crosses a shard."""

    def __init__(self, plan: ShardPlan, shards: list[int], batch_size: int):
        super().__init__()
        self.batches = [list(span[i:i + batch_size]) for span in map(plan.span, shards)
                        for i in range(0, len(span), batch_size)]

    def __iter__(self):
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


class ExportImages(pl.LightningDataModule):
    """The images of ``plan`` still to embed on this rank: its unfinished shards, in batches that never
    cross a shard. Rank 0 prepares the shard folder (``ShardStore.prepare``) before any rank reads."""

    def __init__(self, paths: list[Path], plan: ShardPlan, store: ShardStore, image: dict, batch_size: int,
                 num_workers: int, resume: bool):
        super().__init__()
        self.paths, self.plan, self.store, self.image, self.resume = paths, plan, store, image, resume
        self.batch_size, self.num_workers = at_least("batch_size", batch_size), at_least("num_workers", num_workers, 0)
        self.pending: list[int] = []

    def setup(self, stage: str) -> None:
        if self.trainer.is_global_zero:
            self.store.prepare(self.plan, self.resume)
        self.trainer.strategy.barrier("shards-prepared")
        mine = self.plan.of_rank(self.trainer.global_rank, self.trainer.world_size)
        self.pending = [s for s in mine if not self.store.finished(s)]

    def predict_dataloader(self) -> DataLoader:
        dataset = StreamedImages(self.paths, int(self.image["size"]), int(self.image["channels"]),
                                 self.image.get("resize", "stretch"))
        return DataLoader(dataset, batch_sampler=ShardBatches(self.plan, self.pending, self.batch_size),
                          num_workers=self.num_workers, collate_fn=collate_streamed,
                          persistent_workers=False)


class Embedder(pl.LightningModule):
    """``predict_step``: the model embeddings of a batch's readable images, with their ids and the unreadable ones."""

    def __init__(self, net: torch.nn.Module):
        super().__init__()
        self.net = net

    def predict_step(self, batch: dict, batch_idx: int) -> dict:
        emb = self.net.embed(batch["x"]).float().cpu().numpy() if batch["x"] is not None else None
        return {"emb": emb, "i": batch["i"].cpu().numpy(), "bad": batch["bad"]}


class ShardWriter(BasePredictionWriter):
    """Collects each shard's predictions and writes the shard the moment its last image is in.

    An unreadable image stops the export naming the file (``on_bad_image=raise``) or is listed in the
    shard's ``skipped`` (``skip``). A progress bar per rank counts images/s.
    """

    def __init__(self, store: ShardStore, plan: ShardPlan, paths: list[Path], on_bad_image: str, dim: int):
        super().__init__(write_interval="batch")
        self.store, self.plan, self.paths, self.on_bad_image, self.dim = store, plan, paths, on_bad_image, dim
        self.parts: dict[int, dict] = {}
        self.bar: tqdm | None = None

    def on_predict_start(self, trainer, pl_module) -> None:
        pending = trainer.datamodule.pending
        self.bar = tqdm(total=sum(len(self.plan.span(s)) for s in pending), unit="img", smoothing=0.1,
                        desc=f"embedding (rank {trainer.global_rank})", position=trainer.global_rank)

    def write_on_batch_end(self, trainer, pl_module, prediction, batch_indices, batch, batch_idx, dataloader_idx):
        ids = prediction["i"].tolist() + [i for i, _ in prediction["bad"]]
        shard = ids[0] // self.plan.shard_size
        part = self.parts.setdefault(shard, {"emb": [], "ids": [], "skipped": [], "seen": 0})
        for i, error in prediction["bad"]:
            if self.on_bad_image == "raise":
                raise ValueError(f"unreadable image {str(self.paths[i])!r} ({error}); on_bad_image=skip leaves "
                                 "such files out (resume=true keeps the shards already written)")
            part["skipped"].append({"path": str(self.paths[i]), "error": error})
        if prediction["emb"] is not None:
            part["emb"].append(prediction["emb"])
            part["ids"].append(prediction["i"])
        part["seen"] += len(ids)
        self.bar.update(len(ids))
        if part["seen"] == len(self.plan.span(shard)):
            del self.parts[shard]
            emb = np.concatenate(part["emb"]) if part["emb"] else np.zeros((0, self.dim), np.float32)
            ids_ = np.concatenate(part["ids"]) if part["ids"] else np.zeros(0, np.int64)
            self.store.write(shard, emb, ids_, part["skipped"])

    def on_predict_end(self, trainer, pl_module) -> None:
        self.bar.close()
        trainer.strategy.barrier("shards-written")        # every rank's shards are on disk before rank 0 indexes


def _image_list(images: Path) -> tuple[list[Path], np.ndarray, list[str]]:
    if not images.is_dir():
        raise FileNotFoundError(f"images={str(images)!r} is not a folder (expected root/<class>/<image> "
                                "and/or images directly in root)")
    paths, labels, classes = scan_image_tree(images, loose=True)
    if not paths:
        raise ValueError(f"no images found under {str(images)!r}")
    return paths, np.asarray(labels), classes


def export(cfg: DictConfig) -> dict | None:
    """Embed ``cfg.images`` with the run's tower and write the index into ``cfg.out``; returns the
    index metadata on rank 0 (``None`` on the other ranks)."""
    on_bad_image = one_of("on_bad_image", cfg.on_bad_image, BAD_IMAGE_POLICIES)
    run_dir, out = Path(cfg.run_dir), Path(cfg.out)
    train_cfg = run_config(run_dir)
    spec: IndexSpec = make(cfg.index)
    images = Path(cfg.images).expanduser()
    paths, labels, classes = _image_list(images)
    relative = [str(p.relative_to(images)) for p in paths]
    checkpoint = resolve_checkpoint(run_dir, cfg.checkpoint)
    net = load_tower(train_cfg.model, checkpoint)
    image = model_description(train_cfg.model, train_cfg.data.source)["image"]
    reference = checkpoint_reference(checkpoint, out)
    plan = ShardPlan(count=len(paths), shard_size=at_least("shard_size", cfg.shard_size), fingerprint={
        "images": listing_digest(relative), "checkpoint_sha256": reference["checkpoint_sha256"], "image": image})
    store = ShardStore(out / "shards")
    with eval_mode(net):
        dim = int(net.embed(torch.zeros(1, int(image["channels"]), int(image["size"]), int(image["size"]))).shape[1])
    spec.check_build(plan.count, dim, on_disk=True)     # before hours of embedding, not after
    writer = ShardWriter(store, plan, paths, on_bad_image, dim)
    trainer = make(cfg.trainer, callbacks=[writer], logger=False, enable_progress_bar=False,
                   enable_model_summary=False)
    start = time.perf_counter()
    with warnings.catch_warnings():      # ShardBatches returns every id: nothing for drop_last to drop
        warnings.filterwarnings("ignore", ".*custom batch sampler.*")
        trainer.predict(Embedder(net), datamodule=ExportImages(paths, plan, store, image, cfg.batch_size,
                                                               cfg.num_workers, bool(cfg.resume)),
                        return_predictions=False)
    seconds = time.perf_counter() - start
    if not trainer.is_global_zero:
        return None
    threshold = read_meta(run_dir).get("threshold") if (run_dir / "index.json").is_file() else None
    metadata = {"classes": classes, "images_root": str(images.resolve()), **reference, "threshold": threshold,
                "embed_seconds": seconds, "processes": trainer.world_size,
                **model_description(train_cfg.model, train_cfg.data.source)}
    return _index_shards(cfg, spec, store, plan, labels, relative, metadata)


def _index_shards(cfg: DictConfig, spec: IndexSpec, store: ShardStore, plan: ShardPlan, labels: np.ndarray,
                  relative: list[str], metadata: dict) -> dict:
    """Rank 0: the index of every shard, built within ``index.max_memory`` and committed into ``cfg.out``
    with ``metadata``; the shards are removed after (``keep_shards=false``)."""
    out = Path(cfg.out)
    vectors, ids, skipped = store.read(plan)
    ivfdata = out / IVFDATA_NAME.format(token=os.urandom(6).hex())
    build_start = time.perf_counter()
    index = spec.build_on_disk(vectors, ivfdata)
    build_seconds = time.perf_counter() - build_start
    check = cfg.recall_check
    meta = save_index(
        out, index, labels[ids], paths=[relative[i] for i in ids], ivfdata=ivfdata if ivfdata.is_file() else None,
        skipped=skipped, build_seconds=build_seconds, **metadata,
        **index_description(spec, vectors, index, check.k, check.sample, check.floor))
    del vectors
    if not cfg.keep_shards:
        shutil.rmtree(store.root, ignore_errors=True)
    seconds = metadata["embed_seconds"]
    print(f"exported {meta['count']} images ({len(skipped)} skipped) in {seconds:.1f} s "
          f"({len(ids) / max(seconds, 1e-9):.0f} images/s) and indexed them in {build_seconds:.1f} s into {out}: "
          f"{meta['index_type']}, recall@{int(check.k)} {meta[f'recall_at_{int(check.k)}']:.3f}")
    return meta
