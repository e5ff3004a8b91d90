"""Data-loading throughput of the folder source: images/s through a DataLoader with 2 workers.

The 1797 digits are written as PNGs (a real image tree), read back by `FolderImages` at the
folder config's defaults (32×32, grey) and served by `PairDataModule.images_dataloader`, three
full passes after one warm-up pass.

    python scripts/bench/bench_data.py [--workers 2] [--size 32]
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from common import machine_header, write_digits_pngs
from siamese.data import FolderImages, PairDataModule


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--size", type=int, default=32)
    args = parser.parse_args()
    print(machine_header())
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        source = FolderImages(str(write_digits_pngs(Path(tmp))), image_size=args.size)
        print(f"scan + verify {len(source)} files: {time.perf_counter() - start:.2f} s")
        dm = PairDataModule(source, split="samples", batch_size=128, num_workers=args.workers)
        loader = dm.images_dataloader("train")
        sum(len(b["x"]) for b in loader)                       # warm-up: worker start, file cache
        start = time.perf_counter()
        images = sum(len(b["x"]) for _ in range(3) for b in loader)
        seconds = time.perf_counter() - start
    print(f"folder source, {args.size}x{args.size} grey, batch 128, {args.workers} workers: "
          f"{images} images in {seconds:.2f} s = {images / seconds:.0f} images/s")


if __name__ == "__main__":
    main()
