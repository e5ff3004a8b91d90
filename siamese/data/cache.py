"""Decoded images kept as a resized ``uint8`` array, so that each image is decoded once, not every epoch.

``data.source.cache``: ``none`` (decode on every read), ``memory`` (an array in RAM, shared with
loader workers by fork) or ``disk`` (a memory-mapped ``.npy`` under ``data.source.cache_dir``). A
disk cache is named by a key over every file's path, size and modification time and the reading
settings (image size, channels, resize mode): a changed, added or removed file gives another key,
so a stale cache is rebuilt, never silently reused.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from siamese.atomic import atomic_save, atomic_write_many, json_bytes

CACHE_MODES = ("none", "memory", "disk")
DEFAULT_CACHE_DIR = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "siamese" / "images"


def cache_key(paths: list[Path], settings: dict) -> str:
    """sha256 (24 hex digits) of the reading ``settings`` and every file's path, size and mtime."""
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    for path in paths:
        stat = os.stat(path)
        digest.update(f"{Path(path).resolve()}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:24]


def to_uint8(image) -> np.ndarray:
    """A ``(C, H, W)`` float image in ``[0, 1]`` as ``uint8`` (exact for images decoded from 8 bits)."""
    return np.clip(np.rint(image.numpy() * 255.0), 0, 255).astype(np.uint8)


class DiskCache:
    """``<cache_dir>/<key>.npy`` (the images, ``(N, C, S, S)`` uint8) and ``<key>.json`` (which of the
    source's files they are, and the unreadable ones left out); the JSON is written last, so a cache
    interrupted while being filled is never found."""

    def __init__(self, cache_dir: str | Path | None, key: str):
        self.folder = Path(cache_dir).expanduser() if cache_dir else DEFAULT_CACHE_DIR
        self.array_path, self.meta_path = self.folder / f"{key}.npy", self.folder / f"{key}.json"

    def load(self) -> tuple[np.ndarray, dict] | None:
        """``(memory-mapped images, meta)`` when a complete cache exists, else ``None``."""
        if not (self.meta_path.is_file() and self.array_path.is_file()):
            return None
        return np.load(self.array_path, mmap_mode="r"), json.loads(self.meta_path.read_text())

    def save(self, images: np.ndarray, meta: dict) -> np.ndarray:
        """Write the images (atomically), then the meta; return the images memory-mapped."""
        atomic_save(self.array_path, lambda f: np.save(f, images))
        atomic_write_many({self.meta_path: json_bytes(meta)})
        return np.load(self.array_path, mmap_mode="r")
