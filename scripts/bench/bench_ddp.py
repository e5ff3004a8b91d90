"""Training throughput on one process against Lightning DDP: the same global batch and optimizer steps,
1 process × 2 threads vs 2 processes × 1 thread (gloo) on this machine's CPU, and the scaling efficiency.

Both run ``scripts/train.py loss=dcontrastive`` on the digits with a fixed number of epochs, no early
stopping; the time is the report's ``training.seconds`` (``Trainer.fit`` alone, evaluation excluded).
Images/s = images through the tower (2 per pair, the global batch at every optimizer step) / that time.

    python scripts/bench/bench_ddp.py [--epochs 3] [--pairs 4000] [--batch 128] [--model convtower]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from common import ROOT, machine_header, markdown_table


def run(run_dir: Path, threads: int, overrides: list[str]) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "train.py"), f"hydra.run.dir={run_dir}",
                           *overrides], cwd=ROOT, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(overrides)} failed:\n{proc.stderr[-3000:]}")
    return json.loads((run_dir / "report.json").read_text())["training"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--pairs", type=int, default=4000, help="training pairs per epoch (all ranks together)")
    parser.add_argument("--batch", type=int, default=128, help="global batch in pairs")
    parser.add_argument("--model", default="convtower")
    args = parser.parse_args()
    print(machine_header())
    common = ["loss=dcontrastive", f"model={args.model}", f"trainer.max_epochs={args.epochs}",
              "callbacks.early_stopping=null", f"data.train_pairs={args.pairs}", "trainer.enable_progress_bar=false"]
    layouts = {"1 process × 2 threads": (2, [*common, f"data.batch_size={args.batch}"]),
               "2 processes × 1 thread (trainer=ddp, gloo)": (1, [*common, "trainer=ddp", "trainer.accelerator=cpu",
                                                                  "trainer.devices=2",
                                                                  f"data.batch_size={args.batch // 2}"])}
    rows, rates = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for k, (name, (threads, overrides)) in enumerate(layouts.items()):
            training = run(Path(tmp) / str(k), threads, overrides)
            images = 2 * training["steps"] * args.batch              # 2 images a pair, global batch a step
            rates[name] = images / training["seconds"]
            rows.append([name, training["processes"], training["steps"], f"{training['seconds']:.1f}",
                         f"{rates[name]:.0f}"])
    one, two = rates.values()
    print(f"\n## {args.model}, loss=dcontrastive, {args.epochs} epochs × {args.pairs} pairs, global batch "
          f"{args.batch} pairs\n")
    print(markdown_table(["layout", "processes", "optimizer steps (rank 0)", "fit s", "images/s"], rows))
    print(f"\nscaling efficiency (2 processes vs 1, same 2 cores): {two / one:.2f}× the throughput")


if __name__ == "__main__":
    main()
