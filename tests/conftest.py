"""Shared fixtures: a tiny class-folder image tree and Hydra composition of conf/."""
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from PIL import Image

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"


def make_image_tree(root: Path, classes=("cat", "dog", "eel"), per_class=20, size=12) -> Path:
    """``root/<class>/<k>.png`` grayscale images whose brightness depends on class and index."""
    for ci, name in enumerate(classes):
        (root / name).mkdir(parents=True, exist_ok=True)
        for k in range(per_class):
            Image.new("L", (size, size), color=(ci * 70 + k * 7) % 256).save(root / name / f"{k}.png")
    return root


@pytest.fixture
def image_tree(tmp_path):
    return make_image_tree(tmp_path / "images")


def compose_config(name: str, overrides: list[str]):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name=name, overrides=overrides)
