"""The evaluation layer: retrieval figures over FAISS, one-shot N capping, a full report."""
import numpy as np
import pytest

from siamese.data import DigitsImages, PairDataModule
from siamese.evaluation import EvaluationSettings, evaluate, retrieval_figures
from siamese.index import build_flat_index
from siamese.nets import ConvTower


def clustered(n_classes=6, per_class=8, d=8, spread=0.05, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(n_classes), per_class)
    x = rng.normal(size=(n_classes, d))[labels] + spread * rng.normal(size=(len(labels), d))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32), labels


def test_leave_one_out_retrieval_of_separated_clusters_is_perfect():
    x, labels = clustered()
    out = retrieval_figures(build_flat_index(x), labels, x, labels, ks=[1, 5], leave_one_out=True)
    assert out["p_at_1"] == 1.0 and out["map_at_r"] == 1.0 and out["recall_at_k"] == {"1": 1.0, "5": 1.0}
    # without leave-one-out every query finds itself: P@1 is 1 even for noise — the reason LOO exists
    noise = np.random.default_rng(1).normal(size=x.shape).astype(np.float32)
    loo = retrieval_figures(build_flat_index(noise), labels, noise, labels, ks=[1], leave_one_out=True)
    cheat = retrieval_figures(build_flat_index(noise), labels, noise, labels, ks=[1])
    assert cheat["p_at_1"] == 1.0 and loo["p_at_1"] < 0.6


def test_queries_of_classes_missing_from_the_gallery_are_counted():
    x, labels = clustered()
    gallery = labels < 5
    out = retrieval_figures(build_flat_index(x[gallery]), labels[gallery], x, labels, ks=[1])
    assert out["queries_without_match"] == 8
    assert out["map_at_r"] == 1.0  # MAP@R over queries that have a match


def test_evaluate_reports_every_figure_and_caps_n_way(tmp_path):
    dm = PairDataModule(DigitsImages(image_size=8), split="classes", val_pairs=200, test_pairs=200, seed=0)
    net = ConvTower(channels=[4, 8], embedding_dim=8)
    with pytest.warns(UserWarning, match=r"evaluation\.n_way=5 but the evaluated images have 3 classes"):
        result = evaluate(net, dm, EvaluationSettings(trials=50))
    report = result.report
    assert report["one_shot"]["n_way"] == 3
    v = report["verification"]
    assert set(v["tar_at_far"]) == {"0.001", "0.01", "0.1"}
    assert v["tar_at_far"]["0.001"] is None  # 100 different pairs cannot measure 1e-3
    assert v["folds"] == 10 and 0 <= v["kfold_accuracy"] <= 1
    assert report["retrieval"]["gallery"] == "enrol" and set(result.gallery_labels) == {7, 8, 9}
    assert result.test_dist.shape == (200,)
