"""What the benchmark scripts share: the header every one prints first (machine, versions, command),
composing conf/ with Hydra, the raw-pixel floor, and the digits written as an image tree.

Imported by the scripts beside it as ``from common import ...`` (their folder is on ``sys.path``)."""
from __future__ import annotations

import os
import platform
import shlex
import sys
from datetime import date
from pathlib import Path

import faiss
import pytorch_lightning as pl
import torch
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

ROOT = Path(__file__).resolve().parents[2]
CONF = ROOT / "conf"


def machine_header() -> str:
    """A few lines naming date, CPU count, Python/torch/Lightning/FAISS versions and the command."""
    cpu = platform.processor() or platform.machine()
    cuda = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    return "\n".join([
        f"date: {date.today().isoformat()}",
        f"machine: {os.cpu_count()} CPU cores ({cpu}), torch threads {torch.get_num_threads()}, GPU: {cuda}",
        f"versions: python {platform.python_version()}, torch {torch.__version__}, "
        f"pytorch-lightning {pl.__version__}, faiss {faiss.__version__}",
        f"command: {shlex.join([os.path.relpath(sys.argv[0]), *sys.argv[1:]])}",
    ])


def write_digits_pngs(folder: Path) -> Path:
    """scikit-learn's 1797 digits as 8×8 PNGs in ``folder/<digit>/<k>.png`` (a real image tree)."""
    import numpy as np
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    for k, (image, label) in enumerate(zip(digits.images, digits.target)):
        (folder / str(label)).mkdir(parents=True, exist_ok=True)
        Image.fromarray((image * 255 / 16).astype(np.uint8)).save(folder / str(label) / f"{k}.png")
    return folder


def compose_config(name: str, overrides: list[str]) -> DictConfig:
    """``conf/<name>.yaml`` composed with ``overrides``, as the script of that name would see it."""
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(name, overrides)


def raw_pixels_report(cfg: DictConfig) -> dict:
    """The report of the parameter-free ``RawPixels`` "tower" on the data of ``cfg`` (the floor)."""
    from siamese.evaluation import evaluate
    from siamese.nets import RawPixels
    from siamese.pipeline import build, settings_from

    _, datamodule = build(cfg)
    return evaluate(RawPixels(), datamodule, settings_from(cfg)).report


def markdown_table(header: list[str], rows: list[list]) -> str:
    """A markdown table: ``| a | b |`` header, separator, one line per row (cells as given)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows])
