"""Data-loading throughput of the folder source: images/s through a DataLoader with 2 workers.

The 1797 digits are written as PNGs (a real image tree), read back by `FolderImages` at the
folder config's defaults (32×32, grey) and served by `PairDataModule.images_dataloader`, three
full passes after one warm-up pass. Then a CSV pair list of ``--csv-lines`` random pairs over those
files is parsed by ``read_csv_pairs`` (existence checked once per distinct file, duplicates dropped).

    python scripts/bench/bench_data.py [--workers 2] [--size 32] [--csv-lines 1000000]
"""
from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from common import machine_header, write_digits_pngs
from siamese.data import FolderImages, PairDataModule, read_csv_pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--csv-lines", type=int, default=1_000_000)
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
        names = [str(p.relative_to(tmp)) for p in source.paths]
        rng = np.random.default_rng(0)
        a, b = rng.integers(0, len(names), args.csv_lines), rng.integers(0, len(names), args.csv_lines)
        same = source.labels[a] == source.labels[b]
        lines = (f"{names[i]},{names[j]},{int(s)}\n" for i, j, s in zip(a, b, same))
        (Path(tmp) / "pairs.csv").write_text("".join(lines))
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")                    # the duplicate-pair warning
            pairs = read_csv_pairs(Path(tmp) / "pairs.csv", tmp)
        print(f"CSV pair list: {args.csv_lines} lines over {len(names)} images ({len(pairs)} distinct pairs) "
              f"parsed in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
