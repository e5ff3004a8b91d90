"""Image sources, splits and the pair data module.

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

import warnings
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm"}
SPLITS = ("samples", "classes")


class DigitsImages:
    """scikit-learn's ``load_digits`` (1797 8×8 images of 10 digits, shipped with the package).

    Pixel values 0..16 are scaled to ``[0, 1]`` and resized bilinearly to ``image_size``;
    ``channels=3`` repeats the grey channel.
    """

    def __init__(self, image_size: int = 32, channels: int = 1):
        from sklearn.datasets import load_digits

        if int(channels) not in (1, 3):
            raise ValueError(f"data.source.channels must be 1 or 3, got {channels}")
        digits = load_digits()
        x = torch.from_numpy(digits.images).float().div(16.0).unsqueeze(1)  # (N, 1, 8, 8)
        x = F.interpolate(x, size=(int(image_size),) * 2, mode="bilinear", align_corners=False)
        self.images = x.repeat(1, int(channels), 1, 1).contiguous()
        self.labels = digits.target.astype(np.int64)
        self.classes = [str(c) for c in digits.target_names]
        self.image_size, self.channels = int(image_size), int(channels)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> Tensor:
        return self.images[i]


FOLDER_LAYOUT = """expected layout:
    root/
      <class_a>/<image>.png
      <class_a>/<image>.jpg
      <class_b>/<image>.png
      ..."""


def verify_image(path: Path) -> None:
    """Raise ``ValueError`` naming ``path`` if PIL cannot read it as an image."""
    try:
        with Image.open(path) as image:
            image.verify()
    except (OSError, UnidentifiedImageError, SyntaxError) as err:
        raise ValueError(f"unreadable image {str(path)!r}: {err}") from None


def load_image(path: Path, image_size: int, channels: int) -> Tensor:
    """``(channels, image_size, image_size)`` float tensor in ``[0, 1]``: grey (1) or RGB (3), resized."""
    with Image.open(path) as image:
        image = image.convert("L" if channels == 1 else "RGB").resize((image_size,) * 2, Image.BILINEAR)
        array = np.asarray(image, dtype=np.float32) / 255.0
    array = array[None] if array.ndim == 2 else array.transpose(2, 0, 1)
    return torch.from_numpy(np.ascontiguousarray(array))


class PathImages:
    """Images at explicit paths with class ids ``labels`` (indexing ``classes``), checked up front."""

    def __init__(self, paths, labels, classes, image_size: int = 32, channels: int = 1):
        if int(channels) not in (1, 3):
            raise ValueError(f"data.source.channels must be 1 or 3, got {channels}")
        self.paths = [Path(p) for p in paths]
        self.labels = np.asarray(labels, dtype=np.int64)
        self.classes = list(classes)
        self.image_size, self.channels = int(image_size), int(channels)
        for path in self.paths:
            verify_image(path)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> Tensor:
        return load_image(self.paths[i], self.image_size, self.channels)


def _image_files(folder: Path) -> list[Path]:
    """Image files directly in ``folder``, sorted; hidden files, links and other suffixes skipped."""
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and not p.is_symlink() and not p.name.startswith(".")
                  and p.suffix.lower() in IMAGE_SUFFIXES)


def scan_image_tree(root: Path, loose: bool = False) -> tuple[list[Path], list[int], list[str]]:
    """``(paths, labels, classes)`` of ``root/<class>/<image>``; ``loose``: also images directly in
    ``root``, under the class ``""``. Empty class folders are left out."""
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.is_symlink() and not p.name.startswith("."))
    groups = ([("", root)] if loose else []) + [(d.name, d) for d in class_dirs]
    classes, paths, labels = [], [], []
    for name, folder in groups:
        files = _image_files(folder)
        if files:
            labels += [len(classes)] * len(files)
            classes.append(name)
            paths += files
    return paths, labels, classes


class FolderImages(PathImages):
    """An ImageFolder-style tree ``root/<class>/<image>``; one sub-folder per class.

    Hidden files, symbolic links and files without an image suffix are ignored. Each image is
    checked when the source is built, so an unreadable file fails before training starts. Images
    are converted to grayscale (``channels=1``) or RGB (``channels=3``) and resized to
    ``image_size × image_size``.
    """

    def __init__(self, root: str, image_size: int = 32, channels: int = 1):
        root_path = Path(root).expanduser()
        if not root_path.is_dir():
            raise FileNotFoundError(f"data.source.root {str(root_path)!r} is not a folder; {FOLDER_LAYOUT}")
        paths, labels, classes = scan_image_tree(root_path)
        if not paths:
            raise ValueError(f"no images found under {str(root_path)!r}; {FOLDER_LAYOUT}")
        self.root = root_path
        super().__init__(paths, labels, classes, image_size, channels)


def split_indices(labels: np.ndarray, split: str, holdout: float, holdout_classes: float,
                  seed: int) -> dict[str, np.ndarray]:
    """Indices of the train / val / test images.

    ``split="samples"``: in every class, ``round(holdout · n_c)`` images are held out, the first half
    (rounded down) for val, the rest for test; a class with a single image stays in train.
    ``split="classes"``: the last ``max(1, round(holdout_classes · K))`` classes (in sorted order) are
    held out — unseen at training — and their images are halved into val and test.
    """
    if split not in SPLITS:
        raise ValueError(f"data.split must be one of {list(SPLITS)}, got {split!r}")
    rng = np.random.default_rng(seed)
    classes = np.unique(labels)
    if len(classes) < 2:
        raise ValueError(f"the data set has {len(classes)} class(es); at least 2 are needed")
    parts = {"train": [], "val": [], "test": []}
    if split == "samples":
        if not 0 < holdout < 1:
            raise ValueError(f"data.holdout must be in (0, 1), got {holdout}")
        for c in classes:
            idx = rng.permutation(np.flatnonzero(labels == c))
            n_hold = int(round(holdout * len(idx))) if len(idx) > 1 else 0
            n_val = n_hold // 2
            parts["val"].append(idx[:n_val])
            parts["test"].append(idx[n_val:n_hold])
            parts["train"].append(idx[n_hold:])
    else:
        if not 0 < holdout_classes < 1:
            raise ValueError(f"data.holdout_classes must be in (0, 1), got {holdout_classes}")
        n_eval = max(1, int(round(holdout_classes * len(classes))))
        for rank, c in enumerate(classes):
            idx = rng.permutation(np.flatnonzero(labels == c))
            if rank < len(classes) - n_eval:
                parts["train"].append(idx)
            else:
                parts["val"].append(idx[: len(idx) // 2])
                parts["test"].append(idx[len(idx) // 2:])
    return {name: np.sort(np.concatenate(p)) for name, p in parts.items()}


def check_pairable(name: str, labels: np.ndarray, class_names: list[str]) -> None:
    """Fail if a split cannot give both kinds of pair; warn (once) about single-image classes."""
    classes, counts = np.unique(labels, return_counts=True)
    if len(labels) == 0:
        raise ValueError(
            f"the {name} split is empty: too few images per class for data.holdout (split=samples) "
            "or too few classes for data.holdout_classes (split=classes)"
        )
    if len(classes) < 2:
        raise ValueError(
            f"the {name} split has {len(classes)} class(es): no different-class pair is possible; "
            "check data.split / data.holdout / data.holdout_classes"
        )
    if counts.max() < 2:
        raise ValueError(
            f"every class of the {name} split has a single image: no same-class pair is possible"
        )
    single = [class_names[c] for c in classes[counts == 1]]
    if single:
        warnings.warn(
            f"{name} split: class(es) {single} have a single image; their same-class pairs "
            "pair that image with itself", stacklevel=2,
        )


def sample_pairs(labels: np.ndarray, n: int, positive_fraction: float,
                 rng: np.random.Generator) -> np.ndarray:
    """Draw ``n`` pairs ``(i, j, y)`` of positions into ``labels``, about ``positive_fraction`` same.

    Anchors ``i`` are uniform over the images. A same-class partner ``j`` is uniform over the
    anchor's class *without the anchor* (only a single-image class pairs an image with itself); a
    different-class partner is uniform over all images of other classes. Vectorised: ``(n, 3)`` int64.
    """
    order = np.argsort(labels, kind="stable")            # positions grouped by class
    classes, start, size = np.unique(labels[order], return_index=True, return_counts=True)
    slot = np.searchsorted(classes, labels)               # class slot of every position
    rank = np.empty(len(labels), dtype=np.int64)          # rank of a position inside its class
    rank[order] = np.arange(len(labels)) - np.repeat(start, size)

    n_pos = int(round(positive_fraction * n))
    y = np.zeros(n, dtype=np.int64)
    y[rng.permutation(n)[:n_pos]] = 1
    i = rng.integers(0, len(labels), size=n)
    s, sz = slot[i], size[slot[i]]
    # same class: step 1..size-1 places round the class (size 1: step 0, the image itself)
    step = np.floor(rng.random(n) * np.maximum(sz - 1, 1)).astype(np.int64) + (sz > 1)
    j_pos = order[start[s] + (rank[i] + step) % sz]
    # other class: uniform over the positions outside the anchor's class block
    r = np.floor(rng.random(n) * (len(labels) - sz)).astype(np.int64)
    j_neg = order[np.where(r >= start[s], r + sz, r)]
    j = np.where(y == 1, j_pos, j_neg)
    return np.stack([i, j, y], axis=1)


def sample_pk_pairs(labels: np.ndarray, p: int, k: int, n_batches: int,
                    rng: np.random.Generator) -> np.ndarray:
    """P×K batches laid out as same-class pairs: ``(n_batches · P·K/2, 3)`` rows ``(i, j, y=1)``.

    Each batch takes ``p`` distinct classes and ``k`` distinct images of each (``k`` even), and pairs
    them up in order, so a batch of ``P·K/2`` consecutive rows holds exactly ``P × K`` different
    images. Only classes with at least ``k`` images are drawn from.
    """
    classes, counts = np.unique(labels, return_counts=True)
    eligible = classes[counts >= k]
    if len(eligible) < p:
        raise ValueError(f"the P×K sampler needs p={p} classes with at least k={k} images, the training "
                         f"split has {len(eligible)} (of {len(classes)} classes); lower data.p or data.k")
    members = {c: np.flatnonzero(labels == c) for c in eligible}
    rows = []
    for _ in range(n_batches):
        batch = np.concatenate([rng.choice(members[c], size=k, replace=False)
                                for c in rng.choice(eligible, size=p, replace=False)])
        rows.append(batch.reshape(-1, 2))
    pairs = np.concatenate(rows)
    return np.concatenate([pairs, np.ones((len(pairs), 1), dtype=pairs.dtype)], axis=1)


class PairDataset(Dataset):
    """Pairs ``(i, j, y)`` over a source, as dicts ``{x1, x2, y, c1, c2, i1, i2}`` (``i``: source positions)."""

    def __init__(self, source, pairs: np.ndarray):
        self.source, self.pairs = source, pairs

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, k: int) -> dict:
        i, j, y = (int(v) for v in self.pairs[k])
        labels = self.source.labels
        return {"x1": self.source[i], "x2": self.source[j], "y": torch.tensor(float(y)),
                "c1": torch.tensor(int(labels[i])), "c2": torch.tensor(int(labels[j])),
                "i1": torch.tensor(i), "i2": torch.tensor(j)}


class ImageDataset(Dataset):
    """Single images ``{x, c}`` at the given positions of a source (for embedding and retrieval)."""

    def __init__(self, source, indices: np.ndarray):
        self.source, self.indices = source, indices

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, k: int) -> dict:
        i = int(self.indices[k])
        return {"x": self.source[i], "c": torch.tensor(int(self.source.labels[i]))}


class PairDataModule(pl.LightningDataModule):
    """Train / val / test pairs over an image source.

    Args:
        source: a source object (``DigitsImages``, ``FolderImages``, …), instantiated by Hydra.
        split: ``"samples"`` (hold out images of every class) or ``"classes"`` (hold out whole
            classes: evaluation on classes never seen in training — the verification setting).
        holdout: fraction of each class's images held out for val + test (``split=samples``).
        holdout_classes: fraction of classes held out for val + test (``split=classes``).
        positive_fraction: share of same-class pairs (``y = 1``) in every pair set.
        train_pairs / val_pairs / test_pairs: pairs per training epoch / in the fixed val, test sets.
        sampler: ``"pairs"`` (random pairs, ``positive_fraction`` same) or ``"pk"``: P×K batches —
            ``p`` classes × ``k`` images each (``k`` even), served as ``P·K/2`` same-class pairs, so a
            batch holds ``P × K`` distinct images; the mining losses need this. The batch size is
            then ``P·K/2`` pairs and an epoch has ``train_pairs // (P·K/2)`` batches.
        seed: seeds the split and every pair draw.

    Retrieval uses a *gallery* and *queries*: with ``split=samples`` the gallery is the train split
    and the queries the test images; with ``split=classes`` the gallery is the held-out classes'
    val images (enrolment) and the queries their test images.
    Training pairs depend on the epoch, so the trainer must reload the train loader every epoch
    (``reload_dataloaders_every_n_epochs: 1``, set in ``conf/trainer``).
    """

    def __init__(self, source, split: str = "samples", holdout: float = 0.2,
                 holdout_classes: float = 0.3, positive_fraction: float = 0.5,
                 train_pairs: int = 4000, val_pairs: int = 1000, test_pairs: int = 2000,
                 batch_size: int = 128, num_workers: int = 0, seed: int = 0,
                 sampler: str = "pairs", p: int = 16, k: int = 4):
        super().__init__()
        if sampler not in ("pairs", "pk"):
            raise ValueError(f"data.sampler must be 'pairs' or 'pk', got {sampler!r}")
        if sampler == "pk" and (int(k) < 2 or int(k) % 2 or int(p) < 2):
            raise ValueError(f"data.sampler=pk needs an even data.k >= 2 and data.p >= 2, got p={p}, k={k}")
        self.sampler, self.p, self.k = sampler, int(p), int(k)
        if sampler == "pk":
            batch_size = self.p * self.k // 2
        if not 0 < positive_fraction < 1:
            raise ValueError(f"data.positive_fraction must be in (0, 1), got {positive_fraction}")
        for key, value in (("train_pairs", train_pairs), ("val_pairs", val_pairs),
                           ("test_pairs", test_pairs), ("batch_size", batch_size)):
            if int(value) < 1:
                raise ValueError(f"data.{key} must be >= 1, got {value}")
        self.source = source
        self.positive_fraction = float(positive_fraction)
        self.n_pairs = {"train": int(train_pairs), "val": int(val_pairs), "test": int(test_pairs)}
        self.batch_size, self.num_workers, self.seed = int(batch_size), int(num_workers), int(seed)
        self.split = split
        self.indices = split_indices(source.labels, split, holdout, holdout_classes, self.seed)
        for name, idx in self.indices.items():
            check_pairable(name, source.labels[idx], source.classes)
        self.fixed_pairs = {name: self.pairs(name, epoch=0) for name in ("val", "test")}
        if self.sampler == "pk":
            self.pairs("train", epoch=0)  # an impossible P×K layout fails now, not mid-training

    @property
    def channels(self) -> int:
        return self.source.channels

    def pairs(self, name: str, epoch: int = 0) -> np.ndarray:
        """Pairs ``(i, j, y)`` (source positions) of split ``name``; a pure function of seed, split, epoch."""
        stream = {"train": 0, "val": 1, "test": 2}[name]
        rng = np.random.default_rng([self.seed, stream, epoch])
        idx = self.indices[name]
        labels = self.source.labels[idx]
        if name == "train" and self.sampler == "pk":
            n_batches = max(1, self.n_pairs["train"] // self.batch_size)
            local = sample_pk_pairs(labels, self.p, self.k, n_batches, rng)
        else:
            local = sample_pairs(labels, self.n_pairs[name], self.positive_fraction, rng)
        return np.stack([idx[local[:, 0]], idx[local[:, 1]], local[:, 2]], axis=1)

    def _loader(self, dataset: Dataset, shuffle: bool = False) -> DataLoader:
        return DataLoader(dataset, batch_size=self.batch_size, shuffle=shuffle,
                          num_workers=self.num_workers, persistent_workers=False)

    def train_dataloader(self) -> DataLoader:
        epoch = self.trainer.current_epoch if self.trainer is not None else 0
        return self._loader(PairDataset(self.source, self.pairs("train", epoch)))

    def val_dataloader(self) -> DataLoader:
        return self._loader(PairDataset(self.source, self.fixed_pairs["val"]))

    def test_dataloader(self) -> DataLoader:
        return self._loader(PairDataset(self.source, self.fixed_pairs["test"]))

    def images_dataloader(self, name: str) -> DataLoader:
        """Single images of a split (``train``/``val``/``test``), in index order."""
        return self._loader(ImageDataset(self.source, self.indices[name]))

    @property
    def retrieval_splits(self) -> tuple[str, str]:
        """``(gallery, queries)`` split names; see the class docstring."""
        return ("train", "test") if self.split == "samples" else ("val", "test")
