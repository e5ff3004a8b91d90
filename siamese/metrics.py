"""Match-evaluation metrics as plain functions: arrays in, floats out, no Lightning inside.

Verification works on pair *distances* ``dist (N,)`` (Euclidean, ``>= 0``; smaller = more alike)
and pair labels ``y (N,)`` with ``y = 1`` same class, ``y = 0`` different. A pair is declared
*same* when ``dist <= threshold``. ROC code gets the score ``1 / (1 + dist)``: higher means "same",
and it lies in ``(0, 1]`` so torchmetrics takes it as a probability (it would pass scores outside
``[0, 1]`` through a sigmoid, distorting the thresholds it returns).
"""
from __future__ import annotations

import numpy as np
import torch
from torchmetrics.functional.classification import binary_auroc, binary_roc


def _check_pairs(dist, y) -> tuple[np.ndarray, np.ndarray]:
    dist = np.asarray(dist, dtype=np.float64).reshape(-1)
    y = np.asarray(y).reshape(-1)
    if dist.shape != y.shape:
        raise ValueError(f"distances and labels differ in length: {dist.shape[0]} vs {y.shape[0]}")
    if dist.size == 0:
        raise ValueError("no pairs to evaluate")
    if not np.isfinite(dist).all():
        raise ValueError(f"{int((~np.isfinite(dist)).sum())} pair distance(s) are NaN or infinite")
    if dist.min() < 0:
        raise ValueError(f"distances must be >= 0, got {dist.min()}")
    if not np.isin(y, (0, 1)).all():
        raise ValueError(f"pair labels must be 0 (different) or 1 (same), got {np.unique(y)[:10]}")
    if y.min() == y.max():
        raise ValueError(f"all {y.size} pairs have label {int(y[0])}: both same and different pairs are needed")
    return dist, y.astype(np.int64)


def _scores(dist: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(1.0 / (1.0 + dist))


def roc_auc(dist, y) -> float:
    """Area under the ROC curve, ``y = 1`` the positive class (0.5 = chance, 1 = perfect)."""
    dist, y = _check_pairs(dist, y)
    return float(binary_auroc(_scores(dist), torch.from_numpy(y)))


def roc_curve(dist, y) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(far, tar, thresholds)``: false- and true-accept rates when accepting ``dist <= thresholds``.

    Rows run from the strictest threshold to the loosest (``far`` non-decreasing); the first row is
    "accept nothing" (``far = tar = 0``, threshold ``-inf``).
    """
    dist, y = _check_pairs(dist, y)
    far, tar, score_thr = binary_roc(_scores(dist), torch.from_numpy(y))
    thr = 1.0 / score_thr.double().numpy() - 1.0
    thr[0] = -np.inf
    return far.double().numpy(), tar.double().numpy(), thr


def equal_error_rate(dist, y) -> tuple[float, float]:
    """``(eer, threshold)`` where the false-accept rate equals the false-reject rate ``1 - tar``.

    Linear interpolation (of both rate and threshold) between the two ROC points that bracket
    ``far = frr``; the ROC starts at ``far = 0, frr = 1`` and ends at ``far = 1, frr = 0``.
    """
    far, tar, thr = roc_curve(dist, y)
    frr = 1.0 - tar
    k = int(np.argmax(far >= frr))              # k >= 1: at row 0, far = 0 < frr = 1
    gap0, gap1 = frr[k - 1] - far[k - 1], far[k] - frr[k]
    t = gap0 / (gap0 + gap1)
    eer = far[k - 1] + t * (far[k] - far[k - 1])
    threshold = thr[k] if k == 1 else thr[k - 1] + t * (thr[k] - thr[k - 1])
    return float(eer), float(threshold)


def accuracy_at(dist, y, threshold: float) -> float:
    """Share of pairs classified right by "same iff ``dist <= threshold``"."""
    dist, y = _check_pairs(dist, y)
    return float(np.mean((dist <= threshold) == (y == 1)))


def best_threshold(dist, y) -> tuple[float, float]:
    """``(threshold, accuracy)`` maximising accuracy; the threshold is a midpoint between distances.

    Exhaustive over the ``N + 1`` cuts of the sorted distances, ``O(N log N)``.
    """
    dist, y = _check_pairs(dist, y)
    order = np.argsort(dist, kind="stable")
    d, lab = dist[order], y[order]
    # accepting the first k pairs: correct = same pairs among them + different pairs after them
    same_before = np.concatenate([[0], np.cumsum(lab)])
    diff_after = (lab == 0).sum() - np.concatenate([[0], np.cumsum(lab == 0)])
    correct = same_before + diff_after
    distinct = np.concatenate([[True], d[1:] > d[:-1], [True]])  # cuts between distinct values only
    k = int(np.argmax(np.where(distinct, correct, -1)))
    lo = d[k - 1] if k > 0 else d[0] - 1.0
    hi = d[k] if k < len(d) else d[-1] + 1.0
    return float((lo + hi) / 2), float(correct[k] / len(d))


def precision_at_1(query_labels, neighbour_labels) -> float:
    """Share of queries whose nearest gallery item has the query's class.

    ``neighbour_labels (Q, k)``: labels of each query's neighbours, nearest first (only column 0 is used).
    """
    q = np.asarray(query_labels).reshape(-1)
    nb = np.asarray(neighbour_labels)
    if q.size == 0:
        raise ValueError("no queries to evaluate")
    if nb.ndim != 2 or nb.shape[0] != q.size or nb.shape[1] < 1:
        raise ValueError(f"neighbour labels must be (Q={q.size}, k>=1), got shape {nb.shape}")
    return float(np.mean(nb[:, 0] == q))
