"""Verifiers on unseen classes, side by side: our losses vs pytorch-metric-learning's, folds × seeds.

On class-disjoint digits (`data.split=classes`: train 0–6, evaluate 7–9, or with `--folds F` the
classes dealt into F seeded folds, each held out in turn), on the built-in glyphs (`--glyphs`), or on
any image folder (`--folder ROOT`), with the same tower, epochs and images seen:

- ours:        `python scripts/train.py loss=<L> [overrides]` for each `--losses "L [overrides]"` with
               the config's defaults (plus `--set` overrides for all of them);
- PML:         pytorch-metric-learning's `ContrastiveLoss()` with its defaults (pos margin 0,
               neg margin 1, Euclidean distance on the normalised embeddings, AvgNonZeroReducer)
               on P×K batches — our P×K sampler draws batches the way PML's MPerClassSampler does
               (K images of each of P classes); PML is imported here only, as the peer. It trains
               the model embedding, once for each `model.embedding` (last stage; all stages
               concatenated) and each `optimizer.weight_decay` (1e-3; 0), so it is
               measured at its best setting whatever ours uses (`--peer-set k=v` gives it a training
               knob tried on ours, e.g. the learning rate, so the peer is retuned too);
- raw pixels:  the flattened, L2-normalised images;
- untrained:   the same tower with `trainer.max_epochs=0`.

Early stopping is off, so every trained variant gets exactly `--epochs` epochs (the equal-images
table). `--equal-time` adds a second table at equal wall time: each trained variant is rerun with
its epochs scaled by (the first variant's mean training time / its own), rounded, so every variant
trains about as long as the first. Figures are mean ± std over folds × seeds. `--log FILE` appends
every run's figures as a JSON line and skips runs already there (a killed benchmark resumes).
`--against NAME_PART` adds a paired table: each variant minus that variant, run by run (same seed and
fold), mean ± std of the differences, so a lead is judged against the spread of the differences
rather than against the spread between folds.

    python scripts/bench/bench_quality.py [--seeds 0 1 2] [--epochs 10] [--losses dcontrastive ...]
        [--set k=v ...] [--peer-set k=v ...] [--folder ROOT | --glyphs] [--data-set k=v ...]
        [--variants NAME_PART ...] [--folds F] [--equal-time] [--against NAME_PART] [--log FILE [--report-only]]
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import statistics
import tempfile
import time
import types
from pathlib import Path

from pytorch_metric_learning.losses import ContrastiveLoss as PMLContrastiveLoss

import siamese.pipeline as pipeline
from common import compose_config, machine_header, raw_pixels_report
from siamese.losses import ClassIdLoss
from siamese.nets import EMBEDDINGS, RawPixels
from siamese.pipeline import train

PEER_WEIGHT_DECAYS = (0.001, 0.0)             # PML is measured at both; its best is reported
FLOORS = ("raw pixels", "untrained tower")    # never trained: 0 epochs in both tables
FIGURES = ("auc", "eer", "map_at_r", "p_at_1", "one_shot", "train_s")
HIGHER_IS_BETTER = ("auc", "map_at_r", "p_at_1", "one_shot")
PML_OVERRIDES = ["loss=contrastive", f"loss._target_={__name__}.PMLContrastivePeer", "~loss.margin", "~loss.form",
                 "~loss.pairs", "~loss.gather", "~loss.memory", "~loss/reducer"]   # the peer in place of our loss


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
            "one_shot": o["accuracy"], "n_way": o["n_way"], "train_s": seconds,
            "images": report.get("training", {}).get("images_seen", 0),
            "evaluated_epoch": report.get("training", {}).get("evaluated_epoch")}


def run(overrides: list[str] | None, base: list[str], tmp: str) -> dict:
    """Train (or, for ``overrides=None``, evaluate raw pixels) and return the figures."""
    cfg = compose_config("train", [*base, *(overrides or []), f"run_dir={tmp}", "trainer.enable_progress_bar=false",
                            "callbacks.early_stopping=null"])
    if overrides is None:
        return figures(raw_pixels_report(cfg), 0.0)
    with contextlib.redirect_stdout(io.StringIO()):
        report = train(cfg)
    return figures(report, report["training"]["seconds"])


def candidates(args) -> dict[str, list[str] | None]:
    """Variant name -> its overrides (``None``: raw pixels), filtered by ``--variants``."""
    ours = {}
    for recipe in args.losses:                    # "dcontrastive" or "dcontrastive loss.m1=0 ...": a loss + overrides
        loss, *overrides = recipe.split()
        overrides += args.set
        ours[f"ours ({loss}{', ' + ' '.join(overrides) if overrides else ''})"] = [f"loss={loss}", *overrides]
    variants = {
        **ours,
        **{f"PML ContrastiveLoss (defaults), P×K, model.embedding={how}, "
           f"{'weight decay ' + str(wd) if wd else 'no weight decay'}{''.join(', ' + o for o in args.peer_set)}":
           [*PML_OVERRIDES, f"model.embedding={how}", f"optimizer.weight_decay={wd}", *args.peer_set]
           for how in EMBEDDINGS for wd in PEER_WEIGHT_DECAYS},
        "raw pixels": None,
        "untrained tower": next(iter(ours.values())),                 # trained for 0 epochs
    }
    if args.variants:
        variants = {name: o for name, o in variants.items() if any(v in name for v in args.variants)}
    return variants


def read_log(path: Path | str) -> list[dict]:
    """The runs of a ``--log`` file: one JSON object a line."""
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


def read_runs(*paths: Path | str, variant: str | None = None, seeds=None) -> list[dict]:
    """The runs of one or more ``--log`` files, in order, of one ``variant`` and of some ``seeds`` when given."""
    return [r for path in paths for r in read_log(path)
            if (variant is None or r["variant"] == variant) and (seeds is None or r["seed"] in seeds)]


def probe_runs(data: str, seeds: str, folds: str, log: str, names: list[str], base: list[str], run_one) -> None:
    """The rounds' probes' loop (``docs/quality-logs/round*/probe_*.py``): each variant of ``names`` on each
    seed × class fold of the comma lists ``seeds``, ``folds`` (of 3 folds) over the overrides ``base``.
    ``run_one(name, overrides, tmp_dir)`` trains or evaluates one run and returns its figures by way of
    evaluating (``{way: figures}``); each run is appended to ``log`` as a JSON line and printed (MAP@R by way)."""
    for seed in map(int, seeds.split(",")):
        for fold in map(int, folds.split(",")):
            for name in names:
                at = [*base, "data.class_folds=3", f"data.class_fold={fold}", f"seed={seed}"]
                with tempfile.TemporaryDirectory() as tmp:
                    ways = run_one(name, at, tmp)
                with open(log, "a") as out:
                    out.write(json.dumps({"data": data, "variant": name, "seed": seed, "fold": fold, **ways}) + "\n")
                print(name, seed, fold, {how: round(f["map_at_r"], 4) for how, f in ways.items()}, flush=True)


def probe_overrides(data: str) -> list[str]:
    """The held-out-class overrides of a probe's DATA: ``d`` digits, ``g<px>`` glyphs at that size, or an image
    folder's root (``/…``) with round 21's settings (16 px, digits' batch, ``auto``'s turns)."""
    folder = ["data=folder", f"data.source.root={data}", "data.source.image_size=16", "data.source.cache=memory",
              "data.num_workers=0", "data.p=6", "data.k=16", "data.rotated_classes=auto"]
    return ["data.split=classes"] + (folder if data.startswith("/") else
                                     ["data=glyphs", f"data.source.image_size={data[1:]}"] if data != "d" else [])


def probe_ways(argv: list[str], variants: dict[str, list[str] | None], make_ways) -> None:
    """A probe (``docs/quality-logs/round*/probe_*.py``) from its command line ``DATA SEEDS FOLDS LOG VARIANT...``:
    each named variant — its overrides trained for 10 epochs, or ``None`` for raw pixels — on every seed × fold
    of ``probe_overrides(DATA)`` (``probe_runs``), evaluated from the same weights plainly and in each way of
    ``make_ways(net, datamodule)``, called after the plain evaluation: ``{way: (method, function)}``, the
    function standing in for that method of the tower (e.g. ``final``) while the way is evaluated, with a fresh
    gallery index each. Each run's line holds ``plain`` and every way's figures."""
    data, seeds, folds, log, *names = argv
    evaluate_plain, found = pipeline.evaluate_model, {}

    def evaluate_every_way(net, datamodule, settings, **kw):
        net.eval()
        plain = evaluate_plain(net, datamodule, settings, **kw)
        found["plain"] = figures(plain.report, 0)
        rebuild = {k: v for k, v in kw.items() if k != "index"}
        for way, (method, function) in make_ways(net, datamodule).items():
            setattr(net, method, types.MethodType(function, net))
            found[way] = figures(evaluate_plain(net, datamodule, settings, **rebuild).report, 0)
            delattr(net, method)
        return plain

    def run_one(name: str, at: list[str], tmp: str) -> dict:
        found.clear()
        if variants[name] is None:
            cfg = compose_config("train", [*at, f"run_dir={tmp}"])
            _, datamodule = pipeline.build(cfg)
            evaluate_every_way(RawPixels(), datamodule, pipeline.settings_from(cfg))
        else:
            pipeline.evaluate_model = evaluate_every_way
            try:
                run([*variants[name], "trainer.max_epochs=10"], at, tmp)
            finally:
                pipeline.evaluate_model = evaluate_plain
        return dict(found)

    probe_runs(data, seeds, folds, log, names, probe_overrides(data), run_one)


def run_all(variants: dict, epochs: dict[str, int], args, base: list[str], log: Path | None) -> dict[str, list]:
    """Every variant over seeds × folds at ``epochs[name]`` epochs; rows already in ``log`` are reused."""
    done = read_log(log) if log and log.exists() else []
    folds = [[f"data.class_folds={args.folds}", f"data.class_fold={f}"] for f in range(args.folds)] if args.folds \
        else [[]]
    results = {name: [] for name in variants}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            for f, fold in enumerate(folds):
                for k, (name, overrides) in enumerate(variants.items()):
                    key = {"variant": name, "seed": seed, "fold": f, "epochs": epochs[name]}
                    row = next((r for r in done if all(r[a] == b for a, b in key.items())), None)
                    if row is None and args.report_only:
                        continue
                    if row is None:
                        start = time.perf_counter()
                        trained = None if overrides is None else [*overrides, f"trainer.max_epochs={epochs[name]}"]
                        row = {**key, **run(trained, [*base, *fold, f"seed={seed}"], f"{tmp}/{seed}_{f}_{k}")}
                        if log:
                            with log.open("a") as out:
                                out.write(json.dumps(row) + "\n")
                        print(f"seed {seed} fold {f}: {name} ({epochs[name]} epochs) done in "
                              f"{time.perf_counter() - start:.0f} s", flush=True)
                    results[name].append(row)
    if args.report_only:      # only the (seed, fold) runs every variant has: a like-for-like table
        common = set.intersection(*({(r["seed"], r["fold"]) for r in rows} for rows in results.values()))
        results = {name: [r for r in rows if (r["seed"], r["fold"]) in common] for name, rows in results.items()}
        print(f"report only: the {len(common)} (seed, fold) runs every variant has: {sorted(common)}")
    return results


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and population standard deviation (0 for a single value)."""
    return statistics.mean(values), statistics.pstdev(values)


def print_table(results: dict[str, list]) -> None:
    """One markdown row a variant: mean ± std of every figure over its runs, and its worst fold."""
    n_way = results[next(iter(results))][0]["n_way"]
    print(f"| variant | epochs | images seen | AUC | EER | MAP@R | P@1 | {n_way}-way one-shot | train s | "
          "worst fold AUC |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, rows in results.items():
        by_fold = {f: statistics.mean(r["auc"] for r in rows if r["fold"] == f) for f in {r["fold"] for r in rows}}
        worst = min(by_fold, key=by_fold.get)
        cells = []
        for key in FIGURES:
            mean, std = mean_std([r[key] for r in rows])
            cells.append(f"{mean:.1f} ± {std:.1f}" if key == "train_s" else f"{mean:.4f} ± {std:.4f}")
        images = f"{statistics.mean(r['images'] for r in rows):,.0f}"
        print(f"| {name} | {rows[0]['epochs']} | {images} | " + " | ".join(cells)
              + f" | {by_fold[worst]:.4f} (fold {worst}) |")


def print_paired(results: dict[str, list], against: str) -> None:
    """Each variant minus the reference variant (the first whose name contains ``against``), run by run.

    For a figure f and the runs r both have (same seed, same fold), the row gives mean_r Δ ± std_r Δ
    with Δ_r = f(variant, r) − f(reference, r), and marks ▲ where mean Δ > std Δ (ahead by more than
    one standard deviation of the paired differences) and ▼ where mean Δ < −std Δ. Pairing removes
    the fold-to-fold spread both variants share, which dominates the per-row std of the main table.
    """
    reference = next((name for name in results if against in name), None)
    if reference is None:
        raise SystemExit(f"--against {against!r}: no variant's name contains it; variants: {list(results)}")
    print(f"\nPaired against '{reference}' (each run minus the reference's run of the same seed and fold; "
          "▲ / ▼: mean difference above / below one std of the differences):\n")
    print_paired_rows("variant", [(name, rows, results[reference]) for name, rows in results.items()
                                  if name != reference])


def print_paired_rows(first: str, comparisons: list[tuple[str, list[dict], list[dict]]]) -> None:
    """A markdown table of ``paired_cells``: header ``| first | runs | Δ … |``, then one row for each
    ``(label, rows, reference)`` that has runs in common with its reference."""
    print(f"| {first} | runs | " + " | ".join(f"Δ {key}" for key in HIGHER_IS_BETTER) + " |")
    print("|---|---|" + "---|" * len(HIGHER_IS_BETTER))
    for label, rows, reference in comparisons:
        runs, cells = paired_cells(rows, reference)
        if runs:
            print(f"| {label} | {runs} | " + " | ".join(cells) + " |")


def print_mean_rows(first: str, rows: list[tuple[str, list[dict]]], spread: bool = False) -> None:
    """A markdown table of each ``(label, runs)``'s mean of every ``HIGHER_IS_BETTER`` figure (``spread``:
    mean ± std): header ``| first | runs | auc … |`` (``first`` may hold several columns, ``"a | b"``,
    and each label as many cells), then one row for each label that has runs."""
    print(f"| {first} | runs | " + " | ".join(HIGHER_IS_BETTER) + " |")
    print("|---" * (first.count("|") + 2 + len(HIGHER_IS_BETTER)) + "|")
    for label, runs in rows:
        if runs:
            cells = [mean_std([r[key] for r in runs]) for key in HIGHER_IS_BETTER]
            print(f"| {label} | {len(runs)} | " + " | ".join(
                f"{mean:.4f} ± {std:.4f}" if spread else f"{mean:.4f}" for mean, std in cells) + " |")


def paired_cells(rows: list[dict], reference: list[dict]) -> tuple[int, list[str]]:
    """``rows`` minus ``reference`` on the runs both have (same seed and fold): the number of those runs
    and a ``"+mean ± std"`` cell for each of ``HIGHER_IS_BETTER``, marked ▲ / ▼ beyond one std."""
    ref = {(r["seed"], r["fold"]): r for r in reference}
    pairs = [(r, ref[r["seed"], r["fold"]]) for r in rows if (r["seed"], r["fold"]) in ref]
    if not pairs:
        return 0, []
    cells = []
    for key in HIGHER_IS_BETTER:
        mean, std = mean_std([r[key] - q[key] for r, q in pairs])
        mark = " ▲" if mean > std else " ▼" if mean < -std else ""
        cells.append(f"{mean:+.4f} ± {std:.4f}{mark}")
    return len(pairs), cells


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--losses", nargs="+", default=["dcontrastive"],
                        help="our recipes: a conf/loss name, optionally with overrides ('dcontrastive loss.m1=0')")
    parser.add_argument("--set", nargs="*", default=[], help="extra overrides for our recipes (key=value)")
    parser.add_argument("--peer-set", nargs="*", default=[],
                        help="extra overrides for the peer's runs, named in its rows (e.g. optimizer.lr=0.003, "
                             "to retune the peer at a setting tried on ours)")
    parser.add_argument("--data-set", nargs="*", default=[],
                        help="overrides for every variant's data (e.g. data.source.image_size=16)")
    parser.add_argument("--folder", help="an image folder root/<class>/<image> instead of digits")
    parser.add_argument("--glyphs", action="store_true", help="the built-in glyphs (data=glyphs) instead of digits")
    parser.add_argument("--variants", nargs="+", help="run only the variants whose name contains one of these")
    parser.add_argument("--folds", type=int, default=None,
                        help="deal the classes into this many folds (data.class_folds) and run every fold per seed")
    parser.add_argument("--equal-time", action="store_true",
                        help="also rerun every trained variant for about the first variant's training time")
    parser.add_argument("--log", type=Path, help="append each run as a JSON line; skip runs already there")
    parser.add_argument("--against", help="also print each variant's run-by-run differences from the variant "
                                          "whose name contains this (e.g. 'PML')")
    parser.add_argument("--report-only", action="store_true",
                        help="train nothing: tables from the --log rows of the (seed, fold) runs every variant has")
    args = parser.parse_args()
    data = (["data=folder", f"data.source.root={args.folder}"] if args.folder else ["data=glyphs"] if args.glyphs
            else [])
    base = [*data, "data.split=classes", *args.data_set]
    variants = candidates(args)
    epochs = {name: 0 if name in FLOORS else args.epochs for name in variants}
    results = run_all(variants, epochs, args, base, args.log)
    print("\n" + machine_header())
    over = f"{args.folds} class folds × seeds {args.seeds}" if args.folds else f"seeds {args.seeds}"
    name = ("folder " + args.folder if args.folder else "glyphs" if args.glyphs else "digits") + \
        "".join(" " + o for o in args.data_set)
    print(f"\ndata: {name}, split=classes, {over}; mean ± std over all of them; worst fold: the fold of the "
          f"lowest mean AUC\n\nEqual images seen (every trained variant {args.epochs} epochs):\n")
    print_table(results)
    if args.against:
        print_paired(results, args.against)
    if args.equal_time:
        reference = statistics.mean(r["train_s"] for r in results[next(iter(results))])
        epochs = {name: 0 if name in FLOORS else
                  max(1, round(args.epochs * reference / statistics.mean(r["train_s"] for r in rows)))
                  for name, rows in results.items()}
        print(f"\nEqual wall time (each trained variant's epochs scaled to {reference:.1f} s, the first "
              "variant's mean training time):\n")
        print_table(run_all(variants, epochs, args, base, args.log))


if __name__ == "__main__":
    main()
