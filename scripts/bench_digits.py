"""Held-out AUC / EER / accuracy / P@1 on digits: each loss and split next to the untrained twin.

Runs siamese.pipeline.train on the default config for every (split, variant) and prints a
Markdown table; "untrained" is the same tower with `trainer.max_epochs=0`.

    python scripts/bench_digits.py [extra Hydra overrides, e.g. trainer.max_epochs=5]
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from hydra import compose, initialize_config_dir

from siamese.benchmarking import machine_header
from siamese.pipeline import train

CONF = Path(__file__).resolve().parents[1] / "conf"
VARIANTS = {
    "untrained": ["loss=dcontrastive", "trainer.max_epochs=0"],
    "contrastive": ["loss=contrastive"],
    "dcontrastive": ["loss=dcontrastive"],
}


def main() -> None:
    extra = sys.argv[1:]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for split in ("samples", "classes"):
            for name, overrides in VARIANTS.items():
                run_dir = Path(tmp) / f"{split}_{name}"
                with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
                    cfg = compose("train", [*overrides, f"data.split={split}", f"run_dir={run_dir}",
                                            "trainer.enable_progress_bar=false", *extra])
                start = time.perf_counter()
                report = train(cfg)
                seconds = time.perf_counter() - start
                v, r = report["verification"], report["retrieval"]
                rows.append(f"| {split} | {name} | {v['auc']:.4f} | {v['eer']:.4f} | {v['accuracy']:.4f} "
                            f"| {r['p_at_1']:.4f} | {seconds:.0f} |")
    print("\n" + machine_header())
    print("\n| split | model | test AUC | test EER | test accuracy (val threshold) | P@1 | run s |")
    print("|---|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
