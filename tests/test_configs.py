"""Every YAML in conf/ composes and instantiates (found by glob: a new file is tested automatically)."""
from pathlib import Path

import pytest
from hydra.utils import instantiate

from conftest import CONF_DIR, compose_config
from siamese.data import PairDataModule
from siamese.losses import SiameseLoss
from siamese.module import SiameseModule
from siamese.nets import ConvTower
from siamese.pipeline import build

GROUP_FILES = sorted(p for p in CONF_DIR.glob("*/*.yaml"))
PRIMARY_FILES = sorted(CONF_DIR.glob("*.yaml"))
EXPECTED_TYPE = {"data": PairDataModule, "model": ConvTower, "loss": SiameseLoss}


def test_every_group_option_is_listed():
    groups = {p.parent.name for p in GROUP_FILES}
    assert {"data", "model", "loss", "trainer"} <= groups


@pytest.mark.parametrize("path", GROUP_FILES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_group_option_composes_and_instantiates(path: Path, image_tree, tmp_path):
    group, option = path.parent.name, path.stem
    overrides = [f"{group}={option}", f"run_dir={tmp_path}"]
    if group == "data" and option == "folder":
        overrides.append(f"data.source.root={image_tree}")
    cfg = compose_config("train", overrides)
    obj = instantiate(cfg[group])
    if group in EXPECTED_TYPE:
        assert isinstance(obj, EXPECTED_TYPE[group])
    if group == "trainer":
        assert obj.max_epochs >= 1 and obj.reload_dataloaders_every_n_epochs == 1


@pytest.mark.parametrize("path", PRIMARY_FILES, ids=lambda p: p.stem)
def test_primary_config_builds_the_whole_run(path: Path, tmp_path):
    cfg = compose_config(path.stem, [f"run_dir={tmp_path}"])
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
