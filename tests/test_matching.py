"""Matcher: the checks made when an index directory is opened for query-time matching."""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from siamese.index import FlatIndex
from siamese.index_store import save_index
from siamese.matcher_torch import TowerMatcher as Matcher
from siamese.matching import match, query_paths
from siamese.nets import ConvTower
from siamese.runs import checkpoint_reference, load_tower

MODEL = {"_target_": "siamese.nets.ConvTower", "in_channels": 1, "channels": [4, 8], "embedding_dim": 32}


def checkpoint_of(tmp_path, **model):
    net = ConvTower(**{k: v for k, v in {**MODEL, **model}.items() if k != "_target_"})
    path = tmp_path / "model.ckpt"
    torch.save({"state_dict": {f"net.{k}": v for k, v in net.state_dict().items()}}, path)
    return path


def index_dir(tmp_path, dim, checkpoint, model=MODEL):
    x = np.random.default_rng(0).normal(size=(20, dim)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    reference = (checkpoint_reference(checkpoint, tmp_path / "idx") if checkpoint.exists()
                 else {"checkpoint": str(checkpoint)})
    save_index(tmp_path / "idx", FlatIndex().build(x), np.zeros(20, dtype=int), **reference,
               model=model, image={"size": 8, "channels": 1}, threshold=0.5)
    return tmp_path / "idx"


def test_index_of_another_dimension_than_the_model_is_refused(tmp_path):
    directory = index_dir(tmp_path, 64, checkpoint_of(tmp_path))
    with pytest.raises(ValueError, match=r"the model embeds into 32 dimensions but the index holds 64"):
        Matcher(directory)


def test_checkpoint_that_does_not_fit_the_model_config_is_named(tmp_path):
    checkpoint = checkpoint_of(tmp_path, embedding_dim=16)
    with pytest.raises(ValueError, match=r"checkpoint '.*model\.ckpt' does not fit the model config"):
        load_tower(OmegaConf.create(MODEL), checkpoint)


def test_missing_metadata_and_checkpoint_are_named(tmp_path):
    directory = index_dir(tmp_path, 32, tmp_path / "gone.ckpt")
    with pytest.raises(FileNotFoundError, match=r"the checkpoint '.*gone\.ckpt' named by .* is missing; export"):
        Matcher(directory)
    meta = json.loads((directory / "index.json").read_text())
    del meta["model"]
    (directory / "index.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=r"index\.json has no 'model'"):
        Matcher(directory)


def test_query_paths(tmp_path):
    (tmp_path / "a.png").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("x")
    assert query_paths(tmp_path / "a.png") == [tmp_path / "a.png"]
    assert query_paths(tmp_path) == [tmp_path / "a.png"]
    with pytest.raises(ValueError, match="is not an image"):
        query_paths(tmp_path / "notes.txt")


def test_a_replaced_checkpoint_is_refused_not_matched_against(tmp_path):
    directory = index_dir(tmp_path, 32, checkpoint_of(tmp_path))
    Matcher(directory)
    checkpoint_of(tmp_path, channels=[4, 8])           # the same file name, other weights
    with pytest.raises(ValueError, match=r"is not the one .*index\.json was built from \(sha256 differs\)"):
        Matcher(directory)


def test_a_moved_run_uses_its_own_checkpoint(tmp_path):
    (tmp_path / "run").mkdir()
    directory = index_dir(tmp_path / "run", 32, checkpoint_of(tmp_path / "run"))
    meta = json.loads((directory / "index.json").read_text())
    assert not Path(meta["checkpoint"]).is_absolute()
    moved = shutil.move(str(tmp_path / "run"), str(tmp_path / "elsewhere"))
    Matcher(Path(moved) / "idx")


def test_bad_queries_and_k_are_clear_errors(tmp_path):
    directory = index_dir(tmp_path, 32, checkpoint_of(tmp_path))
    (tmp_path / "broken.png").write_bytes(b"\x89PNG not really")
    cfg = {"index_dir": str(directory), "query": str(tmp_path / "broken.png"), "pair": None, "k": 3, "format": "text"}
    with pytest.raises(ValueError, match=r"unreadable query image '.*broken\.png'"):
        match(OmegaConf.create(cfg))
    for k in (0, -1):
        with pytest.raises(ValueError, match=rf"k must be >= 1, got {k}"):
            match(OmegaConf.create({**cfg, "k": k}))


def test_a_run_started_from_weights_loads_without_them(tmp_path):
    """load_tower fills the tower from the checkpoint: the file the run started from may be gone."""
    checkpoint = checkpoint_of(tmp_path)
    tower = load_tower(OmegaConf.create({**MODEL, "weights": str(tmp_path / "moved.pt")}), checkpoint)
    saved = torch.load(checkpoint, weights_only=True)["state_dict"]
    assert torch.equal(tower.heads[0].weight, saved["net.heads.0.weight"])
