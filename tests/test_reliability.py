"""Reproducible reruns, resume after a kill, the non-finite guard, float32 losses under mixed
precision, the collapse warning, and config errors raised before any data is read."""
import csv
import json
import math
import os
import warnings

import pytest
import pytorch_lightning as pl
import torch
from torch import nn

from helpers import FAULT, SMALL, compose_config, index_bytes, run_train
from siamese.data import DigitsImages, PairDataModule
from siamese.lightning import AtomicCheckpointIO, ResumableCSVLogger, RunDirectoryLock
from siamese.losses import DoubleMarginContrastiveLoss
from siamese.module import NonFiniteError, SiameseModule
from siamese.nets import ConvTower, Tower
from siamese.pipeline import build, train

FIGURES = ("verification", "retrieval", "one_shot")
SHORT = ["trainer.max_epochs=3", "trainer.limit_train_batches=3", "callbacks.early_stopping=null"]


def figures(run_dir):
    report = json.loads((run_dir / "report.json").read_text())
    return {k: report[k] for k in FIGURES}


def test_same_config_and_seed_give_identical_metrics_and_index(tmp_path, capsys):
    runs = []
    for name in ("a", "b"):
        cfg = compose_config("train", [*SMALL, "loss=dcontrastive", f"run_dir={tmp_path / name}"])
        train(cfg)
        runs.append(tmp_path / name)
    assert figures(runs[0]) == figures(runs[1])
    assert index_bytes(runs[0]) == index_bytes(runs[1])


@pytest.mark.slow
def test_a_killed_run_resumes_to_the_same_result_as_an_uninterrupted_one(tmp_path):
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    train(compose_config("train", [*SMALL, "loss=dcontrastive", *SHORT, f"run_dir={straight}"]))  # in this process

    # SIGKILL in the middle of the second epoch (steps 3, 4, 5): epoch 1's checkpoint is the last one
    proc = run_train(killed, "loss=dcontrastive", *SHORT, FAULT,
                     "+callbacks.fault.kill_at_step=4")
    assert proc.returncode == -9
    assert (killed / "checkpoints" / "last.ckpt").is_file() and not (killed / "report.json").exists()

    logged_before = (killed / "logs" / "metrics.csv").read_text().splitlines()
    proc = run_train(killed, "loss=dcontrastive", *SHORT, "ckpt_path=last")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert figures(killed) == figures(straight)
    seen = [json.loads((run / "report.json").read_text())["training"]["images_seen"] for run in (killed, straight)]
    assert seen[0] == seen[1] == 3 * 3 * 6 * 16    # epochs × batches × the P×K batch of digits (p 6, k 16)
    assert index_bytes(killed) == index_bytes(straight)
    logged_after = (killed / "logs" / "metrics.csv").read_text().splitlines()
    assert len(logged_before) > 1 and logged_after[:len(logged_before)] == logged_before   # history kept


def test_resume_without_a_checkpoint_is_a_clear_error(tmp_path):
    cfg = compose_config("train", [*SMALL, f"run_dir={tmp_path}", "ckpt_path=last"])
    with pytest.raises(FileNotFoundError, match=r"ckpt_path=last: '.*last\.ckpt' not found"):
        train(cfg)


@pytest.mark.filterwarnings("ignore:Checkpoint directory .* exists and is not empty")
def test_resume_under_other_learning_rate_groups_is_a_clear_error(tmp_path):
    """A run saved with the heads at the full rate (as before ``optimizer.head_lr_mult``) does not resume
    under the default 0.3 — torch would fail on the group count deep inside the restore — and says how."""
    train(compose_config("train", [*SMALL, "optimizer.head_lr_mult=1.0", f"run_dir={tmp_path}"]))
    saved = (tmp_path / "checkpoints" / "last.ckpt").read_bytes()
    cfg = compose_config("train", [*SMALL, "trainer.max_epochs=2", f"run_dir={tmp_path}", "ckpt_path=last"])
    with pytest.raises(ValueError, match=r"\[\(1\.0, True\)\], this config gives \[\(1\.0, True\), \(0\.3, True\)\].*"
                                         r"optimizer\.head_lr_mult=1\.0"):
        train(cfg)
    assert (tmp_path / "checkpoints" / "last.ckpt").read_bytes() == saved


def test_nan_stops_the_run_naming_step_term_and_checkpoint_and_writes_nothing(tmp_path):
    cfg = compose_config("train", [*SMALL, "loss=dcontrastive", *SHORT, FAULT, "+callbacks.fault.nan_at_step=4",
                                   "+callbacks.fault.nan_stage=2", f"run_dir={tmp_path}"])
    with pytest.raises(NonFiniteError, match=r"step 4: the loss term \w+/layer2 is nan") as err:
        train(cfg)
    assert "Last good checkpoint: " in str(err.value) and "last.ckpt" in str(err.value)
    assert not list(tmp_path.glob("index*")) and not (tmp_path / "report.json").exists()


class DtypeSpy(DoubleMarginContrastiveLoss):
    """Records the dtype of the embeddings the loss arithmetic sees."""

    seen: list = []

    def compute(self, e1, e2, batch):
        self.seen.extend(t.dtype for t in e1 + e2)
        return super().compute(e1, e2, batch)


def test_losses_compute_in_float32_under_mixed_precision():
    module = SiameseModule(ConvTower(channels=[4, 8], embedding_dim=8), DtypeSpy(), optimizer=None)
    x = torch.rand(4, 1, 8, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        e1, e2 = module(x, x.flip(0))
        assert e1[-1].dtype == torch.bfloat16          # the tower did run in bf16
        out = module.loss(e1, e2, {"y": torch.tensor([1.0, 0.0, 1.0, 0.0])})
    assert out["loss"].dtype == torch.float32
    assert set(DtypeSpy.seen) == {torch.float32}


def test_bf16_mixed_training_runs_end_to_end(tmp_path):
    cfg = compose_config("train", [*SMALL, "loss=dcontrastive", "trainer.precision=bf16-mixed", f"run_dir={tmp_path}"])
    report = train(cfg)
    assert 0 <= report["verification"]["auc"] <= 1


class ConstantTower(Tower):
    """A 'tower' whose every output is the same unit vector: a collapsed embedding."""

    num_stages, embedding_dim, in_channels = 1, 4, 1

    def __init__(self):
        super().__init__()
        self.bias = nn.Parameter(torch.ones(4))

    def forward(self, x):
        return [torch.nn.functional.normalize(self.bias.expand(len(x), 4) + 0 * x.mean(), dim=1)]


def test_collapse_is_warned_with_the_step_and_the_likely_cause(tmp_path):
    dm = PairDataModule(DigitsImages(image_size=8), train_pairs=64, val_pairs=100, test_pairs=100, batch_size=32)
    module = SiameseModule(ConstantTower(), DoubleMarginContrastiveLoss(),
                           optimizer=lambda params: torch.optim.SGD(params, lr=0.0), loss_name="dcontrastive")
    trainer = pl.Trainer(max_steps=2, accelerator="cpu", logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0,
                         default_root_dir=tmp_path)
    with pytest.warns(UserWarning, match=r"step 0: the embeddings have collapsed .* margin too small for dcontrastive"):
        trainer.fit(module, datamodule=dm)


def test_healthy_training_does_not_warn_of_collapse(tmp_path):
    cfg = compose_config("train", [*SMALL, "loss=dcontrastive", f"run_dir={tmp_path}"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        train(cfg)
    assert not [w for w in caught if "collapsed" in str(w.message)]


@pytest.fixture
def no_data_reading(monkeypatch):
    """Reading the default data set fails the test: config checks must come first."""
    def no_reading(*args, **kwargs):
        raise AssertionError("data was read before the config was checked")

    monkeypatch.setattr(DigitsImages, "__init__", no_reading)


@pytest.mark.parametrize("override,match", [
    ("data.split=bogus", r"data\.split must be one of \['samples', 'classes', 'source'\], got 'bogus'"),
    ("data.positive_fraction=2", r"data\.positive_fraction must be in \(0, 1\), got 2"),
    ("loss.m1=5", r"loss\.m1 must be < loss\.m2 at layer 1, got m1=5\.0, m2=1\.0"),
    ("model.channels=[]", r"model\.channels must be a non-empty list"),
    ("data.source.image_size=4", r"data\.source\.image_size=4 is below the 8 px the tower needs \(3 stages"),
    ("data.source.image_size=0", r"data\.source\.image_size=0 is below the 8 px"),
    ("optimizer.backbone_lr_mult=-1", r"optimizer\.backbone_lr_mult must be >= 0, got -1"),
    ("optimizer.lr=-1", r"optimizer=\S+ refuses its settings \(optimizer\.lr=-1, .*\): Invalid learning rate: -1"),
    ("optimizer=adamw optimizer.weight_decay=-0.1",
     r"optimizer\.weight_decay=-0\.1\): Invalid weight_decay value: -0\.1"),
])
def test_config_errors_come_before_any_data_is_read(override, match, tmp_path, no_data_reading):
    cfg = compose_config("train", ["loss=dcontrastive", *override.split(), f"run_dir={tmp_path}"])
    with pytest.raises(Exception, match=match):
        build(cfg)


@pytest.mark.parametrize("override,match", [
    ("index.metric=cosine", r"index\.metric must be one of \['l2', 'ip'\], got 'cosine'"),
    ("ckpt_path=last", r"ckpt_path=last: '.*last\.ckpt' not found"),
    ("index=ivfpq index.m=5", r"index\.m=5 must divide the embedding dimension 192"),
    ("evaluation.n_way=1", r"evaluation\.n_way must be >= 2, got 1"),
    ("trainer.max_epochs=-1", r"trainer\.max_epochs must be >= 0, got -1"),
])
def test_train_checks_index_and_resume_settings_before_reading_data(override, match, tmp_path, no_data_reading):
    with pytest.raises(Exception, match=match):
        train(compose_config("train", [*override.split(), f"run_dir={tmp_path}"]))


def test_a_second_run_into_a_locked_run_directory_fails_at_once_naming_the_holder(tmp_path):
    with RunDirectoryLock(tmp_path):
        with pytest.raises(RuntimeError, match=rf"the run directory '{tmp_path}' is in use by pid {os.getpid()} on "):
            train(compose_config("train", [*SMALL, f"run_dir={tmp_path}"]))
    assert not (tmp_path / "report.json").exists()


def test_a_checkpoint_write_that_fails_leaves_the_previous_checkpoint_whole(tmp_path, monkeypatch):
    io, path = AtomicCheckpointIO(), tmp_path / "last.ckpt"
    io.save_checkpoint({"epoch": 1, "w": torch.ones(3)}, path)

    def disk_full(obj, f, *args, **kwargs):
        f.write(b"half a checkpoint")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", disk_full)
    with pytest.raises(OSError, match="No space left"):
        io.save_checkpoint({"epoch": 2, "w": torch.zeros(3)}, path)
    monkeypatch.undo()
    assert torch.load(path)["epoch"] == 1 and [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]


def test_the_csv_log_of_a_resumed_run_keeps_its_earlier_rows(tmp_path):
    first = ResumableCSVLogger(str(tmp_path), name="logs", version="")
    first.log_metrics({"train/loss": 1.0}, step=0)
    first.save()
    again = ResumableCSVLogger(str(tmp_path), name="logs", version="")
    again.log_metrics({"train/loss": 0.5, "val/auc": 0.9}, step=1)
    again.save()
    rows = (tmp_path / "logs" / "metrics.csv").read_text().splitlines()
    assert rows[0] == "step,train/loss,val/auc" and rows[1:] == ["0,1.0,", "1,0.5,0.9"]


@pytest.mark.parametrize("loss", ["trihard", "msml"])
def test_a_last_validation_batch_of_one_pair_gives_a_finite_validation_loss(loss, tmp_path, capsys):
    """49 validation pairs in P×K batches of 48: the last batch holds one pair, without any valid tuple."""
    cfg = compose_config("train", [*SMALL, f"loss={loss}", "data.val_pairs=49", "trainer.num_sanity_val_steps=2",
                                   f"run_dir={tmp_path}"])
    train(cfg)
    rows = [row for row in csv.DictReader(open(tmp_path / "logs" / "metrics.csv")) if row.get("val/loss")]
    assert rows and all(math.isfinite(float(row["val/loss"])) for row in rows)
