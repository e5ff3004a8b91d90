"""What the tests share: tiny data trees in each source's layout, embedding-like vectors, Hydra
composition of conf/, the real scripts run in a subprocess, a fault injector and a checkpoint snapshot.
Test files import from here, never from each other."""
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from hydra import compose, initialize_config_dir
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
TESTS_DIR = Path(__file__).resolve().parent
# A debug training run on a few pairs (the real train.py runs in seconds).
SMALL = ["trainer=debug", "data.train_pairs=384", "data.val_pairs=200", "data.test_pairs=300"]
# A fault injected into a training run through its callbacks (see FaultInjector).
FAULT = "+callbacks.fault._target_=helpers.FaultInjector"
# A copy of a training run's checkpoints taken between two epochs (see CheckpointSnapshot).
SNAPSHOT = "+callbacks.snapshot._target_=helpers.CheckpointSnapshot"

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"


def make_image_tree(root: Path, classes=("cat", "dog", "eel"), per_class=20, size=12) -> Path:
    """``root/<class>/<k>.png`` grayscale images whose brightness depends on class and index."""
    for ci, name in enumerate(classes):
        (root / name).mkdir(parents=True, exist_ok=True)
        for k in range(per_class):
            Image.new("L", (size, size), color=(ci * 70 + k * 7) % 256).save(root / name / f"{k}.png")
    return root


def make_lfw_tree(root: Path, people=("Ann_A", "Bob_B", "Cy_C"), per_person=3) -> Path:
    for k, name in enumerate(people):
        (root / name).mkdir(parents=True)
        for n in range(1, per_person + 1):
            Image.new("RGB", (20, 20), color=(40 * k + 10 * n, 0, 0)).save(root / name / f"{name}_{n:04d}.jpg")
    return root


def make_omniglot_tree(root: Path, per_character=4) -> Path:
    """Two background alphabets and one evaluation alphabet, two characters each."""
    layout = {"images_background": ("Latin", "Greek"), "images_evaluation": ("Runic",)}
    for part, alphabets in layout.items():
        for a, alphabet in enumerate(alphabets):
            for c in ("character01", "character02"):
                folder = root / part / alphabet / c
                folder.mkdir(parents=True)
                for k in range(per_character):
                    Image.new("L", (15, 15), color=(a * 60 + int(c[-1]) * 25 + k * 5) % 256).save(folder / f"{k}.png")
    return root


def make_mnist_files(root: Path, folder="MNIST", n_train=30, n_test=10) -> Path:
    """torchvision's raw MNIST layout with tiny idx files of random digits."""
    import numpy as np

    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        (raw / f"{prefix}-images-idx3-ubyte").write_bytes(
            np.array([2051, n, 28, 28], dtype=">i4").tobytes() + images.tobytes())
        (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(np.array([2049, n], dtype=">i4").tobytes() + labels.tobytes())
    return root


def make_csv_pairs(root: Path, n_pairs=40, header=True) -> Path:
    """Class-folder images plus ``pairs.csv`` alternating same / different pairs, 2 folds, each pair once."""
    make_image_tree(root, per_class=10)
    lines = ["path1,path2,label,fold"] if header else []
    classes = ("cat", "dog", "eel")
    for k in range(n_pairs):
        a = classes[k % 3]
        b = a if k % 2 == 0 else classes[(k + 1) % 3]
        first, step = (k // 3) % 10, 1 + (k // 30) % 9      # distinct (first, step) for k < 270
        lines.append(f"{a}/{first}.png,{b}/{(first + step) % 10}.png,{int(a == b)},{(k // 2) % 2}")
    (root / "pairs.csv").write_text("\n".join(lines) + "\n")
    return root / "pairs.csv"


def compose_config(name: str, overrides: list[str]):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name=name, overrides=overrides)


PAIRS = """2 2
Ann_A 1 2
Bob_B 1 3
Ann_A 1 Bob_B 2
Bob_B 3 Cy_C 1
Cy_C 1 2
Ann_A 2 3
Cy_C 3 Ann_A 3
Ann_A 1 Cy_C 2
"""


def index_bytes(directory: Path) -> bytes:
    """The bytes of the index file that ``directory/index.json`` names."""
    import json

    from siamese.index_store import index_file

    return index_file(directory, json.loads((directory / "index.json").read_text())).read_bytes()


def run_script(name: str, *args: str) -> subprocess.CompletedProcess:
    """``scripts/<name> args...`` in a subprocess from the repository root; ``helpers`` importable there."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(TESTS_DIR), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, str(ROOT / "scripts" / name), *args],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)


def run_train(run_dir: Path, *overrides: str) -> subprocess.CompletedProcess:
    """The real ``scripts/train.py`` into ``run_dir`` with the ``SMALL`` settings."""
    return run_script("train.py", f"hydra.run.dir={run_dir}", *SMALL, *overrides)


class FaultInjector(pl.Callback):
    """At training step ``kill_at_step``: SIGKILL this process (as the OOM killer or a crash would).
    At step ``nan_at_step``: write NaN into the first weight of the tower's head ``nan_stage``
    (1-based), so the loss terms that use that stage become NaN. ``rank``: only on that global rank
    (under DDP), else on every process. Added to a run with ``FAULT``."""

    def __init__(self, kill_at_step: int | None = None, nan_at_step: int | None = None, nan_stage: int = 1,
                 rank: int | None = None):
        self.kill_at_step, self.nan_at_step, self.nan_stage = kill_at_step, nan_at_step, int(nan_stage)
        self.rank = rank

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if self.rank is not None and trainer.global_rank != self.rank:
            return
        if trainer.global_step == self.kill_at_step:
            os.kill(os.getpid(), signal.SIGKILL)
        if trainer.global_step == self.nan_at_step:
            with torch.no_grad():
                pl_module.net.heads[self.nan_stage - 1].weight[0, 0] = float("nan")


class CheckpointSnapshot(pl.Callback):
    """When epoch ``after_epoch`` (0-based) is over and checkpointed, copy the checkpoint folder to ``to``
    (global rank 0 only, before the next epoch's first step): what a run killed right after that epoch
    leaves behind, taken from a run that goes on. Added to a run with ``SNAPSHOT``."""

    def __init__(self, after_epoch: int, to: str):
        self.after_epoch, self.to = int(after_epoch), to

    def on_train_epoch_start(self, trainer, pl_module):
        if trainer.current_epoch == self.after_epoch + 1 and trainer.is_global_zero:
            shutil.copytree(trainer.checkpoint_callback.dirpath, self.to)


def unit_vectors(n, d, seed=0):
    x = np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def clustered(n, d, identities, seed=0):
    """Embedding-like vectors: identities' centres on the sphere, members spread around them, unit norm."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(identities, d))
    x = centres[rng.integers(0, identities, n)] + 0.35 * rng.normal(size=(n, d))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)

