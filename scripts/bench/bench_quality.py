"""Verifiers on unseen classes, side by side: our recipe vs pytorch-metric-learning's, 3 seeds.

On class-disjoint digits (`data.split=classes`: train 0–6, evaluate 7–9), or on any image folder
(`--folder ROOT`, `data=folder data.split=classes`), with the same tower, epochs and images seen:

- ours:        `python scripts/train.py loss=<--loss>` with the config's defaults (plus `--set` overrides);
- PML:         pytorch-metric-learning's `ContrastiveLoss()` with its defaults (pos margin 0,
               neg margin 1, Euclidean distance on the normalised embeddings, AvgNonZeroReducer)
               on P×K batches — our P×K sampler draws batches the way PML's MPerClassSampler does
               (K images of each of P classes); PML is imported here only, as the peer. It trains
               the model embedding, once for each `model.embedding` (last stage; all stages
               concatenated) and each `optimizer.weight_decay` (the default; 0), so it is
               measured at its best setting whatever ours uses;
- raw pixels:  the flattened, L2-normalised images;
- untrained:   the same tower with `trainer.max_epochs=0`.

Early stopping is off, so every trained variant gets exactly `--epochs` epochs. Figures are
mean ± std over the seeds.

    python scripts/bench/bench_quality.py [--seeds 0 1 2] [--epochs 10] [--loss dcontrastive] [--set k=v ...]
                                    [--folder ROOT | --glyphs] [--variants NAME_PART ...] [--folds F]
"""
from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import tempfile
import time

from omegaconf import OmegaConf
from pytorch_metric_learning.losses import ContrastiveLoss as PMLContrastiveLoss

from common import CONF, compose_config, machine_header, raw_pixels_report
from siamese.losses import ClassIdLoss
from siamese.nets import EMBEDDINGS
from siamese.pipeline import train

FIGURES = ("auc", "eer", "map_at_r", "p_at_1", "one_shot", "train_s")


class PMLContrastivePeer(ClassIdLoss):
    """PML's ContrastiveLoss with its defaults on the batch's embeddings and class ids."""

    batch_kind = "pk"

    def __init__(self):
        super().__init__()
        self.pml = PMLContrastiveLoss()

    def compute_batch(self, x, labels):
        return {"loss": self.pml(x, labels)}


def figures(report: dict, seconds: float) -> dict:
    v, r, o = report["verification"], report["retrieval"], report["one_shot"]
    return {"auc": v["auc"], "eer": v["eer"], "map_at_r": r["map_at_r"], "p_at_1": r["p_at_1"],
            "one_shot": o["accuracy"], "n_way": o["n_way"], "train_s": seconds}


def run(overrides: list[str] | None, base: list[str], tmp: str) -> dict:
    """Train (or, for ``overrides=None``, evaluate raw pixels) and return the figures."""
    cfg = compose_config("train", [*base, *(overrides or []), f"run_dir={tmp}", "trainer.enable_progress_bar=false",
                            "callbacks.early_stopping=null"])
    if overrides is None:
        return figures(raw_pixels_report(cfg), 0.0)
    with contextlib.redirect_stdout(io.StringIO()):
        report = train(cfg)
    return figures(report, report["training"]["seconds"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--loss", default="dcontrastive")
    parser.add_argument("--set", nargs="*", default=[], help="extra overrides for our recipe (key=value)")
    parser.add_argument("--folder", help="an image folder root/<class>/<image> instead of digits")
    parser.add_argument("--glyphs", action="store_true", help="the built-in glyphs (data=glyphs) instead of digits")
    parser.add_argument("--variants", nargs="+", help="run only the variants whose name contains one of these")
    parser.add_argument("--folds", type=int, default=None,
                        help="deal the classes into this many folds (data.class_folds) and run every fold per seed")
    args = parser.parse_args()
    data = (["data=folder", f"data.source.root={args.folder}"] if args.folder else ["data=glyphs"] if args.glyphs
            else [])
    default_wd = OmegaConf.load(CONF / "optimizer" / "adam.yaml").weight_decay
    base = [*data, "data.split=classes", f"trainer.max_epochs={args.epochs}"]
    pml = ["loss=contrastive", f"loss._target_={__name__}.PMLContrastivePeer", "~loss.margin", "~loss.form",
           "~loss.pairs", "~loss/reducer"]
    variants = {
        f"ours ({args.loss}{', ' + ' '.join(args.set) if args.set else ''})": [f"loss={args.loss}", *args.set],
        **{f"PML ContrastiveLoss (defaults), P×K, model.embedding={how}, "
           f"{'weight decay ' + str(wd) if wd else 'no weight decay'}":
           [*pml, f"model.embedding={how}", f"optimizer.weight_decay={wd}"]
           for how in EMBEDDINGS for wd in (default_wd, 0.0)},
        "raw pixels": None,
        "untrained tower": [f"loss={args.loss}", *args.set, "trainer.max_epochs=0"],
    }
    if args.variants:
        variants = {name: o for name, o in variants.items() if any(v in name for v in args.variants)}
    results = {name: [] for name in variants}
    folds = [[f"data.class_folds={args.folds}", f"data.class_fold={f}"] for f in range(args.folds)] if args.folds \
        else [[]]
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            for f, fold in enumerate(folds):
                for k, (name, overrides) in enumerate(variants.items()):
                    start = time.perf_counter()
                    figures_ = run(overrides, [*base, *fold, f"seed={seed}"], f"{tmp}/{seed}_{f}_{k}")
                    results[name].append({**figures_, "fold": f})
                    print(f"seed {seed} fold {f}: {name} done in {time.perf_counter() - start:.0f} s", flush=True)
    print("\n" + machine_header())
    over = f"{args.folds} class folds × seeds {args.seeds}" if args.folds else f"seeds {args.seeds}"
    name = "folder " + args.folder if args.folder else "glyphs" if args.glyphs else "digits"
    print(f"\ndata: {name}, split=classes, {args.epochs} epochs, "
          f"{over}; mean ± std over all of them; worst fold: the fold of the lowest mean AUC\n")
    n_way = results[next(iter(results))][0]["n_way"]
    print(f"| variant | AUC | EER | MAP@R | P@1 | {n_way}-way one-shot | train s | worst fold AUC |")
    print("|---|---|---|---|---|---|---|---|")
    for name, rows in results.items():
        by_fold = {f: statistics.mean(r["auc"] for r in rows if r["fold"] == f) for f in {r["fold"] for r in rows}}
        worst = min(by_fold, key=by_fold.get)
        cells = []
        for key in FIGURES:
            values = [r[key] for r in rows]
            std = statistics.pstdev(values) if len(values) > 1 else 0.0
            cells.append(f"{statistics.mean(values):.1f} ± {std:.1f}" if key == "train_s"
                         else f"{statistics.mean(values):.4f} ± {std:.4f}")
        print(f"| {name} | " + " | ".join(cells) + f" | {by_fold[worst]:.4f} (fold {worst}) |")


if __name__ == "__main__":
    main()
