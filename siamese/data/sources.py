"""Image sources: scikit-learn's digits, image folders, images at explicit paths.

A *source* holds images and their class ids (``source.labels``, ints ``0..K-1`` indexing
``source.classes``), ``image_size`` and ``channels``, and loads image ``i`` as a float tensor
``(C, H, W)`` in ``[0, 1]``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor
from tqdm import tqdm

from siamese.checks import image_channels, one_of
from siamese.data.cache import CACHE_MODES, DiskCache, cache_key, to_uint8
from siamese.imaging import RESIZE_MODES, UNREADABLE_IMAGE_ERRORS, read_image, scan_image_tree

# What to do with such a file: stop naming it, or leave it out and list it.
BAD_IMAGE_POLICIES = ("raise", "skip")


class DigitsImages:
    """scikit-learn's ``load_digits`` (1797 8×8 images of 10 digits, shipped with the package).

    Pixel values 0..16 are scaled to ``[0, 1]`` and resized bilinearly to ``image_size``;
    ``channels=3`` repeats the grey channel.
    """

    def __init__(self, image_size: int = 32, channels: int = 1):
        from sklearn.datasets import load_digits

        image_channels("data.source.channels", channels)
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
    """Raise ``ValueError`` naming ``path`` unless PIL decodes it as an image.

    The file is decoded, not only parsed (``Image.verify`` passes a truncated JPEG), cheaply: a
    JPEG at a reduced scale (draft mode). An image above PIL's decompression-bomb limit is refused.
    """
    try:
        with Image.open(path) as image:
            image.draft("L", (64, 64))    # JPEG only: decode at 1/2..1/8 scale; other formats decode whole
            image.load()
    except UNREADABLE_IMAGE_ERRORS as err:
        raise ValueError(f"unreadable image {str(path)!r}: {type(err).__name__}: {err}") from None


def load_image(path: Path, image_size: int, channels: int, resize: str = "stretch") -> Tensor:
    """``siamese.imaging.read_image`` as a float tensor ``(channels, image_size, image_size)`` in ``[0, 1]``."""
    return torch.from_numpy(read_image(path, image_size, channels, resize))


class PathImages:
    """Images at explicit paths with class ids ``labels`` (indexing ``classes``), checked up front.

    ``on_bad_image``: ``raise`` (default) stops at the first unreadable file, naming it; ``skip``
    leaves such files out and lists them in ``skipped`` (path and error), never silently: the
    training report carries the list. ``resize``: see ``load_image``. ``cache``: ``none`` |
    ``memory`` | ``disk`` (``siamese.data.cache``): each image decoded once, when the source is
    built, then read from a resized ``uint8`` array; ``cache_dir`` holds the disk cache.
    """

    def __init__(self, paths, labels, classes, image_size: int = 32, channels: int = 1,
                 on_bad_image: str = "raise", resize: str = "stretch", cache: str = "none",
                 cache_dir: str | None = None):
        image_channels("data.source.channels", channels)
        one_of("data.source.on_bad_image", on_bad_image, BAD_IMAGE_POLICIES)
        self.resize = one_of("data.source.resize", resize, RESIZE_MODES)
        one_of("data.source.cache", cache, CACHE_MODES)
        self.image_size, self.channels = int(image_size), int(channels)
        self.classes = list(classes)
        paths = [Path(p) for p in paths]
        disk = None
        if cache == "disk":
            settings = {"image_size": self.image_size, "channels": self.channels, "resize": self.resize}
            disk = DiskCache(cache_dir, cache_key(paths, settings))
        found = disk.load() if disk else None
        if found is not None:
            self._cache, meta = found
            keep, self.skipped = meta["keep"], meta["skipped"]
        else:
            keep, self.skipped, decoded = self._check(paths, on_bad_image, keep_images=cache != "none")
            self._cache = None if cache == "none" else np.stack(decoded) if decoded else None
            if disk is not None and self._cache is not None:
                self._cache = disk.save(self._cache, {"keep": keep, "skipped": self.skipped})
        self.paths = [paths[k] for k in keep]
        self.labels = np.asarray(labels, dtype=np.int64)[keep] if len(keep) else np.zeros(0, dtype=np.int64)
        if not self.paths and len(paths):
            raise ValueError(f"none of the {len(paths)} images could be read (first: {self.skipped[0]['path']})")

    def _check(self, paths: list[Path], on_bad_image: str, keep_images: bool
               ) -> tuple[list[int], list[dict], list[np.ndarray]]:
        """Decode every image once: ``(positions kept, skipped files, uint8 images if keep_images)``."""
        keep, skipped, decoded = [], [], []
        for k, path in enumerate(tqdm(paths, desc="checking images", unit="img", disable=len(paths) < 2000)):
            try:
                if keep_images:
                    decoded.append(to_uint8(self._read(path)))
                else:
                    verify_image(path)
                keep.append(k)
            except ValueError as err:
                if on_bad_image == "raise":
                    raise
                skipped.append({"path": str(path), "error": str(err)})
        return keep, skipped, decoded

    def _read(self, path: Path) -> Tensor:
        try:
            return load_image(path, self.image_size, self.channels, self.resize)
        except UNREADABLE_IMAGE_ERRORS as err:
            raise ValueError(f"unreadable image {str(path)!r}: {type(err).__name__}: {err}") from None

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> Tensor:
        if self._cache is not None:
            return torch.from_numpy(np.array(self._cache[i], dtype=np.float32)).div_(255.0)
        return self._read(self.paths[i])   # a file changed since it was checked is named


class FolderImages(PathImages):
    """An ImageFolder-style tree ``root/<class>/<image>``; one sub-folder per class.

    Hidden files, symbolic links and files without an image suffix are ignored. Each image is
    checked when the source is built, so an unreadable file fails before training starts. Images
    are converted to grayscale (``channels=1``) or RGB (``channels=3``) and resized to
    ``image_size × image_size``; ``reading`` passes ``resize``, ``cache`` and ``cache_dir`` to ``PathImages``.
    """

    def __init__(self, root: str, image_size: int = 32, channels: int = 1, on_bad_image: str = "raise",
                 exclude_pairs: str | None = None, **reading):
        root_path = Path(root).expanduser()
        if not root_path.is_dir():
            raise FileNotFoundError(f"data.source.root {str(root_path)!r} is not a folder; {FOLDER_LAYOUT}")
        paths, labels, classes = scan_image_tree(root_path)
        if exclude_pairs:
            found = len(classes)
            paths, labels, classes = _without_identities(paths, labels, classes, exclude_pairs, root_path)
            if found and not classes:
                raise ValueError(f"every one of the {found} identities under {str(root_path)!r} is named in "
                                 f"data.source.exclude_pairs={exclude_pairs}: nothing is left to train on; "
                                 "train on a tree with other identities, or drop exclude_pairs")
        if not paths:
            raise ValueError(f"no images found under {str(root_path)!r}; {FOLDER_LAYOUT}")
        self.root = root_path
        super().__init__(paths, labels, classes, image_size, channels, on_bad_image, **reading)


def _without_identities(paths, labels, classes, pairs_file: str, root: Path):
    """Drop every class named in an LFW ``pairs.txt`` (its evaluation identities); relabel the rest."""
    from siamese.data.pair_files import read_lfw_pairs

    pairs = read_lfw_pairs(pairs_file, root)
    names = {p.parent.name for p in pairs.paths1 + pairs.paths2}
    kept_classes = [c for c in classes if c not in names]
    new_id = {classes.index(c): k for k, c in enumerate(kept_classes)}
    keep = [k for k, lab in enumerate(labels) if lab in new_id]
    return [paths[k] for k in keep], [new_id[labels[k]] for k in keep], kept_classes


OMNIGLOT_LAYOUT = """expected layout (Lake et al.'s Omniglot, unzipped):
    root/images_background/<alphabet>/<character>/<image>.png
    root/images_evaluation/<alphabet>/<character>/<image>.png"""


class OmniglotImages(PathImages):
    """Omniglot: class = ``alphabet/character``; ``images_background`` trains, ``images_evaluation``
    is held out (``data.split=source``), the one-shot protocol of Koch et al. (2015)."""

    PARTS = ("images_background", "images_evaluation")

    def __init__(self, root: str, image_size: int = 32, channels: int = 1, on_bad_image: str = "raise",
                 **reading):
        root_path = Path(root).expanduser()
        if not all((root_path / part).is_dir() for part in self.PARTS):
            raise FileNotFoundError(f"data.source.root {str(root_path)!r} is not an Omniglot folder; {OMNIGLOT_LAYOUT}")
        paths, labels, classes, heldout = [], [], [], []
        for part in self.PARTS:
            alphabets = (d for d in (root_path / part).iterdir() if d.is_dir() and not d.name.startswith("."))
            for alphabet in sorted(alphabets):
                part_paths, part_labels, characters = scan_image_tree(alphabet)
                base = len(classes)
                classes += [f"{alphabet.name}/{c}" for c in characters]
                labels += [base + lab for lab in part_labels]
                paths += part_paths
                if part == "images_evaluation":
                    heldout += list(range(base, len(classes)))
        if not paths:
            raise ValueError(f"no images found under {str(root_path)!r}; {OMNIGLOT_LAYOUT}")
        super().__init__(paths, labels, classes, image_size, channels, on_bad_image, **reading)
        self.heldout_classes = heldout


class MNISTImages:
    """MNIST or Fashion-MNIST from a local copy (torchvision's files, ``download=False``).

    Train and test files are pooled (70 000 images) and split like any source. ``channels=3``
    repeats the grey channel.
    """

    DATASETS = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST"}

    def __init__(self, root: str, variant: str = "mnist", image_size: int = 28, channels: int = 1):
        import torchvision

        one_of("data.source.variant", variant, self.DATASETS)
        image_channels("data.source.channels", channels)
        name = self.DATASETS[variant]
        cls = getattr(torchvision.datasets, name)
        try:
            parts = [cls(str(Path(root).expanduser()), train=train, download=False) for train in (True, False)]
        except RuntimeError:
            raise FileNotFoundError(
                f"{name} files not found under {str(Path(root) / name / 'raw')!r} (expected "
                "train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, "
                "t10k-labels-idx1-ubyte, as torchvision writes them); no download happens: copy them there"
            ) from None
        self.images = torch.cat([p.data for p in parts]).unsqueeze(1)           # (N, 1, 28, 28) uint8
        self.labels = torch.cat([p.targets for p in parts]).numpy().astype(np.int64)
        self.classes = [str(c) for c in parts[0].classes]
        self.image_size, self.channels = int(image_size), int(channels)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> Tensor:
        x = self.images[i : i + 1].float().div(255.0)
        if self.image_size != x.shape[-1]:
            x = F.interpolate(x, size=(self.image_size,) * 2, mode="bilinear", align_corners=False)
        return x[0].repeat(self.channels, 1, 1)
