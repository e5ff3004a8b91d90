"""torchvision / timm backbones as twin towers, fine-tuning knobs, and the photo data path (cache, crop, workers)."""
import os
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
import torchvision
from omegaconf import OmegaConf
from PIL import Image

from helpers import CONF_DIR, compose_config, make_image_tree
from siamese.backbones import TimmTower, TorchvisionTower
from siamese.data import FolderImages, load_image
from siamese.data.datamodule import resolve_workers
from siamese.export import export
from siamese.lightning import HeadWarmup
from siamese.matching import match
from siamese.pipeline import build, evaluate, train

MODELS = sorted(p.stem for p in (CONF_DIR / "model").glob("*.yaml") if p.stem != "convtower")
TINY = ["trainer=debug", "data.source.image_size=32", "data.train_pairs=12", "data.batch_size=4",
        "data.val_pairs=16", "data.test_pairs=16", "data.holdout=0.5", "data.num_workers=0", "evaluation.trials=20",
        "evaluation.n_way=3", "model.embedding_dim=8", "callbacks.early_stopping=null"]


@pytest.mark.parametrize("model", MODELS)
def test_every_backbone_trains_evaluates_exports_and_matches(model, tmp_path, capsys):
    """3 training steps at 32 px, then the saved run re-evaluates, exports a folder and answers a query."""
    run_dir, images = tmp_path / "run", make_image_tree(tmp_path / "images", per_class=12, size=40)
    cfg = compose_config("train", [f"model={model}", *TINY, "data=folder", f"data.source.root={images}",
                                   f"run_dir={run_dir}"])
    (run_dir / ".hydra").mkdir(parents=True)
    OmegaConf.save(cfg, run_dir / ".hydra" / "config.yaml")        # what Hydra writes for scripts/train.py
    report = train(cfg)
    assert report["training"]["steps"] == 3 and 0 <= report["verification"]["auc"] <= 1

    module, _ = build(cfg)
    stages = module.net(torch.rand(2, 1, 32, 32))
    assert [e.shape for e in stages] == [(2, 8)] * 3
    assert all(torch.allclose(e.norm(dim=1), torch.ones(2), atol=1e-5) for e in stages)

    again = evaluate(compose_config("evaluate", [f"run_dir={run_dir}", "evaluation.trials=20", "evaluation.n_way=3"]))
    assert again["verification"] == report["verification"]
    meta = export(compose_config("export", [f"run_dir={run_dir}", f"images={images}", f"out={tmp_path / 'out'}",
                                            "num_workers=0"]))
    assert meta["count"] == 36 and meta["dim"] == 24                 # concat of 3 stages × 8
    (row,) = match(compose_config("match", [f"index_dir={tmp_path / 'out'}", f"query={images / 'dog' / '2.png'}",
                                            "k=1"]))
    assert row["neighbours"][0]["path"] == "dog/2.png"


def test_weights_from_a_saved_state_dict_equal_the_source(tmp_path):
    source = torchvision.models.resnet18()
    torch.save(source.state_dict(), tmp_path / "r18.pt")
    tower = TorchvisionTower("resnet18", ["layer1", "layer2", "layer3", "layer4"], weights=str(tmp_path / "r18.pt"))
    loaded = dict(tower.backbone.extractor.named_parameters())
    for name, tensor in source.named_parameters():
        if not name.startswith("fc."):
            assert torch.equal(loaded[name], tensor), name
    assert torch.allclose(tower.input_mean.flatten(), torch.tensor([0.485, 0.456, 0.406]))   # follows the weights

    import timm
    timm_source = timm.create_model("resnet18")
    torch.save({"state_dict": timm_source.state_dict()}, tmp_path / "timm.pt")
    timm_tower = TimmTower("resnet18", weights=str(tmp_path / "timm.pt"))
    assert torch.equal(timm_tower.backbone.conv1.weight, timm_source.conv1.weight)

    torch.save({"conv1.weight": torch.zeros(1)}, tmp_path / "shape.pt")
    with pytest.raises(ValueError, match=r"model\.weights=.*shape\.pt does not fit model\.name: size mismatch"):
        TorchvisionTower("resnet18", ["layer1", "layer2", "layer3", "layer4"], weights=str(tmp_path / "shape.pt"))
    torch.save({"fc.bias": source.fc.bias}, tmp_path / "wrong.pt")
    with pytest.raises(ValueError, match=r"model\.weights=.*wrong\.pt: the file lacks \d+ of the backbone's tensors"):
        TorchvisionTower("resnet18", ["layer1", "layer2", "layer3", "layer4"], weights=str(tmp_path / "wrong.pt"))
    with pytest.raises(FileNotFoundError, match=r"model\.weights='.*nope\.pt': no such file"):
        TorchvisionTower("resnet18", ["layer4"], weights=str(tmp_path / "nope.pt"))


def test_a_pretrained_run_loads_from_its_checkpoint_without_the_pretrained_weights(tmp_path, monkeypatch):
    """load_tower (export, match, bundle) takes every tensor, the ImageNet normalisation included, from
    the run's checkpoint: weights=imagenet is not downloaded again (here any download fails)."""
    from siamese.runs import load_tower

    torch.save(torchvision.models.resnet18().state_dict(), tmp_path / "r18.pt")
    nodes = ["layer1", "layer2", "layer3", "layer4"]
    trained = TorchvisionTower("resnet18", nodes, embedding_dim=8, weights=str(tmp_path / "r18.pt")).eval()
    torch.save({"state_dict": {f"net.{k}": v for k, v in trained.state_dict().items()}}, tmp_path / "run.ckpt")
    monkeypatch.setattr(torchvision.models._api, "load_state_dict_from_url", lambda *a, **k: pytest.fail("downloaded"))
    cfg = OmegaConf.create({"_target_": "siamese.backbones.TorchvisionTower", "name": "resnet18", "nodes": nodes,
                            "embedding_dim": 8, "weights": "imagenet"})
    tower = load_tower(cfg, tmp_path / "run.ckpt")
    x = torch.rand(2, 3, 32, 32)
    assert torch.equal(tower.input_mean, trained.input_mean) and torch.equal(tower.embed(x), trained.embed(x))


def test_frozen_stages_do_not_change_over_training_steps():
    tower = TorchvisionTower("resnet18", ["layer1", "layer2", "layer3", "layer4"], freeze_stages=2,
                             embedding_dim=8, in_channels=1)
    frozen = {n: p.detach().clone() for n, p in tower.backbone.named_parameters() if not p.requires_grad}
    modules = dict(tower.backbone.named_modules())
    stats = modules["extractor.layer1.0.bn1"].running_mean.clone()
    assert frozen and all(n.startswith(("extractor.conv1", "extractor.bn1", "extractor.layer1", "extractor.layer2"))
                          for n in frozen)
    optimizer = torch.optim.SGD([p for p in tower.parameters() if p.requires_grad], lr=0.5)
    tower.train()
    for _ in range(3):
        optimizer.zero_grad()
        sum(e.sum() for e in tower(torch.rand(4, 1, 32, 32))).backward()
        optimizer.step()
    for name, before in frozen.items():
        assert torch.equal(dict(tower.backbone.named_parameters())[name], before), name
    assert torch.equal(modules["extractor.layer1.0.bn1"].running_mean, stats)   # BatchNorm in eval mode
    assert not torch.equal(modules["extractor.layer4.0.bn1"].running_mean, torch.zeros(512))  # trained ones move


def test_pretrained_weights_under_a_faster_backbone_rate_warn(tmp_path):
    """A backbone rate above the base one on pretrained weights is a warning that names the fine-tuning
    setting; the recipe's 0.1 is not."""
    torch.save(torchvision.models.resnet18().state_dict(), tmp_path / "r18.pt")
    overrides = ["model=resnet18", *TINY, f"model.weights={tmp_path / 'r18.pt'}", f"run_dir={tmp_path}"]
    warning = r"pretrained backbone learns at .* = 3x the base rate.*optimizer\.backbone_lr_mult=0\.1"
    with pytest.warns(UserWarning, match=warning):
        build(compose_config("train", [*overrides, "optimizer.backbone_lr_mult=3"]))
    with warnings.catch_warnings():
        warnings.filterwarnings("error", ".*pretrained backbone.*")
        build(compose_config("train", [*overrides, "optimizer.backbone_lr_mult=0.1"]))


def test_backbone_learning_rate_multiplier_and_head_warmup(tmp_path):
    cfg = compose_config("train", ["model=resnet18", *TINY, "optimizer.backbone_lr_mult=0.1",
                                    "optimizer.head_lr_mult=1.0", f"run_dir={tmp_path}"])
    module, _ = build(cfg)
    optimizer = module.configure_optimizers()["optimizer"]
    lrs = sorted(group["lr"] for group in optimizer.param_groups)
    assert lrs == pytest.approx([1e-4, 1e-3])
    backbone = {id(p) for p in module.net.backbone_parameters()}
    assert {id(p) for p in optimizer.param_groups[0]["params"]} == backbone

    warmup = HeadWarmup(epochs=1)
    warmup.freeze_before_training(module)
    assert not any(p.requires_grad for p in module.net.backbone_parameters())
    assert all(p.requires_grad for p in module.net.heads.parameters())
    warmup.finetune_function(module, epoch=1, optimizer=optimizer)
    assert all(p.requires_grad for p in module.net.backbone_parameters())


def photos(root: Path, n: int = 6) -> Path:
    rng = np.random.default_rng(0)
    for c in ("a", "b"):
        (root / c).mkdir(parents=True, exist_ok=True)
        for k in range(n):
            Image.fromarray(rng.integers(0, 255, (30, 50, 3), dtype=np.uint8)).save(root / c / f"{k}.png")
    return root


@pytest.mark.parametrize("cache", ["memory", "disk"])
def test_the_cache_returns_what_decoding_returns(cache, tmp_path):
    root = photos(tmp_path / "p")
    plain = FolderImages(str(root), image_size=16, channels=3, resize="crop")
    cached = FolderImages(str(root), image_size=16, channels=3, resize="crop", cache=cache,
                          cache_dir=str(tmp_path / "cache"))
    for i in range(len(plain)):
        assert torch.equal(plain[i], cached[i])
    assert plain[0].shape == (3, 16, 16)


def test_a_changed_file_invalidates_the_disk_cache(tmp_path):
    root = photos(tmp_path / "p")
    settings = {"image_size": 8, "channels": 1, "cache": "disk", "cache_dir": str(tmp_path / "cache")}
    first = FolderImages(str(root), **settings)
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 1
    reused = FolderImages(str(root), **settings)
    assert torch.equal(reused[0], first[0]) and len(list((tmp_path / "cache").glob("*.npy"))) == 1
    time.sleep(0.01)
    Image.new("RGB", (50, 30), color=(255, 255, 255)).save(root / "a" / "0.png")      # same name, new content
    os.utime(root / "a" / "0.png", ns=(time.time_ns(), time.time_ns()))
    rebuilt = FolderImages(str(root), **settings)
    assert torch.equal(rebuilt[0], torch.ones(1, 8, 8)) and not torch.equal(rebuilt[0], first[0])
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 2


def test_crop_keeps_the_centre_square_and_workers_auto(tmp_path):
    image = np.zeros((20, 40), dtype=np.uint8)
    image[:, 10:30] = 255                                    # the centre 20 × 20 square is white
    Image.fromarray(image).save(tmp_path / "wide.png")
    assert torch.equal(load_image(tmp_path / "wide.png", 10, 1, resize="crop"), torch.ones(1, 10, 10))
    assert load_image(tmp_path / "wide.png", 10, 1).mean() < 0.6     # stretch keeps the black sides
    assert resolve_workers("auto") == max(0, min((os.cpu_count() or 1) - 1, 8)) and resolve_workers(2) == 2
    with pytest.raises(ValueError, match=r"data\.num_workers must be a count >= 0 or 'auto', got 'many'"):
        resolve_workers("many")


def test_photo_augmentation_composes_and_keeps_the_shape(tmp_path):
    cfg = compose_config("train", ["augment=photo", "data.source.channels=3", "data.source.image_size=24",
                                   f"run_dir={tmp_path}"])
    from hydra.utils import instantiate
    augment = instantiate(cfg.augment)
    pl.seed_everything(0)
    out = augment(torch.rand(3, 24, 24))
    assert out.shape == (3, 24, 24) and 0 <= out.min() and out.max() <= 1
