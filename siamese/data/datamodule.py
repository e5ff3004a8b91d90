"""The pair data module and its datasets.

A *source* holds images and their class ids (``source.labels``, ints ``0..K-1`` indexing
``source.classes``) and loads image ``i`` as a float tensor ``(C, H, W)`` in ``[0, 1]``.
``PairDataModule`` splits a source into train / val / test and serves batches of pairs::

    {"x1": (B, C, H, W), "x2": (B, C, H, W), "y": (B,) float, "c1": (B,) long, "c2": (B,) long,
     "i1": (B,) long, "i2": (B,) long}

with ``y = 1`` for a same-class pair and ``y = 0`` for a different-class pair; ``i1``, ``i2`` are
the images' positions in the source (so an image met in several pairs is known as one).
Training pairs are drawn afresh every epoch from ``seed`` and the epoch number; validation and
test pairs are drawn once (same seed, same pairs).
"""
from __future__ import annotations

import os

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.utilities import rank_zero_info
from torch.utils.data import DataLoader, Dataset

from siamese.checks import at_least
from siamese.data.rotated_classes import AUTO, AUTO_BAR, RotatedClasses, check_rotations, resolved_rotations
from siamese.data.sampling import SPLITS, check_pairable, sample_pairs, sample_pk_pairs, split_indices


def shard_batches(n_rows: int, batch_size: int, rank: int, world_size: int) -> np.ndarray:
    """Row positions of rank ``rank``'s share of ``n_rows`` rows cut into batches of ``batch_size``.

    Whole batches are dealt round-robin (rank ``r`` gets batches ``r, r + W, …``), so a P×K batch stays
    whole and no batch is on two ranks; only the first ``⌊n_batches / W⌋ · W`` batches are dealt, so
    every rank gets the same count (unequal counts would hang the gradient all-reduce). ``W = 1``:
    every row, in order.
    """
    if world_size == 1:
        return np.arange(n_rows)
    n_batches = -(-n_rows // batch_size)
    kept = (n_batches // world_size) * world_size
    if kept == 0:
        raise ValueError(f"{n_rows} rows make {n_batches} batch(es) of {batch_size}: fewer than the {world_size} "
                         "ranks; give more pairs (data.train_pairs) or a smaller data.batch_size")
    starts = np.arange(rank, kept, world_size) * batch_size
    return np.concatenate([np.arange(s, min(s + batch_size, n_rows)) for s in starts])


def shard_items(n_items: int, rank: int, world_size: int) -> np.ndarray:
    """Item positions of rank ``rank``: every ``W``-th item from ``rank``, the list first padded with its
    own first items to a multiple of ``W`` (as ``DistributedSampler`` does), so every rank gets the same
    count; the padding duplicates are removed by item position when the ranks' results are gathered."""
    padded = -(-n_items // world_size) * world_size
    return np.arange(padded)[rank::world_size] % n_items


class PairDataset(Dataset):
    """Pairs ``(i, j, y)`` over a source, as dicts ``{x1, x2, y, c1, c2, i1, i2, k}`` (``i``: source
    positions; ``k``: the pair's position in the pair set, so duplicates are known after gathering ranks).

    ``c1``, ``c2`` are left out when the source has no class ids (``with_class_ids=False``);
    ``transform`` (training augmentation only) is applied to each image independently. ``rows``: which
    of the pairs this dataset serves (a rank's share), default all.
    """

    def __init__(self, source, pairs: np.ndarray, with_class_ids: bool = True, transform=None,
                 rows: np.ndarray | None = None):
        self.source, self.pairs, self.with_class_ids, self.transform = source, pairs, with_class_ids, transform
        self.rows = np.arange(len(pairs)) if rows is None else rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, position: int) -> dict:
        k = int(self.rows[position])
        i, j, y = (int(v) for v in self.pairs[k])
        x1, x2 = self.source[i], self.source[j]
        if self.transform is not None:
            x1, x2 = self.transform(x1), self.transform(x2)
        item = {"x1": x1, "x2": x2, "y": torch.tensor(float(y)),
                "i1": torch.tensor(i), "i2": torch.tensor(j), "k": torch.tensor(k)}
        if self.with_class_ids:
            item.update(c1=torch.tensor(int(self.source.labels[i])), c2=torch.tensor(int(self.source.labels[j])))
        return item


class ImageDataset(Dataset):
    """Single images ``{x, c}`` at the given positions of a source (for embedding and retrieval)."""

    def __init__(self, source, indices: np.ndarray):
        self.source, self.indices = source, indices

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, k: int) -> dict:
        i = int(self.indices[k])
        return {"x": self.source[i], "c": torch.tensor(int(self.source.labels[i]))}


def resolve_workers(num_workers: int | str) -> int:
    """``data.num_workers``: a count >= 0, or ``auto`` = ``min(cores − 1, 8)`` loader processes."""
    if num_workers == "auto":
        return max(0, min((os.cpu_count() or 1) - 1, 8))
    try:
        return at_least("data.num_workers", num_workers, 0)
    except (TypeError, ValueError):
        raise ValueError(f"data.num_workers must be a count >= 0 or 'auto', got {num_workers!r}") from None


class PairBatchModule(pl.LightningDataModule):
    """What both pair data modules share: loaders over ``self.source`` (``batch_size``,
    ``num_workers``), the fixed val / test pairs ``fixed_pairs``, and the images of each part
    (``indices``). ``has_class_ids`` says whether batches carry ``c1``, ``c2``; ``rotation_angles`` the
    turns each training class is also trained at as a new class (``data.rotated_classes``, resolved)."""

    has_class_ids = True
    rotation_angles: tuple[int, ...] = ()

    @property
    def channels(self) -> int:
        return self.source.channels

    def loader(self, dataset: Dataset) -> DataLoader:
        """A loader in order (never shuffled: pair order is already random and seeded). With worker
        processes they persist across the loader's epochs, and batches are pinned for a CUDA device."""
        workers = self.num_workers
        return DataLoader(dataset, batch_size=self.batch_size, num_workers=workers, persistent_workers=workers > 0,
                          pin_memory=workers > 0 and torch.cuda.is_available())

    @property
    def rank_and_world(self) -> tuple[int, int]:
        """``(global rank, world size)`` of the trainer this module serves; ``(0, 1)`` outside one."""
        trainer = self.trainer
        return (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)

    @property
    def training_source(self):
        """The source training pairs index: ``self.source``, or a widening of it (``RotatedClasses``)."""
        return self.source

    @property
    def training_classes(self) -> list[str]:
        """The class names training labels index (what a classification loss's weights cover)."""
        return list(self.training_source.classes)

    def training_loader(self, pairs: np.ndarray, **dataset) -> DataLoader:
        """This rank's whole batches of the epoch's training ``pairs`` (``shard_batches``)."""
        rank, world = self.rank_and_world
        rows = shard_batches(len(pairs), self.batch_size, rank, world)
        return self.loader(PairDataset(self.training_source, pairs, rows=rows, **dataset))

    def fixed_loader(self, name: str) -> DataLoader:
        """This rank's share of the fixed ``val`` / ``test`` pairs (``shard_items``; all of them on one process)."""
        rank, world = self.rank_and_world
        pairs = self.fixed_pairs[name]
        return self.loader(PairDataset(self.source, pairs, with_class_ids=self.has_class_ids,
                                       rows=shard_items(len(pairs), rank, world)))

    def val_dataloader(self) -> DataLoader:
        return self.fixed_loader("val")

    def test_dataloader(self) -> DataLoader:
        return self.fixed_loader("test")

    def images_dataloader(self, name: str) -> DataLoader:
        """Single images ``{x, c}`` of a part (``train``/``val``/``test``), in index order."""
        return self.loader(ImageDataset(self.source, self.indices[name]))


class PairDataModule(PairBatchModule):
    """Train / val / test pairs over an image source.

    Args:
        source: a source object (``DigitsImages``, ``FolderImages``, …), instantiated by Hydra.
        split: ``"samples"`` (hold out images of every class), ``"classes"`` (hold out whole
            classes: evaluation on classes never seen in training — the verification setting) or
            ``"source"`` (the held-out classes the source names, e.g. Omniglot's evaluation set).
        holdout: fraction of each class's images held out for val + test (``split=samples``); with
            held-out classes, half of it is each training class's val share.
        holdout_classes: fraction of classes held out for enrolment + test (``split=classes``).
        class_folds, class_fold: with ``split=classes``, deal the classes into ``class_folds`` seeded
            folds and hold out fold ``class_fold`` (instead of the last ``holdout_classes`` share).
        val_classes: with held-out classes, this share of the training classes is held out whole as
            val (validation classes) instead of a share of every training class's images.
        positive_fraction: share of same-class pairs (``y = 1``) in every pair set.
        train_pairs / val_pairs / test_pairs: pairs per training epoch / in the fixed val, test sets.
        sampler: ``"pairs"`` (random pairs, ``positive_fraction`` same) or ``"pk"``: P×K batches —
            ``p`` classes × ``k`` images each (``k`` even), served as ``P·K/2`` same-class pairs, so a
            batch holds ``P × K`` distinct images; the mining losses need this. The batch size is
            then ``P·K/2`` pairs and an epoch has ``train_pairs // (P·K/2)`` batches. The config value
            ``auto`` (what the loss needs) is resolved by ``siamese.pipeline.build``.
        seed: seeds the split and every pair draw.
        rotated_classes: angles among 90, 180, 270: training also draws from every training class
            rotated by each angle as a class of its own (``RotatedClasses``; ``K`` training classes
            become ``(R+1)·K``), for data with few classes; val, test, enrolment and exports keep
            the source's images. Same batches per epoch, so no more time per epoch. ``"auto"``: all
            three where classes are held out and ``K < 1.5·p`` (``resolved_rotations``), else none.
        augment: a callable on one image ``(C, H, W)`` (e.g. a ``torchvision.transforms.v2.Compose``
            from config) applied to training pairs only; validation, test and exports never augment.

    Retrieval uses a *gallery* and *queries*: with ``split=samples`` the gallery is the train split
    and the queries the test images; with ``split=classes`` the gallery is half of the held-out
    classes' images (``enrol``) and the queries the other half (``test``), while val comes from the
    training classes (``split_indices``): no checkpoint, early stop or threshold is chosen on a
    held-out class.
    Training pairs depend on the epoch, so the trainer must reload the train loader every epoch
    (``reload_dataloaders_every_n_epochs: 1``, set in ``conf/trainer``).
    """

    def __init__(self, source, split: str = "samples", holdout: float = 0.2,
                 holdout_classes: float = 0.3, positive_fraction: float = 0.5,
                 train_pairs: int = 4000, val_pairs: int = 1000, test_pairs: int = 2000,
                 batch_size: int = 128, num_workers: int | str = 0, seed: int = 0,
                 sampler: str = "pairs", p: int = 16, k: int = 4, augment=None, class_fold: int = 0,
                 class_folds: int | None = None, val_classes: float | None = None, rotated_classes=None):
        super().__init__()
        self.augment = augment
        self.check_settings(split, holdout, holdout_classes, positive_fraction, train_pairs, val_pairs,
                            test_pairs, batch_size, num_workers, seed, sampler, p, k, class_fold, class_folds,
                            val_classes, rotated_classes)
        if sampler == "auto":
            raise ValueError("data.sampler=auto is resolved from the loss by siamese.pipeline.build; "
                             "a PairDataModule built directly needs sampler='pairs' or 'pk'")
        self.sampler = sampler
        self.p, self.k = int(p), int(k)
        if sampler == "pk":
            batch_size = self.p * self.k // 2
        self.source = source
        self.positive_fraction = float(positive_fraction)
        self.n_pairs = {"train": int(train_pairs), "val": int(val_pairs), "test": int(test_pairs)}
        self.batch_size, self.num_workers, self.seed = int(batch_size), resolve_workers(num_workers), int(seed)
        self.split = split
        self.indices = split_indices(source.labels, split, holdout, holdout_classes, self.seed,
                                     getattr(source, "heldout_classes", None), int(class_fold),
                                     None if class_folds is None else int(class_folds),
                                     None if val_classes is None else float(val_classes))
        for name, idx in self.indices.items():
            check_pairable(name, source.labels[idx], source.classes)
        self.rotation_angles = self.resolve_rotations(rotated_classes)
        self.rotated = RotatedClasses(source, self.rotation_angles) if self.rotation_angles else None
        self.fixed_pairs = {name: self.pairs(name, epoch=0) for name in ("val", "test")}
        if self.sampler == "pk":
            self.pairs("train", epoch=0)  # an impossible P×K layout fails now, not mid-training

    @staticmethod
    def check_settings(split: str = "samples", holdout: float = 0.2, holdout_classes: float = 0.3,
                       positive_fraction: float = 0.5, train_pairs: int = 4000, val_pairs: int = 1000,
                       test_pairs: int = 2000, batch_size: int = 128, num_workers: int | str = 0, seed: int = 0,
                       sampler: str = "pairs", p: int = 16, k: int = 4, class_fold: int = 0,
                       class_folds: int | None = None, val_classes: float | None = None,
                       rotated_classes=None) -> None:
        """Check the scalar settings (``data.*``) without reading any data; errors name key and value."""
        check_rotations(rotated_classes)
        if class_folds is not None:
            if split != "classes":
                raise ValueError(f"data.class_folds={class_folds} deals classes into folds: it needs "
                                 f"data.split=classes, got data.split={split}")
            if not 0 <= int(class_fold) < at_least("data.class_folds", class_folds, 2):
                raise ValueError(f"data.class_fold must be in 0..{int(class_folds) - 1}, got {class_fold}")
        if split not in SPLITS:
            raise ValueError(f"data.split must be one of {list(SPLITS)}, got {split!r}")
        if val_classes is not None and split == "samples":
            raise ValueError(f"data.val_classes={val_classes} holds out training classes as validation "
                             "classes: it needs data.split=classes or source, got data.split=samples")
        shares = {"holdout": holdout, "holdout_classes": holdout_classes, "positive_fraction": positive_fraction}
        if val_classes is not None:
            shares["val_classes"] = val_classes
        for key, value in shares.items():
            if not 0 < float(value) < 1:
                raise ValueError(f"data.{key} must be in (0, 1), got {value}")
        for key, value in (("train_pairs", train_pairs), ("val_pairs", val_pairs),
                           ("test_pairs", test_pairs), ("batch_size", batch_size)):
            if int(value) < 1:
                raise ValueError(f"data.{key} must be >= 1, got {value}")
        resolve_workers(num_workers)
        if sampler not in ("auto", "pairs", "pk"):
            raise ValueError(f"data.sampler must be 'auto', 'pairs' or 'pk', got {sampler!r}")
        if sampler == "pk" and (int(k) < 2 or int(k) % 2 or int(p) < 2):
            raise ValueError(f"data.sampler=pk needs an even data.k >= 2 and data.p >= 2, got p={p}, k={k}")

    def resolve_rotations(self, setting) -> tuple[int, ...]:
        """``data.rotated_classes`` as angles (``resolved_rotations``); what ``auto`` chose is logged."""
        n_training = len(np.unique(self.source.labels[self.indices["train"]]))
        angles = resolved_rotations(setting, n_training, self.p, held_out_classes=self.split != "samples")
        if setting != AUTO:
            return angles
        if self.split == "samples":
            why = "data.split=samples holds out no class"
        else:
            why = (f"{n_training} training classes, {'fewer' if angles else 'not fewer'} than {AUTO_BAR:g} x data.p "
                   f"= {AUTO_BAR * self.p:g}")
        chose = f"each training class also trains rotated by {list(angles)}, as new classes" if angles \
            else "no rotated classes"
        rank_zero_info(f"data.rotated_classes=auto ({why}): {chose}")
        return angles

    @property
    def training_source(self):
        return self.source if self.rotated is None else self.rotated

    def pairs(self, name: str, epoch: int = 0) -> np.ndarray:
        """Pairs ``(i, j, y)`` of split ``name``, a pure function of seed, split, epoch: positions in the
        source, or for ``train`` in ``training_source`` (the same positions when no class is rotated)."""
        stream = {"train": 0, "val": 1, "test": 2}[name]
        rng = np.random.default_rng([self.seed, stream, epoch])
        idx = self.indices[name]
        if name == "train" and self.rotated is not None:
            idx = self.rotated.positions(idx)
        labels = self.training_source.labels[idx]
        if name == "train" and self.sampler == "pk":
            n_batches = max(1, self.n_pairs["train"] // self.batch_size)
            local = sample_pk_pairs(labels, self.p, self.k, n_batches, rng)
        else:
            local = sample_pairs(labels, self.n_pairs[name], self.positive_fraction, rng)
        return np.stack([idx[local[:, 0]], idx[local[:, 1]], local[:, 2]], axis=1)

    def train_dataloader(self) -> DataLoader:
        epoch = self.trainer.current_epoch if self.trainer is not None else 0
        return self.training_loader(self.pairs("train", epoch), transform=self.augment)

    @property
    def retrieval_splits(self) -> tuple[str, str]:
        """``(gallery, queries)`` split names; see the class docstring."""
        return ("train", "test") if self.split == "samples" else ("enrol", "test")


class PairListDataModule(PairBatchModule):
    """Pairs read from a file — a CSV ``path1,path2,label[,fold]`` or an LFW ``pairs.txt`` — with no
    class ids: pair losses only, and verification-only evaluation (no retrieval, no one-shot).

    The pairs are shuffled with ``seed`` and cut into test (``test_fraction``), val
    (``val_fraction``) and train (the rest); training visits its pairs in a fresh seeded order each
    epoch. The file's folds, when it has several, drive the test pairs' 10-fold protocol.
    ``source`` holds how images are read (``image_size``, ``channels``, ``on_bad_image``); with
    ``on_bad_image: skip`` an unreadable image and every pair using it are dropped (listed).
    """

    has_class_ids = False
    split = "pairs"
    retrieval_splits = ("train", "test")

    def __init__(self, pairs_file: str, root: str, source: dict | None = None, format: str = "csv",
                 val_fraction: float = 0.1, test_fraction: float = 0.2, batch_size: int = 128,
                 num_workers: int | str = 0, seed: int = 0):
        super().__init__()
        from siamese.data.pair_files import read_csv_pairs, read_lfw_pairs
        from siamese.data.sources import PathImages

        readers = {"csv": read_csv_pairs, "lfw": read_lfw_pairs}
        if format not in readers:
            raise ValueError(f"data.format must be one of {sorted(readers)}, got {format!r}")
        for key, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
            if not 0 < float(value) < 1:
                raise ValueError(f"data.{key} must be in (0, 1), got {value}")
        pairs = readers[format](pairs_file, root)
        unique = sorted(set(pairs.paths1) | set(pairs.paths2))
        settings = {"image_size": 32, "channels": 1, "on_bad_image": "raise", **dict(source or {})}
        self.source = PathImages(unique, np.full(len(unique), -1), [], **settings)
        position = {path: k for k, path in enumerate(self.source.paths)}
        rows = np.array([[position.get(a, -1), position.get(b, -1), y]
                         for a, b, y in zip(pairs.paths1, pairs.paths2, pairs.y)], dtype=np.int64)
        usable = (rows[:, :2] >= 0).all(axis=1)
        rows, folds = rows[usable], pairs.fold[usable]
        order = np.random.default_rng(seed).permutation(len(rows))
        n_test, n_val = int(round(test_fraction * len(rows))), int(round(val_fraction * len(rows)))
        parts = {"test": order[:n_test], "val": order[n_test:n_test + n_val], "train": order[n_test + n_val:]}
        for name, idx in parts.items():
            if len(np.unique(rows[idx, 2])) < 2:
                raise ValueError(f"the {name} part of {pairs_file} ({len(idx)} pairs) lacks same or different "
                                 "pairs; adjust data.val_fraction / data.test_fraction or add pairs")
        self.rows = {name: rows[idx] for name, idx in parts.items()}
        self.fixed_pairs = {name: self.rows[name] for name in ("val", "test")}
        test_folds = folds[parts["test"]]
        self.test_folds = test_folds if len(np.unique(test_folds)) > 1 else None
        self.indices = {name: np.unique(r[:, :2]) for name, r in self.rows.items()}  # labels -1: unknown
        self.batch_size, self.num_workers, self.seed = int(batch_size), resolve_workers(num_workers), int(seed)

    def train_dataloader(self) -> DataLoader:
        epoch = self.trainer.current_epoch if self.trainer is not None else 0
        order = np.random.default_rng([self.seed, 0, epoch]).permutation(len(self.rows["train"]))
        return self.training_loader(self.rows["train"][order], with_class_ids=False)
