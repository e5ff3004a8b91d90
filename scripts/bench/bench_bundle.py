"""The deployment bundle's model on the CPU: images/s of onnxruntime against torch on the same tower and
batches (the default ConvTower at 16 px, ResNet-18 at 112 px), with the largest difference of their
embeddings.

    python scripts/bench/bench_bundle.py [--batch 64] [--batches 10]
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime
import torch

from common import compose_config, machine_header, markdown_table
from siamese.bundle import export_onnx
from siamese.inference import eval_mode
from siamese.pipeline import build

TOWERS = {"convtower (default), 16 px grey": (["model=convtower"], 16, 1),
          "resnet18, 112 px RGB": (["model=resnet18", "data.source.channels=3"], 112, 3)}


def rate(fn, batches: list[np.ndarray]) -> float:
    fn(batches[0])                                               # warm-up
    start = time.perf_counter()
    for batch in batches:
        fn(batch)
    return sum(len(b) for b in batches) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--batches", type=int, default=10)
    args = parser.parse_args()
    print(machine_header())
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, (overrides, size, channels) in TOWERS.items():
            cfg = compose_config("train", [*overrides, f"data.source.image_size={size}", "run_dir=/tmp/bench_bundle"])
            module, _ = build(cfg)
            tower = module.net.eval()
            path = Path(tmp) / f"{len(rows)}.onnx"
            export_onnx(tower, {"size": size, "channels": channels}, path)
            session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            rng = np.random.default_rng(0)
            batches = [rng.random((args.batch, channels, size, size), dtype=np.float32) for _ in range(args.batches)]

            def with_torch(x, tower=tower):
                with eval_mode(tower):
                    return tower.embed(torch.from_numpy(x)).numpy()

            def with_onnx(x, session=session):
                return session.run(None, {"image": x})[0]

            gap = float(np.abs(with_torch(batches[0]) - with_onnx(batches[0])).max())
            t, o = rate(with_torch, batches), rate(with_onnx, batches)
            rows.append([name, args.batch, f"{t:.0f}", f"{o:.0f}", f"{o / t:.2f}×", f"{gap:.1e}"])
    print(f"\n## embedding throughput on the CPU, batches of {args.batch}, {args.batches} batches after a warm-up\n")
    print(markdown_table(["tower", "batch", "torch images/s", "onnxruntime images/s", "onnxruntime / torch",
                          "max |difference|"], rows))


if __name__ == "__main__":
    main()
