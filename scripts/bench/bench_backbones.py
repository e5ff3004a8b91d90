"""Backbone towers on photos: training images/s per backbone, Lightning's overhead on ResNet-18, what the
image loader delivers against what ResNet-18 consumes, and the peak memory of a 112 px ResNet-18 run.

- training: forward + dcontrastive loss + backward + Adam step of a batch of ``--pairs`` pairs
  (2 × pairs images), RGB at 64 and 112 px, random weights (the speed does not depend on them);
- Lightning vs a plain PyTorch loop: the same ResNet-18 module and the same batches, side by side;
- loader: a folder of ``--images`` 28 px JPEGs in 50 classes (the shape of the measurement the
  backbone issue started from), read through the pair data module at 112 px for every worker count
  and cache mode, and one image decoded by PIL against ``torchvision.io.decode_image``;
- memory: ``scripts/train.py model=resnet18`` on that folder at 112 px for a few steps, in a child
  process, its peak resident size (``ru_maxrss``).

    python scripts/bench/bench_backbones.py [--pairs 16] [--steps 5] [--images 5000]
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from PIL import Image

from common import ROOT, compose_config, machine_header, markdown_table
from siamese.pipeline import build

# The kernel's peak resident size of this process image (VmHWM, KiB). Not ru_maxrss: that one keeps the
# peak of the process it was forked from, so a child of a large process would report its parent's peak.
PEAK_KIB = "next(int(line.split()[1]) for line in open('/proc/self/status') if line.startswith('VmHWM:'))"
# Runs scripts/train.py in this process and prints its peak resident size (KiB) last on stderr.
PEAK_OF_TRAIN = f"""
import atexit, runpy, sys
atexit.register(lambda: print("peak_kib", {PEAK_KIB}, file=sys.stderr))
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""
# The peak resident size (KiB) of a process that only imports what a training run imports.
IMPORTS_ONLY = f"import torch, torchvision, pytorch_lightning; print({PEAK_KIB})"
BACKBONES = ("resnet18", "resnet50", "mobilenet_v3_large", "efficientnet_b0", "convnext_tiny")


def module_and_batches(model: str, size: int, pairs: int, steps: int, extra: list[str] = ()):
    """The SiameseModule of ``model=<model>`` (dcontrastive, RGB ``size`` px) and ``steps`` random batches."""
    cfg = compose_config("train", [f"model={model}", "loss=dcontrastive", "data.source.channels=3",
                                   f"data.source.image_size={size}", "scheduler=none", "run_dir=/tmp/bench_bb",
                                   *extra])
    module, _ = build(cfg)
    g = torch.Generator().manual_seed(0)
    image = (pairs, 3, size, size)
    batches = [{"x1": torch.rand(image, generator=g), "x2": torch.rand(image, generator=g),
                "y": (torch.arange(pairs) % 2).float()} for _ in range(steps)]
    return module, batches


def plain_steps(module, batches) -> float:
    """Seconds per step of a plain loop (forward, loss, backward, optimizer step), the first step not timed."""
    optimizer = module.configure_optimizers()
    optimizer = optimizer["optimizer"] if isinstance(optimizer, dict) else optimizer
    module.train()
    for k, batch in enumerate(batches):
        if k == 1:
            start = time.perf_counter()
        optimizer.zero_grad()
        e1, e2 = module(batch["x1"], batch["x2"])
        module.loss(e1, e2, batch)["loss"].backward()
        optimizer.step()
    return (time.perf_counter() - start) / (len(batches) - 1)


class StepClock(pl.Callback):
    """The time from the start of the second training batch to the end of training."""

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if batch_idx == 1:
            self.start = time.perf_counter()

    def on_train_end(self, trainer, pl_module):
        self.seconds = time.perf_counter() - self.start


def lightning_steps(module, batches) -> float:
    """Seconds per step of ``Trainer.fit`` over the same batches (no validation, logging or checkpoints),
    the first step and the trainer's set-up not timed, as in ``plain_steps``."""
    clock = StepClock()
    trainer = pl.Trainer(max_epochs=1, accelerator="cpu", logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
                         limit_val_batches=0, callbacks=[clock])
    trainer.fit(module, train_dataloaders=torch.utils.data.DataLoader(batches, batch_size=None))
    return clock.seconds / (len(batches) - 1)


def write_jpegs(root: Path, n: int, classes: int = 50) -> Path:
    rng = np.random.default_rng(0)
    for k in range(n):
        folder = root / f"c{k % classes:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (28, 28, 3), dtype=np.uint8)).save(folder / f"{k}.jpg", quality=90)
    return root


def loader_rate(root: Path, workers: int, cache: str, cache_dir: Path, pairs: int) -> tuple[float, float]:
    """(seconds to build the data module, images/s of one epoch of training pairs after it)."""
    start = time.perf_counter()
    cfg = compose_config("train", ["data=folder", f"data.source.root={root}", "data.source.channels=3",
                                   "data.source.image_size=112", f"data.num_workers={workers}",
                                   f"data.source.cache={cache}", f"data.source.cache_dir={cache_dir}",
                                   f"data.batch_size={pairs}", "data.train_pairs=2000", "model=resnet18",
                                   "run_dir=/tmp/bench_bb"])
    _, datamodule = build(cfg)
    built = time.perf_counter() - start
    start, images = time.perf_counter(), 0
    for batch in datamodule.train_dataloader():
        images += 2 * len(batch["y"])
    return built, images / (time.perf_counter() - start)


def decode_rates(path: Path, repeats: int = 200) -> dict[str, float]:
    """ms per image: PIL (siamese.data.load_image) vs torchvision.io.decode_image + resize, both to 112 px RGB."""
    from torchvision.io import ImageReadMode, decode_image
    from torchvision.transforms.v2 import functional as TF

    from siamese.data import load_image
    ways = {"PIL (load_image)": lambda: load_image(path, 112, 3),
            "torchvision.io.decode_image + resize": lambda: TF.resize(
                decode_image(str(path), mode=ImageReadMode.RGB, apply_exif_orientation=True), [112, 112],
                antialias=True).float() / 255}
    out = {}
    for name, fn in ways.items():
        fn()
        start = time.perf_counter()
        for _ in range(repeats):
            fn()
        out[name] = 1e3 * (time.perf_counter() - start) / repeats
    return out


def peak_memory(root: Path, tmp: Path, args) -> None:
    """Peak resident size of a 112 px ResNet-18 training run on ``root``, beside that of the imports alone."""
    run = tmp / "run"
    cmd = [sys.executable, "-c", PEAK_OF_TRAIN, str(ROOT / "scripts" / "train.py"), f"hydra.run.dir={run}",
           "model=resnet18",
           "data=folder", f"data.source.root={root}", "data.source.channels=3", "data.source.image_size=112",
           "trainer=debug", f"data.batch_size={args.pairs}", "data.val_pairs=64", "data.test_pairs=64",
           "evaluation.trials=100", "data.num_workers=0"]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    peak = float(proc.stderr.strip().splitlines()[-1].split()[-1]) / 1024
    imports = subprocess.run([sys.executable, "-c", IMPORTS_ONLY], capture_output=True, text=True)
    baseline = float(imports.stdout.strip()) / 1024
    print(f"\n## peak resident memory of `scripts/train.py model=resnet18` at 112 px (trainer=debug, "
          f"{args.images} images): {peak:.0f} MiB (exit {proc.returncode}, {time.perf_counter() - start:.0f} s); "
          f"python with torch, torchvision and Lightning imported and nothing else: {baseline:.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=16)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--memory-only", action="store_true", help="only the peak-memory measurement")
    args = parser.parse_args()
    print(machine_header())
    if args.memory_only:
        with tempfile.TemporaryDirectory() as tmp:
            peak_memory(write_jpegs(Path(tmp) / "jpegs", args.images), Path(tmp), args)
        return

    rows, consumed = [], {}
    for size in (64, 112):
        for name in BACKBONES:
            module, batches = module_and_batches(name, size, args.pairs, args.steps + 2)
            plain_steps(module, batches[:2])                                  # warm-up
            seconds = plain_steps(module, batches[2:])
            consumed[(name, size)] = 2 * args.pairs / seconds
            rows.append([name, size, f"{consumed[(name, size)]:.1f}", f"{1e3 * seconds:.0f}"])
    print(f"\n## training images/s (batch {args.pairs} pairs = {2 * args.pairs} images, dcontrastive, "
          f"mean over {args.steps} steps after 2 warm-up steps)\n")
    print(markdown_table(["backbone", "px", "images/s", "ms / step"], rows))

    plain, lightning = [], []
    for _ in range(3):
        module, batches = module_and_batches("resnet18", 64, args.pairs, 2 * args.steps)
        plain.append(plain_steps(module, batches))
        module, batches = module_and_batches("resnet18", 64, args.pairs, 2 * args.steps)
        lightning.append(lightning_steps(module, batches))
    p, lt = statistics.median(plain), statistics.median(lightning)
    print(f"\n## Lightning vs a plain loop, ResNet-18, 64 px, {2 * args.steps} steps x 3 rounds (median)\n")
    print(markdown_table(["loop", "ms / step"], [
        ["plain PyTorch", f"{1e3 * p:.1f}"], ["Lightning", f"{1e3 * lt:.1f}"],
        ["Lightning overhead", f"{100 * (lt / p - 1):+.1f} % (goal <= 5 %)"]]))

    with tempfile.TemporaryDirectory() as tmp:
        root = write_jpegs(Path(tmp) / "jpegs", args.images)
        need = consumed[("resnet18", 112)]
        rows = []
        for workers in (0, 1):
            for cache in ("none", "memory", "disk"):
                built, rate = loader_rate(root, workers, cache, Path(tmp) / "cache", args.pairs)
                rows.append([workers, cache, f"{built:.1f}", f"{rate:.0f}", f"{rate / need:.1f}×"])
        print(f"\n## loader: {args.images} JPEGs of 28 px, read at 112 px RGB, batches of {args.pairs} pairs; "
              f"ResNet-18 consumes {need:.1f} images/s at 112 px\n")
        print(markdown_table(["workers", "cache", "build s (checks / fills the cache)", "images/s",
                              "vs ResNet-18's rate"], rows))
        photo = Path(tmp) / "photo.jpg"
        pixels = np.random.default_rng(1).integers(0, 255, (250, 250, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(photo, quality=90)
        for name, path in (("a 28 px JPEG", next(root.glob("*/*.jpg"))), ("a 250 px JPEG (an LFW face)", photo)):
            print(f"\ndecoding {name} to 112 px RGB, ms / image: " +
                  ", ".join(f"{k} {v:.3f}" for k, v in decode_rates(path).items()))

        peak_memory(root, Path(tmp), args)


if __name__ == "__main__":
    main()
