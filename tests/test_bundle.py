"""The deployment bundle: ONNX parity with torch, identical top-k, a manifest that refuses changed files,
and matching in a process where torch cannot be imported."""
import json
import os
import subprocess
import sys

import numpy as np
import onnxruntime as ort
import pytest
import torch
from omegaconf import OmegaConf

from helpers import ROOT, SMALL, compose_config, make_image_tree
from siamese.bundle import export_onnx, write_bundle
from siamese.matcher_onnx import BundleMatcher
from siamese.matcher_torch import TowerMatcher
from siamese.matching import match
from siamese.nets import ConvTower
from siamese.pipeline import train


@pytest.fixture(scope="module")
def bundled(tmp_path_factory):
    """A debug run (16 px digits, concat embedding) and its bundle: ``(run_dir, bundle_dir, images)``."""
    tmp = tmp_path_factory.mktemp("bundle")
    run_dir = tmp / "run"
    cfg = compose_config("train", [*SMALL, "loss=dcontrastive", f"run_dir={run_dir}"])
    (run_dir / ".hydra").mkdir(parents=True)
    OmegaConf.save(cfg, run_dir / ".hydra" / "config.yaml")
    train(cfg)
    out = write_bundle(compose_config("bundle", [f"run_dir={run_dir}", f"out={tmp / 'bundle'}"]))
    return run_dir, out, make_image_tree(tmp / "images", per_class=5, size=16)


@pytest.mark.parametrize("batch", [1, 7, 300])
def test_onnx_embeddings_equal_torch(bundled, batch):
    run_dir, out, _ = bundled
    images = np.random.default_rng(batch).random((batch, 1, 16, 16), dtype=np.float32)
    onnx = BundleMatcher(out).embed_images(images)
    with torch.no_grad():
        reference = TowerMatcher(run_dir).net.eval().embed(torch.from_numpy(images)).numpy()
    assert onnx.shape == reference.shape == (batch, 192)
    assert np.abs(onnx - reference).max() <= 1e-5


def test_bundle_top_k_equals_the_run_and_the_files_are_manifested(bundled, capsys):
    run_dir, out, images = bundled
    for query in ("cat/1.png", "eel/4.png"):
        ours = match(compose_config("match", [f"bundle={out}", f"query={images / query}", "k=5"]))
        theirs = match(compose_config("match", [f"index_dir={run_dir}", f"query={images / query}", "k=5"]))
        assert [n["id"] for n in ours[0]["neighbours"]] == [n["id"] for n in theirs[0]["neighbours"]]
    manifest = json.loads((out / "manifest.json").read_text())["files"]
    meta = json.loads((out / "index.json").read_text())
    assert set(manifest) == {"model.onnx", "index.json", *(entry["name"] for entry in meta["files"].values())}
    assert meta["image"] == {"size": 16, "channels": 1, "resize": "stretch"} and meta["threshold"] is not None


def test_a_changed_bundle_file_is_refused_naming_it(bundled, tmp_path):
    import shutil

    _, out, _ = bundled
    copy = shutil.copytree(out, tmp_path / "copy")
    (copy / "model.onnx").write_bytes((copy / "model.onnx").read_bytes()[:-10] + b"0123456789")
    with pytest.raises(ValueError, match=r"model\.onnx does not match its sha256 in manifest\.json"):
        BundleMatcher(copy)
    (copy / "model.onnx").unlink()
    with pytest.raises(FileNotFoundError, match=r"model\.onnx is missing \(listed in manifest\.json\)"):
        BundleMatcher(copy)


def test_a_bundle_matches_where_torch_cannot_be_imported(bundled, tmp_path):
    _, out, images = bundled
    blocker = tmp_path / "blocked"
    blocker.mkdir()
    (blocker / "torch.py").write_text("raise ImportError('torch is not installed here')\n")
    env = {**os.environ, "PYTHONPATH": str(blocker)}
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "match.py"), f"bundle={out}",
                           f"query={images / 'dog' / '3.png'}", "k=2", "format=json"],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (row,) = json.loads(proc.stdout)
    assert len(row["neighbours"]) == 2
    check = subprocess.run([sys.executable, "-c", "import torch"], env=env, capture_output=True)
    assert check.returncode != 0                          # the blocker really blocks torch


@pytest.mark.parametrize("pool, size, head_norm", [("avg", 16, "batch"), ("max", 24, "none"), ("gem", 24, "none")])
def test_stage_weights_and_the_pooling_are_in_the_exported_model_embedding(tmp_path, pool, size, head_norm):
    """model.stage_weights, model.pool and model.head_norm change the model embedding: the ONNX graph computes
    the same one (at 24 px the last map is 3×3, whose 2×2 grid cells overlap)."""
    torch.manual_seed(0)
    tower = ConvTower(channels=(4, 8, 16), embedding_dim=5, embedding="concat", pool_grid=2, stage_weights=[2, 1, 0.5],
                      pool=pool, head_norm=head_norm)
    tower(torch.randn(8, 1, size, size) * 3 + 1)          # training mode: BatchNorm's running statistics move
    export_onnx(tower, {"channels": 1, "size": size}, tmp_path / "model.onnx")
    images = np.random.default_rng(0).random((3, 1, size, size), dtype=np.float32)
    (onnx,) = ort.InferenceSession(str(tmp_path / "model.onnx")).run(None, {"image": images})
    with torch.no_grad():
        reference = tower.eval().embed(torch.from_numpy(images)).numpy()
    assert np.abs(onnx - reference).max() <= 1e-5
