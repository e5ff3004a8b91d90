"""Train every loss in conf/loss on digits with the same tower and budget; write docs/losses.md.

One Hydra multirun of scripts/train.py over `loss=<every conf/loss file>` × `data.split=samples,classes`,
early stopping off so every run gets the same number of epochs; then a table of the held-out figures
read back from each run's report.json. The runs stay in `multirun/compare_losses_<time>`;
`--sweep DIR [DIR ...]` rebuilds the table from such folders without training again.

    python scripts/bench/compare_losses.py [--epochs 5] [--out docs/losses.md] [--sweep DIR ...] [--set k=v ...]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from omegaconf import OmegaConf

from common import machine_header

ROOT = Path(__file__).resolve().parents[2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--out", default=str(ROOT / "docs" / "losses.md"))
    parser.add_argument("--sweep", nargs="+", help="existing sweep folder(s): only rebuild the table")
    parser.add_argument("--set", nargs="*", default=[], help="extra overrides for every run (key=value)")
    args = parser.parse_args()
    losses = sorted(p.stem for p in (ROOT / "conf" / "loss").glob("*.yaml"))
    rows = []
    sweeps = [Path(p) for p in args.sweep or [ROOT / "multirun" / time.strftime("compare_losses_%Y-%m-%d_%H-%M-%S")]]
    if not args.sweep:
        sweep = sweeps[0]
        command = [sys.executable, str(ROOT / "scripts" / "train.py"), "-m", f"loss={','.join(losses)}",
                   "data.split=samples,classes", f"trainer.max_epochs={args.epochs}",
                   "trainer.enable_progress_bar=false", "callbacks.early_stopping=null",
                   f"hydra.sweep.dir={sweep}", *args.set]
        subprocess.run(command, check=True, cwd=ROOT)
    runs = [p for sweep in sweeps for p in sweep.iterdir() if p.is_dir() and p.name.split("_")[0].isdigit()]
    for run in runs:
        overrides = dict(o.split("=", 1) for o in OmegaConf.load(run / ".hydra" / "overrides.yaml"))
        report = json.loads((run / "report.json").read_text())
        v, r, o, t = report["verification"], report["retrieval"], report["one_shot"], report["training"]
        rows.append((overrides["data.split"], overrides["loss"],
                     f"| {overrides['data.split']} | {overrides['loss']} | {v['auc']:.4f} | {v['eer']:.4f} "
                     f"| {r['p_at_1']:.4f} | {r['map_at_r']:.4f} | {o['accuracy']:.4f} ({o['n_way']}-way) "
                     f"| {1e3 * t['seconds'] / max(t['steps'], 1):.0f} |"))
    rows.sort()
    text = "\n".join([
        "# Losses compared on digits", "",
        "Every loss of `conf/loss` trained with the same tower (`[32, 64, 128]`, 16×16 digits), "
        f"{args.epochs} epochs of 4000 pairs (8000 images; the P×K losses see the same number of "
        "images per epoch), the default model embedding (`concat`) and optimizer (Adam 1e-3, weight "
        f"decay {OmegaConf.load(ROOT / 'conf' / 'optimizer' / 'adam.yaml').weight_decay:g}, cosine decay) "
        "unless `--set` says otherwise, seed 0, early stopping off; figures on the "
        "held-out test pairs / queries. `split=classes` evaluates on digits 7–9, never seen in "
        "training (so one-shot is 3-way). One seed: differences of a few thousandths are noise. "
        "ms / step is wall time of `Trainer.fit` over its steps (validation included): a batch is 128 "
        "pairs = 256 images for the sampled-pair and classification losses but P×K = 6 × 16 = 96 images "
        "for dcontrastive (every pair of the batch), triplet / TriHard / quadruplet / MSML, so compare "
        "step times within a family; "
        "`scripts/bench/bench_losses.py` times losses cleanly.", "",
        "```", machine_header().replace(sys.argv[0], "scripts/bench/compare_losses.py"), "```", "",
        "| split | loss | AUC | EER | P@1 | MAP@R | one-shot | ms / step |",
        "|---|---|---|---|---|---|---|---|",
        *(row for _, _, row in rows), "",
    ])
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
