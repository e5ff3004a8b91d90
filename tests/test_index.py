"""FAISS export: round trip, distance conversion, metadata checks, atomic writes."""
import json
import os

import numpy as np
import pytest
import torch

from siamese import index as idx
from siamese.atomic import atomic_write_json


def unit_vectors(n, d, seed=0):
    x = np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_search_returns_euclidean_distances_of_the_true_neighbours():
    gallery, queries = unit_vectors(200, 16), unit_vectors(10, 16, seed=1)
    dist, ids = idx.search(idx.build_flat_index(gallery), queries, k=5)
    brute = np.linalg.norm(queries[:, None, :] - gallery[None, :, :], axis=2)
    assert np.array_equal(ids, np.argsort(brute, axis=1)[:, :5])
    assert np.allclose(dist, np.sort(brute, axis=1)[:, :5], atol=1e-5)


def test_leave_one_out_never_returns_the_query_itself():
    gallery = unit_vectors(50, 4, seed=3)
    gallery[7] = gallery[8]                       # a duplicate: its twin must still come back
    dist, ids = idx.search(idx.build_flat_index(gallery), gallery, k=5, exclude_ids=np.arange(50))
    assert ids.shape == (50, 5)
    assert not (ids == np.arange(50)[:, None]).any()
    assert ids[7, 0] == 8 and ids[8, 0] == 7 and dist[7, 0] == pytest.approx(0.0, abs=1e-6)
    brute = np.linalg.norm(gallery[:, None] - gallery[None], axis=2)
    np.fill_diagonal(brute, np.inf)
    assert np.allclose(dist, np.sort(brute, axis=1)[:, :5], atol=1e-5)


def test_saved_index_loads_and_answers_the_same(tmp_path):
    gallery, queries = unit_vectors(300, 8), unit_vectors(20, 8, seed=2)
    labels = np.arange(300) % 7
    index = idx.build_flat_index(gallery)
    idx.save_index(tmp_path, index, labels, checkpoint="ckpt/best.ckpt", threshold=0.7)
    loaded, meta = idx.load_index(tmp_path)
    d0, i0 = idx.search(index, queries, 10)
    d1, i1 = idx.search(loaded, queries, 10)
    assert np.array_equal(i0, i1) and np.array_equal(d0, d1)
    assert meta["labels"] == labels.tolist() and meta["dim"] == 8 and meta["count"] == 300
    assert meta["checkpoint"] == "ckpt/best.ckpt" and meta["threshold"] == 0.7


def test_metadata_that_disagrees_with_the_index_is_refused(tmp_path):
    idx.save_index(tmp_path, idx.build_flat_index(unit_vectors(5, 4)), np.zeros(5))
    meta = json.loads((tmp_path / "index.json").read_text())
    meta["count"] = 6
    (tmp_path / "index.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=r"index\.faiss holds 5 vectors of dim 4 but index\.json says count=6"):
        idx.load_index(tmp_path)


def test_missing_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"index\.faiss' is missing"):
        idx.load_index(tmp_path)


def test_label_count_must_match(tmp_path):
    with pytest.raises(ValueError, match="3 labels for an index of 5 vectors"):
        idx.save_index(tmp_path, idx.build_flat_index(unit_vectors(5, 4)), np.zeros(3))


def test_failed_write_leaves_the_previous_file_and_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / "report.json"
    atomic_write_json(target, {"version": 1})

    def crash(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_json(target, {"version": 2})
    assert json.loads(target.read_text()) == {"version": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


class OneStageTower(torch.nn.Module):
    """A tower with one stage and dropout, so that train and eval mode give different outputs."""

    def __init__(self):
        super().__init__()
        self.body = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3), torch.nn.Dropout(0.9))

    def forward(self, x):
        return [self.body(x)]


def test_embed_uses_eval_mode_and_restores_training_mode():
    tower = OneStageTower().train()
    loader = [{"x": torch.ones(2, 1, 2, 2), "c": torch.tensor([0, 1])}]
    a, labels = idx.embed(tower, loader)
    b, _ = idx.embed(tower, loader)
    assert np.array_equal(a, b)  # dropout off: deterministic
    assert tower.training and labels.tolist() == [0, 1] and a.shape == (2, 3)
