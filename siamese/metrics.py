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
    q, nb = _check_neighbours(query_labels, neighbour_labels)
    return float(np.mean(nb[:, 0] == q))


def tar_at_far(dist, y, fars=(1e-3, 1e-2, 1e-1)) -> dict[float, float | None]:
    """True-accept rate at each false-accept rate in ``fars``; ``None`` where it cannot be measured.

    A FAR of ``f`` is measurable only with at least ``1 / f`` different pairs (one false accept
    among fewer would already exceed it): below that the answer is ``None`` ("n/a"), never an
    extrapolation. Otherwise the TAR is linearly interpolated between the two ROC vertices that
    bracket ``far = f`` (an operating point reachable by randomising between their thresholds).
    """
    far, tar, _ = roc_curve(dist, y)
    n_diff = int((np.asarray(y) == 0).sum())
    out = {}
    for f in fars:
        if not 0 < f < 1:
            raise ValueError(f"a FAR target must be in (0, 1), got {f}")
        # np.interp wants increasing x: on a vertical ROC segment take its top (highest TAR)
        last = np.concatenate([far[1:] != far[:-1], [True]])
        out[f] = float(np.interp(f, far[last], tar[last])) if n_diff * f >= 1 else None
    return out


def kfold_accuracy(dist, y, folds: int = 10, fold_ids=None, seed: int = 0) -> dict:
    """LFW's protocol: for each fold, pick the threshold on the other folds, score the fold.

    ``fold_ids (N,)`` assigns pairs to folds (e.g. from a ``pairs.txt``); without it the pairs are
    shuffled with ``seed`` and cut into ``folds`` near-equal parts. Returns
    ``{"mean", "std", "accuracies", "thresholds"}`` (std: population standard deviation over folds).
    """
    dist, y = _check_pairs(dist, y)
    if fold_ids is None:
        if not 2 <= folds <= len(y):
            raise ValueError(f"folds must be in [2, {len(y)}] for {len(y)} pairs, got {folds}")
        fold_ids = np.empty(len(y), dtype=np.int64)
        for k, part in enumerate(np.array_split(np.random.default_rng(seed).permutation(len(y)), folds)):
            fold_ids[part] = k
    fold_ids = np.asarray(fold_ids).reshape(-1)
    if fold_ids.shape != y.shape:
        raise ValueError(f"{fold_ids.size} fold ids for {y.size} pairs")
    accuracies, thresholds = [], []
    for k in np.unique(fold_ids):
        held = fold_ids == k
        if len(np.unique(y[~held])) < 2:
            raise ValueError(f"10-fold protocol: the pairs outside fold {k} are all of one label, so no "
                             "threshold can be chosen there; each fold's complement needs same and different pairs")
        threshold, _ = best_threshold(dist[~held], y[~held])
        thresholds.append(threshold)
        accuracies.append(float(np.mean((dist[held] <= threshold) == (y[held] == 1))))
    return {"mean": float(np.mean(accuracies)), "std": float(np.std(accuracies)),
            "accuracies": accuracies, "thresholds": thresholds}


def _check_neighbours(query_labels, neighbour_labels) -> tuple[np.ndarray, np.ndarray]:
    q = np.asarray(query_labels).reshape(-1)
    nb = np.asarray(neighbour_labels)
    if q.size == 0:
        raise ValueError("no queries to evaluate")
    if nb.ndim != 2 or nb.shape[0] != q.size or nb.shape[1] < 1:
        raise ValueError(f"neighbour labels must be (Q={q.size}, k>=1), got shape {nb.shape}")
    return q, nb


def recall_at_k(query_labels, neighbour_labels, ks=(1, 5, 10)) -> dict[int, float]:
    """Hit rate R@k: share of queries with at least one same-class item among their ``k`` nearest.

    ``neighbour_labels (Q, K)`` nearest first, ``K >= max(ks)`` (fewer columns only when the
    gallery is that small, in which case R@k uses all of them).
    """
    q, nb = _check_neighbours(query_labels, neighbour_labels)
    hits = nb == q[:, None]
    return {int(k): float(np.mean(hits[:, :k].any(axis=1))) for k in ks}


def map_at_r(query_labels, neighbour_labels, relevant_counts) -> float:
    """MAP@R (Musgrave, Belongie & Lim, "A Metric Learning Reality Check", ECCV 2020).

    For a query with ``R`` same-class items in the gallery::

        AP@R = 1/R · Σ_{i=1..R} P(i) · rel(i)

    where ``rel(i) = 1`` when the ``i``-th nearest item has the query's class and ``P(i)`` is the
    precision of the first ``i`` items. MAP@R is the mean over queries with ``R >= 1`` (a query
    with no same-class item in the gallery is not counted). ``neighbour_labels (Q, K)`` must hold
    at least ``R`` columns for every query.
    """
    q, nb = _check_neighbours(query_labels, neighbour_labels)
    r = np.asarray(relevant_counts, dtype=np.int64).reshape(-1)
    if r.shape != q.shape:
        raise ValueError(f"{r.size} relevant counts for {q.size} queries")
    if r.max() > nb.shape[1]:
        raise ValueError(f"MAP@R needs {r.max()} neighbours per query, got {nb.shape[1]}")
    keep = r > 0
    if not keep.any():
        raise ValueError("no query has a same-class item in the gallery")
    q, nb, r = q[keep], nb[keep], r[keep]
    rel = nb[:, : r.max()] == q[:, None]                       # (Q, R_max)
    rank = np.arange(1, rel.shape[1] + 1)
    within_r = rank[None, :] <= r[:, None]
    precision = np.cumsum(rel, axis=1) / rank[None, :]
    ap = (precision * rel * within_r).sum(axis=1) / r
    return float(ap.mean())


def one_shot_accuracy(embeddings, labels, n_way: int = 5, trials: int = 1000, seed: int = 0) -> dict:
    """N-way one-shot accuracy (Koch, Zemel & Salakhutdinov 2015) on embeddings ``(M, D)``.

    Each trial draws ``n_way`` distinct classes and one support image of each; the query is a
    *different* image of the first drawn class. The trial is correct when the support nearest to
    the query (Euclidean) is of the query's class; when several supports tie for nearest, the trial
    scores ``1 / (number tied)`` if the right one is among them. Query classes must have >= 2 images; classes
    with a single image can still serve as distractors and are counted in ``single_image_classes``.
    Returns ``{"accuracy", "n_way", "trials", "single_image_classes"}``; chance is ``1 / n_way``.
    """
    x = np.asarray(embeddings, dtype=np.float64)
    labels = np.asarray(labels).reshape(-1)
    if x.ndim != 2 or x.shape[0] != labels.size:
        raise ValueError(f"embeddings must be (M={labels.size}, D), got shape {x.shape}")
    classes, counts = np.unique(labels, return_counts=True)
    if n_way < 2:
        raise ValueError(f"n_way must be >= 2, got {n_way}")
    if n_way > len(classes):
        raise ValueError(f"{n_way}-way one-shot needs {n_way} classes, the data has {len(classes)}")
    queryable = classes[counts >= 2]
    if len(queryable) == 0:
        raise ValueError("one-shot needs a class with at least 2 images for the query")
    if trials < 1:
        raise ValueError(f"trials must be >= 1, got {trials}")
    rng = np.random.default_rng(seed)
    members = {c: np.flatnonzero(labels == c) for c in classes}
    correct = 0.0
    for _ in range(trials):
        target = rng.choice(queryable)
        others = rng.choice(classes[classes != target], size=n_way - 1, replace=False)
        query, support0 = rng.choice(members[target], size=2, replace=False)
        support = [support0] + [rng.choice(members[c]) for c in others]
        d = np.linalg.norm(x[support] - x[query], axis=1)
        nearest = d == d.min()
        correct += nearest[0] / nearest.sum()  # a tie shares the credit: collapse scores chance
    return {"accuracy": correct / trials, "n_way": int(n_way), "trials": int(trials),
            "single_image_classes": int((counts == 1).sum())}
