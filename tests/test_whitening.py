"""Learned whitening (``evaluation.whitening``): the formula against a slow reference, what it does to the
training classes' spread, and a whitened run whose checkpoint re-evaluates, embeds and exports alike."""
import json

import numpy as np
import onnxruntime as ort
import pytest
import torch
from omegaconf import OmegaConf

from helpers import SMALL, compose_config, make_csv_pairs
from siamese.bundle import export_onnx
from siamese.evaluation import EvaluationSettings
from siamese.nets import ConvTower
from siamese.pipeline import build, evaluate, train
from siamese.runs import load_tower, run_config
from siamese.whitening import Whitening, within_class_whitening


def reference_whitening(e: np.ndarray, labels: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """The module docstring's formula, one image at a time."""
    n, d = e.shape
    class_mean = {k: e[labels == k].mean(0) for k in set(labels.tolist())}
    sigma = np.zeros((d, d))
    for i in range(n):
        r = e[i] - class_mean[labels[i]]
        sigma += np.outer(r, r) / n
    s = sigma + alpha * np.trace(sigma) / d * np.eye(d)
    values, vectors = np.linalg.eigh(s)
    return e.mean(0), vectors @ np.diag(values ** -0.5) @ vectors.T


def spread_classes(n=120, d=6, classes=4, seed=0):
    """Unit embeddings of a few classes whose members differ mostly along two directions."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    centres = rng.normal(size=(classes, d))
    e = centres[labels] + rng.normal(size=(n, d)) * np.array([1.0, 0.5, 0.05, 0.05, 0.05, 0.05])
    return e / np.linalg.norm(e, axis=1, keepdims=True), labels


@pytest.mark.parametrize("alpha", [0.0, 0.1, 1.0])
def test_whitening_equals_the_reference_loop(alpha):
    e, labels = spread_classes()
    mean, matrix = within_class_whitening(e, labels, alpha)
    ref_mean, ref_matrix = reference_whitening(e, labels, alpha)
    assert np.allclose(mean.numpy(), ref_mean, atol=1e-6)
    assert np.allclose(matrix.numpy(), ref_matrix, rtol=1e-4, atol=1e-4)


def test_without_shrinkage_the_training_classes_spread_equally_in_every_direction():
    e, labels = spread_classes()
    mean, matrix = within_class_whitening(e, labels, 0.0)
    z = (torch.as_tensor(e, dtype=torch.float32) - mean) @ matrix          # before the final normalisation
    residual = z.clone()
    for k in np.unique(labels):
        residual[labels == k] -= z[labels == k].mean(0)
    within = (residual.T @ residual / len(z)).numpy()
    assert np.allclose(within, np.eye(6), atol=1e-3)                        # Σ_w becomes the identity


def test_a_large_shrinkage_leaves_only_the_centring():
    e, labels = spread_classes()
    whitening = Whitening(6)
    whitening.mean, whitening.matrix = within_class_whitening(e, labels, 1e9)
    x = torch.as_tensor(e[:5], dtype=torch.float32)
    centred = torch.nn.functional.normalize(x - whitening.mean, dim=1)
    assert torch.allclose(whitening(x), centred, atol=1e-5)
    assert torch.allclose(whitening(x).norm(dim=1), torch.ones(5), atol=1e-6)


def test_a_singular_spread_and_a_negative_alpha_are_refused_naming_the_knob():
    labels = np.array([0, 0, 1, 1])
    e = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])          # each class a single point
    with pytest.raises(ValueError, match=r"evaluation\.whitening"):
        within_class_whitening(e, labels, 0.0)
    with pytest.raises(ValueError, match=r"evaluation\.whitening .* must be >= 0, got -1"):
        EvaluationSettings(whitening=-1)


def test_the_onnx_graph_whitens_as_the_tower_does(tmp_path):
    tower = ConvTower(in_channels=1, channels=(8, 16), embedding_dim=4, embedding="concat").eval()
    tower.whitening = Whitening(8)
    tower.whitening.mean.copy_(torch.randn(8) * 0.1)
    tower.whitening.matrix.copy_(torch.randn(8, 8))
    export_onnx(tower, {"channels": 1, "size": 16}, tmp_path / "model.onnx")
    images = torch.rand(3, 1, 16, 16)
    onnx = ort.InferenceSession(str(tmp_path / "model.onnx")).run(None, {"image": images.numpy()})[0]
    with torch.no_grad():
        assert np.abs(onnx - tower.embed(images).numpy()).max() <= 1e-5
        assert not torch.allclose(tower.embed(images), tower.final(tower(images)), atol=1e-3)


@pytest.fixture(scope="module")
def whitened_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("whitened")
    cfg = compose_config("train", [*SMALL, "loss=dcontrastive", "data.split=classes", "evaluation.whitening=1.0",
                                   "evaluation.trials=100", f"run_dir={run_dir}"])
    (run_dir / ".hydra").mkdir(parents=True)
    OmegaConf.save(cfg, run_dir / ".hydra" / "config.yaml")          # what Hydra writes for scripts/train.py
    return run_dir, train(cfg)


def test_a_whitened_run_reports_it_and_its_checkpoint_re_evaluates_to_the_same_figures(whitened_run):
    run_dir, report = whitened_run
    fitted = report["training"]["whitening"]
    assert fitted["alpha"] == 1.0 and fitted["classes"] == 7 and fitted["images"] > 500   # this split's training digits
    again = evaluate(compose_config("evaluate", [f"run_dir={run_dir}", "evaluation.trials=100"]))
    for key in ("verification", "retrieval", "one_shot"):
        assert again[key] == report[key], key
    with pytest.raises(ValueError, match=r"evaluation\.whitening=1\.0: the whitening is fitted when a run trains"):
        evaluate(compose_config("evaluate", [f"run_dir={run_dir}", "evaluation.whitening=1.0"]))


def test_the_checkpoint_s_tower_whitens_what_the_index_holds(whitened_run):
    """The gallery vectors in the index are the checkpoint tower's embeddings (export and matching load it)."""
    from siamese.index_store import load_index
    from siamese.inference import embed

    run_dir, _ = whitened_run
    net = load_tower(run_config(run_dir).model, run_dir / "checkpoints" / "best.ckpt")
    assert net.whitening.matrix.shape == (192, 192)
    index, meta = load_index(run_dir)
    _, datamodule = build(run_config(run_dir))
    gallery, _ = embed(net, datamodule.images_dataloader(meta["split"]))
    assert np.allclose(index.reconstruct_n(0, index.ntotal), gallery, atol=1e-5)
    x = next(iter(datamodule.images_dataloader("test")))["x"][:4]
    with torch.no_grad():
        assert not torch.allclose(net.embed(x), net.final(net(x)), atol=1e-3)   # the whitening is applied


def test_pair_list_data_is_not_whitened_and_says_why(tmp_path):
    pairs = make_csv_pairs(tmp_path / "pairs", n_pairs=120)
    cfg = compose_config("train", ["trainer=debug", "loss=contrastive", "data=csv_pairs", f"data.pairs_file={pairs}",
                                   f"data.root={pairs.parent}", "data.source.image_size=16",
                                   "evaluation.whitening=1.0", f"run_dir={tmp_path / 'run'}"])
    with pytest.warns(UserWarning, match=r"evaluation\.whitening=1\.0 needs the training images' class ids"):
        report = train(cfg)
    assert report["training"]["whitening"] is None
    assert json.loads((tmp_path / "run" / "report.json").read_text())["training"]["whitening"] is None
