"""The benchmark's third data set: Fashion-MNIST's JSON rows written as an image folder that `data=folder`
reads back unchanged (docs/benchmarks.md, round 21, measures on that folder)."""
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from helpers import ROOT
from siamese.data import FolderImages

SCRIPT = ROOT / "scripts" / "bench" / "fashion_folder.py"


def write_clothes(folder, images_per_class=3, rows=None):
    """A stand-in for the package's src/clothes: class c's images are seeded grey levels."""
    folder.mkdir()
    rng = np.random.default_rng(0)
    written = {}
    for c in range(10):
        images = rng.integers(0, 256, (images_per_class, 784)) if rows is None else rows
        written[c] = np.asarray(images)
        (folder / f"{c}.json").write_text(json.dumps({"data": np.asarray(images).tolist()}))
    return written


def test_the_folder_holds_the_first_images_of_each_class_and_reads_back_unchanged(tmp_path):
    written = write_clothes(tmp_path / "clothes", images_per_class=3)
    subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "clothes"), str(tmp_path / "root"),
                    "--per-class", "2"], check=True, capture_output=True)
    source = FolderImages(str(tmp_path / "root"), image_size=28)
    assert source.classes == ["0_tshirt_top", "1_trouser", "2_pullover", "3_dress", "4_coat", "5_sandal",
                              "6_shirt", "7_sneaker", "8_bag", "9_ankle_boot"]
    assert len(source) == 20
    for i in range(len(source)):
        label, n = source.labels[i], i % 2
        expected = torch.from_numpy(written[label][n].reshape(1, 28, 28) / 255.0).float()
        assert torch.allclose(source[i], expected, atol=1e-6)


def test_a_row_that_is_not_an_image_is_refused_naming_the_file(tmp_path):
    write_clothes(tmp_path / "clothes", rows=[[0] * 783])
    result = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "clothes"), str(tmp_path / "root")],
                            capture_output=True, text=True)
    assert result.returncode != 0
    assert "0.json: expected rows of 784 grey levels 0-255, got an array of shape (1, 783)" in result.stderr


@pytest.mark.parametrize("value", [-1, 256])
def test_grey_levels_outside_0_255_are_refused(tmp_path, value):
    write_clothes(tmp_path / "clothes", rows=[[value] * 784])
    result = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "clothes"), str(tmp_path / "root")],
                            capture_output=True, text=True)
    assert result.returncode != 0 and "expected rows of 784 grey levels 0-255" in result.stderr
