"""Every YAML in conf/ composes and instantiates (found by glob: a new file is tested automatically)."""
import functools
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from helpers import (
    CONF_DIR,
    compose_config,
    make_csv_pairs,
    make_lfw_tree,
    make_mnist_files,
    make_omniglot_tree,
)
from siamese.data import PairDataModule
from siamese.losses import JointLoss, SiameseLoss
from siamese.losses.miners import HardPairMiner
from siamese.losses.reducers import Reducer
from siamese.module import SiameseModule
from siamese.nets import Tower
from siamese.pipeline import build

# Every option of every group, nested groups (loss/reducer) included; `base/` folders hold the shared
# part of a group's options (composed through them) and hydra/ Hydra's own settings (composed by
# the primary configs).
# (sweep/ holds search spaces of conf/sweep.yaml, composed in test_sweep.py)
GROUP_FILES = sorted(p for p in CONF_DIR.glob("*/**/*.yaml")
                     if "base" not in p.relative_to(CONF_DIR).parts[:-1] and p.parts[-2] not in ("hydra", "sweep"))
PRIMARY_FILES = sorted(CONF_DIR.glob("*.yaml"))
EXPECTED_TYPE = {"model": Tower, "loss": SiameseLoss, "loss/reducer": Reducer, "loss/miner": HardPairMiner,
                 "optimizer": functools.partial}
LFW_PAIRS = "1\nAnn_A 1 2\nAnn_A 1 Bob_B 1\n"


def data_overrides(option: str, tmp_path: Path, image_tree: Path) -> list[str]:
    """What each data option needs on disk: a tiny tree of its own layout."""
    if option == "folder":
        return [f"data.source.root={image_tree}"]
    if option == "omniglot":
        return [f"data.source.root={make_omniglot_tree(tmp_path / 'omniglot', per_character=8)}",
                "data.p=2", "data.k=4"]
    if option in ("mnist", "fashion_mnist"):
        folder = "MNIST" if option == "mnist" else "FashionMNIST"
        return [f"data.source.root={make_mnist_files(tmp_path, folder, n_train=300, n_test=100)}"]
    if option == "glyphs":
        return ["data.source.image_size=16", "data.source.renderings=1"]
    if option == "csv_pairs":
        return [f"data.pairs_file={make_csv_pairs(tmp_path / 'sig')}", f"data.root={tmp_path / 'sig'}"]
    if option in ("lfw", "lfw_pairs"):
        root = make_lfw_tree(tmp_path / "lfw", people=("Ann_A", "Bob_B", "Cy_C", "Di_D", "Ed_E", "Fay_F", "Gus_G"),
                              per_person=6)
        lines = ["3 2"] + [f"{a} 1 2" if same else f"{a} 1 {b} 2"
                           for _ in range(3) for same in (1, 1, 0, 0) for a, b in [("Cy_C", "Di_D")]]
        (tmp_path / "pairs.txt").write_text("\n".join(lines) + "\n")
        if option == "lfw":
            (tmp_path / "eval.txt").write_text(LFW_PAIRS)
            return [f"data.source.root={root}", f"data.source.exclude_pairs={tmp_path / 'eval.txt'}",
                    "data.holdout_classes=0.4"]
        return [f"data.pairs_file={tmp_path / 'pairs.txt'}", f"data.root={root}",
                "data.val_fraction=0.34", "data.test_fraction=0.34"]
    return []


def test_every_group_option_is_listed():
    groups = {p.parent.name for p in GROUP_FILES}
    assert {"data", "model", "loss", "trainer"} <= groups


# Nested groups need their parent option first (a reducer belongs to a pair loss, a miner to batch_all).
PARENT = {"loss/reducer": ["loss=contrastive"], "loss/miner": ["loss=contrastive", "loss.pairs=batch_all"]}


@pytest.mark.parametrize("path", GROUP_FILES, ids=lambda p: str(p.relative_to(CONF_DIR).with_suffix("")))
def test_group_option_composes_and_instantiates(path: Path, image_tree, tmp_path):
    group, option = str(path.parent.relative_to(CONF_DIR)), path.stem
    overrides = [*PARENT.get(group, []), f"{group}={option}", f"run_dir={tmp_path}"]
    if group == "data":
        overrides += data_overrides(option, tmp_path, image_tree)
    cfg = compose_config("train", overrides)
    node = OmegaConf.select(cfg, group.replace("/", "."))
    if group == "data":                      # through build: data.sampler=auto is resolved from the loss
        _, obj = build(cfg)
        assert len(obj.fixed_pairs["test"]) > 0 and obj.channels == cfg.model.in_channels
        return
    obj = instantiate(node) if node is not None else None
    if group in EXPECTED_TYPE:
        assert isinstance(obj, EXPECTED_TYPE[group]), (group, obj)
    if group == "trainer":
        assert obj.max_epochs >= 1 and obj.reload_dataloaders_every_n_epochs == 1
    if group == "callbacks":
        assert all(isinstance(c, pl.Callback) for c in obj.values())
    if group.startswith("loss/"):
        built, _ = build(cfg)
        assert getattr(built.loss, group.split("/")[1]) is not None
    if group == "identification":           # a classifier beside the loss, or the loss alone
        built, _ = build(cfg)
        assert isinstance(built.loss, JointLoss) == (option != "none")


@pytest.mark.parametrize("path", PRIMARY_FILES, ids=lambda p: p.stem)
def test_primary_config_composes(path: Path, tmp_path):
    """train builds the whole run; evaluate/export/match compose with their required keys."""
    required = {"train": [f"run_dir={tmp_path}"], "evaluate": [f"run_dir={tmp_path}"],
                "export": [f"run_dir={tmp_path}", f"images={tmp_path}"],
                "match": [f"index_dir={tmp_path}", "query=x.png"], "bundle": [f"run_dir={tmp_path}"],
                "sweep": []}
    cfg = compose_config(path.stem, required[path.stem])
    assert not OmegaConf.missing_keys(cfg)
    if path.stem == "train":
        module, datamodule = build(cfg)
        assert isinstance(module, SiameseModule) and isinstance(datamodule, PairDataModule)


def test_folder_data_without_root_says_so():
    cfg = compose_config("train", ["data=folder", "run_dir=/tmp/x"])
    with pytest.raises(Exception, match=r"root"):
        instantiate(cfg.data)


def test_channel_mismatch_is_a_config_error(tmp_path):
    cfg = compose_config("train", ["model.in_channels=3", f"run_dir={tmp_path}"])
    with pytest.raises(ValueError, match=r"model\.in_channels=3 but data\.source\.channels=1"):
        build(cfg)


def test_a_classification_loss_covers_the_rotated_classes(tmp_path):
    """softmax's class weights cover every training class and its rotations: a batch of rotated
    classes trains (a class id past the source's classes would fail the cross-entropy)."""
    cfg = compose_config("train", ["loss=softmax", "data.split=classes", "data.rotated_classes=[90,180]",
                                   "data.p=4", "data.k=4", f"run_dir={tmp_path}"])
    module, datamodule = build(cfg)
    batch = next(iter(datamodule.train_dataloader()))
    assert batch["c1"].max() >= 2 * len(datamodule.source.classes)         # a class rotated 180 degrees
    assert torch.isfinite(module.training_step(batch, 0))


@pytest.mark.parametrize("overrides, angles", [(["data.split=classes"], (90, 180, 270)),   # 7 training digits < 1.5 x 6
                                               ([], ())])                                 # split=samples: none held out
def test_the_digits_default_rotates_its_few_training_classes_only_when_classes_are_held_out(tmp_path, overrides,
                                                                                           angles):
    _, datamodule = build(compose_config("train", ["loss=dcontrastive", *overrides, f"run_dir={tmp_path}"]))
    assert datamodule.rotation_angles == angles
    assert len(datamodule.training_classes) == (len(angles) + 1) * len(datamodule.source.classes)
