"""Shared fixtures; the helpers they use live in helpers.py."""
import os
import random

import numpy as np
import pytest
import torch

from helpers import make_image_tree

if os.environ.get("PYTEST_XDIST_WORKER"):
    # Workers share the cores (`make test` runs two): one thread each, and in the processes a test starts.
    # Torch's default of one per core in every worker leaves the threads spinning on each other (the suite
    # took longer in two workers than in one).
    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def seeded_global_rngs():
    """Every test starts from the same global RNG state (torch, numpy, random), so an unseeded draw
    gives the same values whether the test runs alone, in a ``-k`` selection or in the whole suite."""
    torch.manual_seed(0)
    np.random.seed(0)
    random.seed(0)


@pytest.fixture
def image_tree(tmp_path):
    return make_image_tree(tmp_path / "images")
