"""Reading image files: finding them in a class-folder tree, and reading one into a numpy array, the
one way every part of siamese reads images.

Only PIL and numpy: the deployment bundle's matcher reads queries with it where torch is not installed.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm"}
# What reading an unreadable image file raises (PIL: OSError — a truncated file too —, UnidentifiedImageError,
# SyntaxError, DecompressionBombError for an image of absurd size; numpy: ValueError).
UNREADABLE_IMAGE_ERRORS = (OSError, UnidentifiedImageError, SyntaxError, ValueError, Image.DecompressionBombError)
# Modes of more than 8 bits a channel, and the value that is full scale in each (scaled to 1, not clipped).
HIGH_DEPTH_FULL_SCALE = {"I;16": 65535.0, "I;16B": 65535.0, "I;16L": 65535.0, "I;16N": 65535.0, "I": 65535.0,
                         "F": 1.0}
RESIZE_MODES = ("stretch", "crop")


def read_image(path: Path, image_size: int, channels: int, resize: str = "stretch") -> np.ndarray:
    """``(channels, image_size, image_size)`` float32 array in ``[0, 1]``: grey (1) or RGB (3), resized.

    ``resize``: ``stretch`` scales the whole image to the square (the aspect ratio is not kept);
    ``crop`` scales its short side to ``image_size`` and keeps the centre square (photos). The EXIF
    orientation is applied first (a phone photo stands as it was shot). A 16-bit (or float) image is
    scaled by its full-scale value (``HIGH_DEPTH_FULL_SCALE``), not clipped at 255. Decoding is PIL's
    (compared with ``torchvision.io.decode_image`` by scripts/bench/bench_backbones.py).
    """
    size = (image_size, image_size)
    with Image.open(path) as opened:
        image = ImageOps.exif_transpose(opened)
        if resize == "crop":                  # the centre square; scaled to image_size below
            image = image.crop(_centre_square(image.size))
        if image.mode in HIGH_DEPTH_FULL_SCALE:
            grey = Image.fromarray(np.asarray(image, dtype=np.float32) / HIGH_DEPTH_FULL_SCALE[image.mode])
            array = np.asarray(grey.resize(size, Image.BILINEAR), dtype=np.float32).clip(0.0, 1.0)
            array = np.repeat(array[None], channels, axis=0)
        else:
            image = image.convert("L" if channels == 1 else "RGB").resize(size, Image.BILINEAR)
            array = np.asarray(image, dtype=np.float32) / 255.0
            array = array[None] if array.ndim == 2 else array.transpose(2, 0, 1)
    return np.ascontiguousarray(array)


def _centre_square(size: tuple[int, int]) -> tuple[int, int, int, int]:
    """The box ``(left, top, right, bottom)`` of the largest centred square of an image of ``size``."""
    w, h = size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    return left, top, left + side, top + side


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
    empty = [name for name, folder in groups if name and not _image_files(folder)]
    if empty:
        warnings.warn(f"{root}: class folder(s) {empty[:10]}{' …' if len(empty) > 10 else ''} hold no image "
                      "and are ignored", stacklevel=2)
    for name, folder in groups:
        files = _image_files(folder)
        if files:
            labels += [len(classes)] * len(files)
            classes.append(name)
            paths += files
    return paths, labels, classes
