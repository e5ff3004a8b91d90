"""Evaluation time on 2 CPU cores: 10 000 pairs, a 10 000-image gallery, 1000 one-shot trials.

Embeddings are synthetic but shaped like real ones: 100 identities × 100 images, D = 64, each
identity a random unit centre plus Gaussian noise (sigma 0.175 per dimension), L2-normalised
(generator: numpy default_rng(0)). Also times embedding 10 000 digit-sized images (1×16×16)
with the default tower, the other half of evaluating a real gallery.

    python scripts/bench/bench_eval.py
"""
from __future__ import annotations

import time

import numpy as np
import torch

from common import machine_header
from siamese import metrics
from siamese.evaluation import EvaluationSettings, retrieval_figures
from siamese.index import build_flat_index
from siamese.inference import embed
from siamese.nets import ConvTower


def clustered_embeddings(identities=100, per_identity=100, dim=64, sigma=0.175, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(identities, dim))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    labels = np.repeat(np.arange(identities), per_identity)
    x = centres[labels] + sigma * rng.normal(size=(len(labels), dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32), labels


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main() -> None:
    print(machine_header())
    s = EvaluationSettings()
    x, labels = clustered_embeddings()
    rng = np.random.default_rng(1)
    i, j = rng.integers(0, len(x), 10_000), rng.integers(0, len(x), 10_000)
    same = rng.random(10_000) < 0.5          # half the pairs re-drawn inside the anchor's identity
    j[same] = labels[i[same]] * 100 + (i[same] % 100 + rng.integers(1, 100, same.sum())) % 100
    y = (labels[i] == labels[j]).astype(int)
    dist = np.linalg.norm(x[i] - x[j], axis=1)

    def verification():
        metrics.equal_error_rate(dist, y), metrics.tar_at_far(dist, y, s.fars), metrics.best_threshold(dist, y)
        return f"AUC {metrics.roc_auc(dist, y):.4f}"

    steps = {
        "verification: AUC + EER + TAR@FAR + val threshold (10 000 pairs)": verification,
        "verification: 10-fold protocol (10 000 pairs)":
            lambda: f"accuracy {metrics.kfold_accuracy(dist, y, folds=10)['mean']:.4f}",
        "retrieval: FAISS Flat build + leave-one-out P@1, R@k, MAP@R (10 000 queries = gallery)":
            lambda: f"MAP@R {retrieval_figures(build_flat_index(x), labels, x, labels, s.ks, True)['map_at_r']:.4f}",
        "one-shot: 5-way, 1000 trials":
            lambda: f"accuracy {metrics.one_shot_accuracy(x, labels, 5, 1000)['accuracy']:.4f}",
    }
    total = 0.0
    print("\n| step | seconds | result |\n|---|---|---|")
    for name, fn in steps.items():
        result, seconds = timed(fn)
        total += seconds
        print(f"| {name} | {seconds:.2f} | {result} |")
    print(f"| **all metric steps** | **{total:.2f}** | |")

    torch.manual_seed(0)
    net = ConvTower(channels=[32, 64, 128], embedding_dim=64)
    images = torch.rand(10_000, 1, 16, 16)
    loader = [{"x": images[k:k + 256], "c": torch.zeros(len(images[k:k + 256]), dtype=torch.long)}
              for k in range(0, len(images), 256)]
    _, seconds = timed(lambda: embed(net, loader))
    print(f"| embedding 10 000 images 1×16×16, default tower, batch 256 | {seconds:.2f} | "
          f"{10_000 / seconds:.0f} images/s |")


if __name__ == "__main__":
    main()
