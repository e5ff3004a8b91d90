"""Match evaluation of a trained tower: verification, retrieval and one-shot figures for a report.

``evaluate(net, datamodule, settings)`` embeds what it needs once and calls the plain functions of
``siamese.metrics``; it holds no Lightning. The decision threshold is chosen on the validation
pairs and applied to the test pairs.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import faiss
import numpy as np
from torch import nn

from siamese import metrics
from siamese.checks import at_least, non_negative
from siamese.data import ImageDataset, PairDataModule, PathImages
from siamese.data.pair_files import PairList
from siamese.index import FlatIndex, IndexSpec, build_flat_index, labels_of, search
from siamese.inference import embed


@dataclass
class EvaluationSettings:
    """What to measure; ``conf/evaluation/default.yaml`` holds the defaults."""

    fars: list[float] = field(default_factory=lambda: [1e-3, 1e-2, 1e-1])
    folds: int = 10
    ks: list[int] = field(default_factory=lambda: [1, 5, 10])
    n_way: int = 5
    trials: int = 1000
    seed: int = 0
    whitening: float | None = None     # α of the learned whitening fitted after training (siamese.whitening)

    def __post_init__(self):
        if self.whitening is not None:
            non_negative("evaluation.whitening (null: off; else the shrinkage α)", self.whitening)
        if not self.fars or not all(0 < float(f) < 1 for f in self.fars):
            raise ValueError(f"evaluation.fars must be false-accept rates in (0, 1), got {self.fars}")
        if not self.ks or min(int(k) for k in self.ks) < 1:
            raise ValueError(f"evaluation.ks must be ranks >= 1, got {self.ks}")
        at_least("evaluation.folds", self.folds, 2)
        at_least("evaluation.n_way", self.n_way, 2)
        at_least("evaluation.trials", self.trials, 1)


@dataclass
class Evaluation:
    """The report dict plus the arrays that plots and the exported index are made from."""

    report: dict
    test_dist: np.ndarray
    test_y: np.ndarray
    gallery: np.ndarray
    gallery_labels: np.ndarray
    index: faiss.Index


def embed_images(net: nn.Module, loader) -> tuple[np.ndarray, np.ndarray]:
    """``(embeddings (N, D), class ids (N,))`` of a loader of ``{x, c}`` batches."""
    emb, extras = embed(net, loader)
    return emb, extras["c"].astype(np.int64)


def distances_between(net: nn.Module, source, pairs_ij: np.ndarray, datamodule: PairDataModule) -> np.ndarray:
    """Euclidean distances ``(P,)`` of the model embeddings of ``source`` items ``pairs_ij (P, 2)``.

    Each distinct image is embedded once, with the data module's batch size and workers.
    """
    positions, inverse = np.unique(pairs_ij, return_inverse=True)
    emb, _ = embed(net, datamodule.loader(ImageDataset(source, positions)))
    inverse = inverse.reshape(-1, 2)
    return np.linalg.norm(emb[inverse[:, 0]] - emb[inverse[:, 1]], axis=1)


def pair_distances(net: nn.Module, datamodule: PairDataModule, pairs: np.ndarray) -> np.ndarray:
    """Distances of the data module's pairs ``(i, j, y)`` (source positions)."""
    return distances_between(net, datamodule.source, pairs[:, :2], datamodule)


def pair_list_distances(net: nn.Module, pair_list: PairList, datamodule: PairDataModule) -> np.ndarray:
    """Distances of pairs of image files, loaded like the run's own images (size, channels)."""
    unique = sorted(set(pair_list.paths1) | set(pair_list.paths2))
    position = {path: k for k, path in enumerate(unique)}
    source = PathImages(unique, np.zeros(len(unique)), ["?"], datamodule.source.image_size,
                        datamodule.source.channels, resize=getattr(datamodule.source, "resize", "stretch"))
    pairs_ij = np.array([[position[a], position[b]] for a, b in zip(pair_list.paths1, pair_list.paths2)])
    return distances_between(net, source, pairs_ij, datamodule)


def verification_figures(val: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray],
                         s: EvaluationSettings, fold_ids: np.ndarray | None = None) -> dict:
    """Test-pair figures; the decision threshold is the accuracy-maximising one on val pairs.

    ``fold_ids`` (e.g. from a pairs.txt) fix the 10-fold protocol's folds; otherwise the test pairs
    are cut into ``s.folds`` seeded folds.
    """
    threshold, val_accuracy = metrics.best_threshold(*val)
    eer, eer_threshold = metrics.equal_error_rate(*test)
    kfold = metrics.kfold_accuracy(*test, folds=s.folds, fold_ids=fold_ids, seed=s.seed)
    return {
        "auc": metrics.roc_auc(*test),
        "eer": eer,
        "eer_threshold": eer_threshold,
        "threshold": threshold,
        "accuracy": metrics.accuracy_at(*test, threshold),
        "kfold_accuracy": kfold["mean"],
        "kfold_std": kfold["std"],
        "folds": len(kfold["accuracies"]),
        "tar_at_far": {str(f): t for f, t in metrics.tar_at_far(*test, s.fars).items()},
        "val_auc": metrics.roc_auc(*val),
        "val_accuracy": val_accuracy,
        "pairs": int(len(test[1])),
        "same_pairs": int(test[1].sum()),
    }


def retrieval_figures(index: faiss.Index, gallery_labels: np.ndarray, queries: np.ndarray,
                      query_labels: np.ndarray, ks, leave_one_out: bool = False) -> dict:
    """P@1, R@k and MAP@R of ``queries`` searched in ``index`` (labels ``gallery_labels`` by id).

    ``leave_one_out``: the queries *are* the gallery (query ``i`` is gallery id ``i``) and each
    query's own entry is excluded from its neighbours and from its count ``R``.
    """
    classes, counts = np.unique(gallery_labels, return_counts=True)
    r = np.zeros(len(query_labels), dtype=np.int64)
    known = np.isin(query_labels, classes)
    r[known] = counts[np.searchsorted(classes, query_labels[known])] - int(leave_one_out)
    exclude = np.arange(len(query_labels)) if leave_one_out else None
    _, ids = search(index, queries, k=max(max(ks), int(r.max()), 1), exclude_ids=exclude)
    neighbours = labels_of(ids, gallery_labels)
    return {
        "p_at_1": metrics.precision_at_1(query_labels, neighbours),
        "recall_at_k": {str(k): v for k, v in metrics.recall_at_k(query_labels, neighbours, ks).items()},
        "map_at_r": metrics.map_at_r(query_labels, neighbours, r),
        "queries_without_match": int((r == 0).sum()),
        "leave_one_out": leave_one_out,
        "gallery_size": int(index.ntotal),
        "query_count": int(len(query_labels)),
    }


def leave_one_out_retrieval(embeddings: np.ndarray, labels: np.ndarray, image_ids: np.ndarray, ks=(1,)) -> dict:
    """Retrieval figures among the distinct images of a set of pairs, each image once (by
    ``image_ids``), each the query against all others (an exact index; ``retrieval_figures``).

    ``embeddings (M, D)``, ``labels (M,)``, ``image_ids (M,)``: both sides of the pairs, repeats allowed.
    """
    _, first = np.unique(image_ids, return_index=True)
    emb, labels = embeddings[first], labels[first]
    return retrieval_figures(build_flat_index(emb), labels, emb, labels, ks=list(ks), leave_one_out=True)


def one_shot_figures(embeddings: np.ndarray, labels: np.ndarray, s: EvaluationSettings) -> dict:
    """N-way one-shot on the given images; N is lowered (with a warning) to the number of classes."""
    n_classes = len(np.unique(labels))
    n_way = s.n_way
    if n_way > n_classes:
        warnings.warn(f"evaluation.n_way={n_way} but the evaluated images have {n_classes} classes: "
                      f"reporting {n_classes}-way one-shot", stacklevel=2)
        n_way = n_classes
    return metrics.one_shot_accuracy(embeddings, labels, n_way=n_way, trials=s.trials, seed=s.seed)


def evaluate(net: nn.Module, datamodule: PairDataModule, settings: EvaluationSettings,
             index: faiss.Index | None = None, gallery_labels: np.ndarray | None = None,
             test_pairs: PairList | None = None, index_spec: IndexSpec | None = None) -> Evaluation:
    """All figures of a report. Without ``index``, the gallery split is embedded into a new index
    built by ``index_spec`` (default: exact ``FlatIndex``); retrieval goes through that index.

    Gallery and queries are the data module's ``retrieval_splits``; one-shot trials use the query
    images; verification chooses its threshold on the fixed val pairs and measures on the fixed
    test pairs, or on ``test_pairs`` (e.g. LFW's pairs.txt, with its folds) when given.
    """
    gallery_split, query_split = datamodule.retrieval_splits
    gallery = None
    if index is None:
        gallery, gallery_labels = embed_images(net, datamodule.images_dataloader(gallery_split))
        index = (index_spec or FlatIndex()).build(gallery)
    val_pairs = datamodule.fixed_pairs["val"]
    val = (pair_distances(net, datamodule, val_pairs), val_pairs[:, 2])
    if test_pairs is None:
        test = (pair_distances(net, datamodule, datamodule.fixed_pairs["test"]), datamodule.fixed_pairs["test"][:, 2])
        fold_ids = getattr(datamodule, "test_folds", None)
    else:
        test = (pair_list_distances(net, test_pairs, datamodule), test_pairs.y)
        fold_ids = test_pairs.fold if len(np.unique(test_pairs.fold)) > 1 else None
    report = {
        "split": datamodule.split,
        "test_pairs": "test split" if test_pairs is None else test_pairs.origin,
        "verification": verification_figures(val, test, settings, fold_ids),
        "retrieval": None,   # both need class ids, which pair-list data does not have
        "one_shot": None,
    }
    if datamodule.has_class_ids:
        queries, query_labels = embed_images(net, datamodule.images_dataloader(query_split))
        if queries.shape[1] != index.d:
            raise ValueError(f"the model embeds into {queries.shape[1]} dimensions but the index holds {index.d}")
        report["retrieval"] = {**retrieval_figures(index, gallery_labels, queries, query_labels, settings.ks),
                               "gallery": gallery_split, "queries": query_split}
        report["one_shot"] = one_shot_figures(queries, query_labels, settings)
    return Evaluation(report, test[0], test[1], gallery, gallery_labels, index)
