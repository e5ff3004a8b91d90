"""Held-out match figures on digits: each loss and split next to the untrained tower and raw pixels.

Runs siamese.pipeline.train on the default config for every (split, variant) and prints a
Markdown table. "untrained" is the same tower with `trainer.max_epochs=0`; "raw pixels" evaluates
the flattened, L2-normalised images (siamese.nets.RawPixels) through the same evaluation code.

    python scripts/bench/bench_digits.py [extra Hydra overrides, e.g. trainer.max_epochs=5]
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from common import compose_config, machine_header, raw_pixels_report
from siamese.pipeline import train

VARIANTS = {
    "raw pixels": None,
    "untrained": ["loss=dcontrastive", "trainer.max_epochs=0"],
    "contrastive": ["loss=contrastive"],
    "dcontrastive": ["loss=dcontrastive"],
}


def row(split: str, name: str, report: dict, seconds: float) -> str:
    v, r, o = report["verification"], report["retrieval"], report["one_shot"]
    tar = v["tar_at_far"]["0.01"]
    return (f"| {split} | {name} | {v['auc']:.4f} | {v['eer']:.4f} | {v['kfold_accuracy']:.4f} ± {v['kfold_std']:.4f} "
            f"| {'n/a' if tar is None else f'{tar:.4f}'} | {r['p_at_1']:.4f} | {r['map_at_r']:.4f} "
            f"| {o['accuracy']:.4f} ({o['n_way']}-way) | {seconds:.0f} |")


def main() -> None:
    extra = sys.argv[1:]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for split in ("samples", "classes"):
            for name, overrides in VARIANTS.items():
                cfg = compose_config("train", [*(overrides or []), f"data.split={split}",
                                               f"run_dir={Path(tmp) / f'{split}_{len(rows)}'}",
                                               "trainer.enable_progress_bar=false", *extra])
                start = time.perf_counter()
                if overrides is None:
                    report = raw_pixels_report(cfg)
                else:
                    report = train(cfg)
                rows.append(row(split, name, report, time.perf_counter() - start))
    print("\n" + machine_header())
    print("\n| split | model | AUC | EER | 10-fold acc. | TAR@FAR=1e-2 | P@1 | MAP@R | one-shot | s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
