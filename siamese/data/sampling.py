"""Splits of a labelled source and the pair samplers (random pairs, P×K batches).

Pairs are rows ``(i, j, y)`` of positions, ``y = 1`` when both images have the same class.
"""
from __future__ import annotations

import warnings

import numpy as np

SPLITS = ("samples", "classes", "source")


def class_folds(classes: np.ndarray, folds: int, seed: int) -> list[np.ndarray]:
    """The classes dealt into ``folds`` folds of (nearly) equal size after a seeded shuffle: every class
    in exactly one fold."""
    shuffled = np.random.default_rng([seed, 7]).permutation(classes)
    return [np.sort(part) for part in np.array_split(shuffled, folds)]


def split_indices(labels: np.ndarray, split: str, holdout: float, holdout_classes: float,
                  seed: int, source_heldout: list[int] | None = None, class_fold: int = 0,
                  n_class_folds: int | None = None, val_classes: float | None = None) -> dict[str, np.ndarray]:
    """Indices of the train / val / test images (and, for unseen classes, the enrolment images).

    ``split="samples"``: in every class, ``round(holdout · n_c)`` images are held out, the first half
    (rounded down) for val, the rest for test; a class with a single image stays in train.
    ``split="classes"``: the last ``max(1, round(holdout_classes · K))`` classes (in sorted order) are
    held out — unseen at training — and their images are halved into ``enrol`` (the retrieval
    gallery) and ``test``; with ``n_class_folds = F``, the classes are dealt into ``F`` seeded folds
    (``class_folds``) and fold ``class_fold`` is held out instead, so ``F`` runs hold out every class
    exactly once. Val — what picks the best checkpoint, stops early and sets the threshold — is
    ``max(2, round(holdout / 2 · n_c))`` images of each *training* class of 4 or more images (two,
    so that it has same-class pairs), so nothing fitted or selected ever sees a held-out class; with
    ``val_classes = v``, ``max(2, round(v · K_train))`` training classes (seeded) are held out whole as
    val instead — validation classes, unseen like the test ones, at the cost of training on fewer.
    The test and enrolment images do not depend on ``val_classes``.
    ``split="source"``: like ``classes``, with the held-out classes named by the source
    (``source_heldout``, e.g. Omniglot's evaluation alphabets).
    """
    if split not in SPLITS:
        raise ValueError(f"data.split must be one of {list(SPLITS)}, got {split!r}")
    rng = np.random.default_rng(seed)
    classes = np.unique(labels)
    if len(classes) < 2:
        raise ValueError(f"the data set has {len(classes)} class(es); at least 2 are needed")
    if not 0 < holdout < 1:
        raise ValueError(f"data.holdout must be in (0, 1), got {holdout}")
    parts = {"train": [], "val": [], "test": []}
    if split == "samples":
        for c in classes:
            idx = rng.permutation(np.flatnonzero(labels == c))
            n_hold = int(round(holdout * len(idx))) if len(idx) > 1 else 0
            n_val = n_hold // 2
            parts["val"].append(idx[:n_val])
            parts["test"].append(idx[n_val:n_hold])
            parts["train"].append(idx[n_hold:])
    else:
        if split == "source":
            if not source_heldout:
                raise ValueError("data.split=source needs a source that names its held-out classes "
                                 "(e.g. data=omniglot); use split=classes or samples")
            held = set(int(c) for c in source_heldout)
        elif n_class_folds:
            if not 2 <= n_class_folds <= len(classes) or not 0 <= class_fold < n_class_folds:
                raise ValueError(f"data.class_folds must be in 2..{len(classes)} (the classes) and data.class_fold in "
                                 f"0..class_folds-1, got class_folds={n_class_folds}, class_fold={class_fold}")
            held = set(class_folds(classes, n_class_folds, seed)[class_fold].tolist())
        else:
            if not 0 < holdout_classes < 1:
                raise ValueError(f"data.holdout_classes must be in (0, 1), got {holdout_classes}")
            held = set(classes[len(classes) - max(1, int(round(holdout_classes * len(classes)))):].tolist())
        validation = validation_classes([c for c in classes.tolist() if c not in held], val_classes, seed)
        parts["enrol"] = []
        for c in classes:
            idx = rng.permutation(np.flatnonzero(labels == c))
            if int(c) in held:
                parts["enrol"].append(idx[: len(idx) // 2])
                parts["test"].append(idx[len(idx) // 2:])
            elif int(c) in validation:
                parts["val"].append(idx)
            else:
                n_val = 0 if validation or len(idx) < 4 else max(2, int(round(holdout / 2 * len(idx))))
                parts["val"].append(idx[:n_val])
                parts["train"].append(idx[n_val:])
    return {name: np.sort(np.concatenate(p)) if p else np.zeros(0, dtype=np.int64) for name, p in parts.items()}


def validation_classes(train_classes: list[int], share: float | None, seed: int) -> set[int]:
    """``max(2, round(share · K))`` of the ``K`` training classes, drawn with their own seeded stream
    (so the other parts' draws do not move); none for ``share=None``. At least 2 must stay to train."""
    if share is None:
        return set()
    n = max(2, int(round(share * len(train_classes))))
    if len(train_classes) - n < 2:
        raise ValueError(f"data.val_classes={share} holds out {n} of the {len(train_classes)} training classes "
                         "as validation classes; at least 2 must stay to train")
    return set(np.random.default_rng([seed, 1]).choice(train_classes, n, replace=False).tolist())


def check_pairable(name: str, labels: np.ndarray, class_names: list[str]) -> None:
    """Fail if a split cannot give both kinds of pair; warn (once) about single-image classes."""
    classes, counts = np.unique(labels, return_counts=True)
    if len(labels) == 0:
        raise ValueError(
            f"the {name} split is empty: too few images per class for data.holdout (split=samples; "
            "with held-out classes, val takes images of the training classes of 4 or more) or too few "
            "classes for data.holdout_classes (split=classes)"
        )
    if len(classes) < 2:
        raise ValueError(
            f"the {name} split has {len(classes)} class(es): no different-class pair is possible; "
            "check data.split / data.holdout / data.holdout_classes"
        )
    if counts.max() < 2:
        raise ValueError(
            f"every class of the {name} split has a single image: no same-class pair is possible"
        )
    single = [class_names[c] for c in classes[counts == 1]]
    if single:
        warnings.warn(
            f"{name} split: class(es) {single} have a single image; their same-class pairs "
            "pair that image with itself", stacklevel=2,
        )


def sample_pairs(labels: np.ndarray, n: int, positive_fraction: float,
                 rng: np.random.Generator) -> np.ndarray:
    """Draw ``n`` pairs ``(i, j, y)`` of positions into ``labels``, about ``positive_fraction`` same.

    Anchors ``i`` are uniform over the images. A same-class partner ``j`` is uniform over the
    anchor's class *without the anchor* (only a single-image class pairs an image with itself); a
    different-class partner is uniform over all images of other classes. Vectorised: ``(n, 3)`` int64.
    """
    order = np.argsort(labels, kind="stable")            # positions grouped by class
    classes, start, size = np.unique(labels[order], return_index=True, return_counts=True)
    slot = np.searchsorted(classes, labels)               # class slot of every position
    rank = np.empty(len(labels), dtype=np.int64)          # rank of a position inside its class
    rank[order] = np.arange(len(labels)) - np.repeat(start, size)

    n_pos = int(round(positive_fraction * n))
    y = np.zeros(n, dtype=np.int64)
    y[rng.permutation(n)[:n_pos]] = 1
    i = rng.integers(0, len(labels), size=n)
    s, sz = slot[i], size[slot[i]]
    # same class: step 1..size-1 places round the class (size 1: step 0, the image itself)
    step = np.floor(rng.random(n) * np.maximum(sz - 1, 1)).astype(np.int64) + (sz > 1)
    j_pos = order[start[s] + (rank[i] + step) % sz]
    # other class: uniform over the positions outside the anchor's class block
    r = np.floor(rng.random(n) * (len(labels) - sz)).astype(np.int64)
    j_neg = order[np.where(r >= start[s], r + sz, r)]
    j = np.where(y == 1, j_pos, j_neg)
    return np.stack([i, j, y], axis=1)


def sample_pk_pairs(labels: np.ndarray, p: int, k: int, n_batches: int,
                    rng: np.random.Generator) -> np.ndarray:
    """P×K batches laid out as same-class pairs: ``(n_batches · P·K/2, 3)`` rows ``(i, j, y=1)``.

    Each batch takes ``p`` distinct classes and ``k`` distinct images of each (``k`` even), and pairs
    them up in order, so a batch of ``P·K/2`` consecutive rows holds exactly ``P × K`` different
    images. Only classes with at least ``k`` images are drawn from.
    """
    classes, counts = np.unique(labels, return_counts=True)
    eligible = classes[counts >= k]
    if len(eligible) < p:
        raise ValueError(f"the P×K sampler needs p={p} classes with at least k={k} images, the training "
                         f"split has {len(eligible)} (of {len(classes)} classes); lower data.p or data.k")
    members = {c: np.flatnonzero(labels == c) for c in eligible}
    rows = []
    for _ in range(n_batches):
        batch = np.concatenate([rng.choice(members[c], size=k, replace=False)
                                for c in rng.choice(eligible, size=p, replace=False)])
        rows.append(batch.reshape(-1, 2))
    pairs = np.concatenate(rows)
    return np.concatenate([pairs, np.ones((len(pairs), 1), dtype=pairs.dtype)], axis=1)
