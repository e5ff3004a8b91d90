"""Report files of a run: ``report.json``, ``report.md``, ``roc.png`` and ``distances.png``.

All four are written atomically (``siamese.atomic``), so a crash keeps the previous versions.
"""
from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from siamese import metrics  # noqa: E402
from siamese.atomic import atomic_write_many, json_bytes  # noqa: E402

REPORT_JSON, REPORT_MD, ROC_PNG, DIST_PNG = "report.json", "report.md", "roc.png", "distances.png"


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def headline(report: dict) -> dict[str, dict[str, str]]:
    """The figures quoted at the end of a run, grouped by the images they were measured on:
    ``{"<verification pairs>": {...}, "<query split> images": {...}}`` (one group when both are the
    run's own test split)."""
    v, r, o = report["verification"], report["retrieval"], report["one_shot"]
    pairs = "the test split" if report["test_pairs"] == "test split" else Path(report["test_pairs"]).name
    groups = {pairs: {
        "AUC": _fmt(v["auc"]),
        "EER": _fmt(v["eer"]),
        f"{v['folds']}-fold accuracy": f"{v['kfold_accuracy']:.4f} ± {v['kfold_std']:.4f}",
    }}
    images = "the test split" if r is None or r.get("queries") in (None, "test") else f"the {r['queries']} split"
    other = groups.setdefault(images, {})
    if r is not None:
        other["P@1"] = _fmt(r["p_at_1"])
    if o is not None:
        other[f"{o['n_way']}-way one-shot"] = _fmt(o["accuracy"])
    return {name: figures for name, figures in groups.items() if figures}


def render_markdown(report: dict) -> str:
    v, r, o = report["verification"], report["retrieval"], report["one_shot"]
    lines = [
        "# siamese report", "",
        f"- checkpoint: `{report.get('checkpoint')}` (sha256 `{report.get('checkpoint_sha256')}`)",
        f"- split: `{report['split']}`", "",
        "## Verification", "",
        f"{v['pairs']} pairs ({v['same_pairs']} same) from `{report['test_pairs']}`. Decision: same when distance ≤ "
        f"{v['threshold']:.4f} (threshold chosen on the validation pairs).", "",
        "| figure | value |", "|---|---|",
        f"| ROC AUC | {_fmt(v['auc'])} |",
        f"| EER | {_fmt(v['eer'])} (at distance {v['eer_threshold']:.4f}) |",
        f"| accuracy at the val threshold | {_fmt(v['accuracy'])} |",
        f"| {v['folds']}-fold accuracy (LFW protocol) | {v['kfold_accuracy']:.4f} ± {v['kfold_std']:.4f} |",
        *(f"| TAR @ FAR={far} | {_fmt(tar)} |" for far, tar in v["tar_at_far"].items()),
        "", "## Retrieval", "",
    ]
    if r is None:
        lines += ["Not measured: the data has no class ids (pairs only).", ""]
    else:
        lines += [
            f"{r['query_count']} `{r.get('queries')}` queries against a {r['gallery_size']}-item "
            f"`{r.get('gallery')}` gallery (FAISS).", "",
            "| figure | value |", "|---|---|",
            f"| P@1 | {_fmt(r['p_at_1'])} |",
            *(f"| R@{k} | {_fmt(val)} |" for k, val in r["recall_at_k"].items()),
            f"| MAP@R | {_fmt(r['map_at_r'])} |", "",
        ]
    lines += ["## One-shot", ""]
    if o is None:
        lines += ["Not measured: the data has no class ids (pairs only).", ""]
    else:
        lines += [f"{o['n_way']}-way, {o['trials']} trials on the `{(r or {}).get('queries', 'test')}` split's images "
                  f"(chance {1 / o['n_way']:.4f}): accuracy "
                  f"{_fmt(o['accuracy'])}; {o['single_image_classes']} single-image class(es) served only "
                  "as distractors.", ""]
    skipped = report.get("skipped_images") or []
    if skipped:
        lines += ["## Skipped images", "",
                  f"{len(skipped)} unreadable image(s) left out (data.source.on_bad_image=skip):", "",
                  *(f"- `{s['path']}`: {s['error']}" for s in skipped), ""]
    lines += ["![ROC](roc.png)", "", "![distances](distances.png)", ""]
    return "\n".join(lines)


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def roc_png(dist: np.ndarray, y: np.ndarray, verification: dict) -> bytes:
    """ROC on a log-FAR axis, with the EER point and the TAR@FAR points marked."""
    far, tar, _ = metrics.roc_curve(dist, y)
    floor = 1.0 / max(int((y == 0).sum()), 1)
    fig, ax = plt.subplots(figsize=(5.5, 4.2))
    ax.plot(np.maximum(far, floor / 2), tar, lw=1.5, label=f"ROC (AUC {verification['auc']:.4f})")
    eer = verification["eer"]
    ax.plot([max(eer, floor / 2)], [1 - eer], "o", color="C3", label=f"EER {eer:.4f}")
    for f, t in verification["tar_at_far"].items():
        if t is not None:
            ax.plot([float(f)], [t], "s", color="C2", ms=5)
            ax.annotate(f"TAR {t:.3f}", (float(f), t), textcoords="offset points", xytext=(4, -10), fontsize=8)
    ax.set_xscale("log")
    ax.set_xlim(floor / 2, 1.0)
    ax.set_ylim(0, 1.01)
    ax.set_xlabel("false accept rate (log)")
    ax.set_ylabel("true accept rate")
    ax.grid(alpha=0.3, which="both")
    ax.legend(loc="lower right", fontsize=8)
    return _png(fig)


def distances_png(dist: np.ndarray, y: np.ndarray, threshold: float) -> bytes:
    """Histograms of same / different pair distances with the decision threshold."""
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    bins = np.linspace(0, max(float(dist.max()), threshold) * 1.02 + 1e-9, 50)
    ax.hist(dist[y == 1], bins=bins, alpha=0.6, label="same (y=1)", color="C0")
    ax.hist(dist[y == 0], bins=bins, alpha=0.6, label="different (y=0)", color="C1")
    ax.axvline(threshold, color="k", ls="--", lw=1, label=f"threshold {threshold:.3f}")
    ax.set_xlabel("Euclidean distance of the pair's embeddings")
    ax.set_ylabel("pairs")
    ax.legend(fontsize=8)
    return _png(fig)


def write_report(run_dir: Path, report: dict, test_dist: np.ndarray, test_y: np.ndarray) -> None:
    """All four files, staged together: none replaces its predecessor before all are written."""
    run_dir = Path(run_dir)
    atomic_write_many({
        run_dir / ROC_PNG: roc_png(test_dist, test_y, report["verification"]),
        run_dir / DIST_PNG: distances_png(test_dist, test_y, report["verification"]["threshold"]),
        run_dir / REPORT_MD: render_markdown(report).encode(),
        run_dir / REPORT_JSON: json_bytes(report),
    })


def print_summary(report: dict, run_dir: Path) -> None:
    groups = headline(report)
    figures = "\n   ".join(("" if len(groups) == 1 else f"on {name}: ") + "  ".join(f"{k} {v}" for k, v in figs.items())
                           for name, figs in groups.items())
    print(f"\n== siamese: {run_dir}\n   {figures}\n"
          f"   wrote {REPORT_JSON}, {REPORT_MD}, {ROC_PNG}, {DIST_PNG}; checkpoint {report.get('checkpoint')}")
