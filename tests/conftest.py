"""Shared fixtures; the helpers they use live in helpers.py."""
import pytest

from helpers import make_image_tree


@pytest.fixture
def image_tree(tmp_path):
    return make_image_tree(tmp_path / "images")
