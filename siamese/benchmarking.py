"""What every benchmark prints first: the machine, the library versions and the command."""
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
