"""Training on several processes (Lightning DDP, gloo on 127.0.0.1): whole P×K batches per rank, gathered
validation equal to one process, cross-rank losses with the single-process gradient, resume across a
simulated two-machine torchrun, and a clear refusal of a multi-machine run without a shared run dir."""
import csv
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from hydra import compose, initialize_config_dir

from helpers import CONF_DIR, FAULT, ROOT, SNAPSHOT, TESTS_DIR, index_bytes, run_script
from siamese.data.datamodule import shard_batches, shard_items
from siamese.losses import DoubleMarginContrastiveLoss, TriHardLoss
from siamese.module import gather_batch
from siamese.nets import TowerShape
from siamese.pipeline import build, check_shared_run_dir, restore_checkpoint
from siamese.runs import run_config

# scheduler=none: a cosine schedule follows trainer.max_epochs, which the resumed run's first part changes
DDP = ["trainer=ddp_debug", "loss=trihard", "loss.gather=true", "data.train_pairs=384", "data.val_pairs=200",
       "data.test_pairs=300", "evaluation.trials=100", "scheduler=none", "data.split=classes"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_whole_pk_batches_are_dealt_to_ranks_disjoint_and_equal_in_number():
    batch, n_batches = 48, 9                                   # 9 P×K batches of 48 pair rows, 2 ranks
    shares = [shard_batches(batch * n_batches, batch, rank, 2) for rank in (0, 1)]
    assert len(shares[0]) == len(shares[1]) == 4 * batch       # 8 of 9 batches dealt: equal counts
    assert not set(shares[0]) & set(shares[1])
    for share in shares:                                       # each batch whole and in order
        for start in share[::batch]:
            assert start % batch == 0 and list(share[share.tolist().index(start):][:batch]) == list(
                range(start, start + batch))
    assert shard_batches(10, 4, 0, 1).tolist() == list(range(10))
    with pytest.raises(ValueError, match="fewer than the 3 ranks"):
        shard_batches(8, 4, 0, 3)
    items = [shard_items(5, rank, 2).tolist() for rank in (0, 1)]
    assert items == [[0, 2, 4], [1, 3, 0]]                     # padded with the first item, removed by position


def _gather_gradient_rank(rank: int, world: int, port: int, out: str) -> None:
    """One rank of the gradient test: its half of a batch, the loss on the gathered global batch."""
    import torch.distributed as dist
    from lightning_fabric.utilities.distributed import _all_gather_ddp_if_available

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    torch.manual_seed(0)
    weight = torch.randn(6, 5, requires_grad=True)
    x, labels = torch.randn(16, 6), torch.arange(4).repeat_interleave(4)
    for loss in (TriHardLoss(gather=True), DoubleMarginContrastiveLoss(pairs="batch_all", gather=True)):
        loss.bind(TowerShape(1, 5))
        local = slice(rank * 8, rank * 8 + 8)                  # this rank's 4 pairs = 8 images
        emb = F.normalize(x[local] @ weight, dim=1)
        batch = {"y": torch.ones(4), "c1": labels[local][:4], "c2": labels[local][4:],
                 "i1": torch.arange(rank * 8, rank * 8 + 4), "i2": torch.arange(rank * 8 + 4, rank * 8 + 8)}
        e1, e2, joint = gather_batch(_all_gather_ddp_if_available, [emb[:4]], [emb[4:]], batch)
        value = loss(e1, e2, joint)["loss"]
        weight.grad = None
        value.backward()
        grad = weight.grad.clone()
        dist.all_reduce(grad)
        grad /= world                                          # what DDP does to parameter gradients
        if rank == 0:
            torch.save({"loss": value.detach(), "grad": grad}, f"{out}.{type(loss).__name__}")
    dist.destroy_process_group()


def test_gathered_loss_has_the_gradient_of_one_process_on_the_joint_batch(tmp_path):
    torch.multiprocessing.spawn(_gather_gradient_rank, args=(2, free_port(), str(tmp_path / "r0")), nprocs=2)
    torch.manual_seed(0)
    weight = torch.randn(6, 5, requires_grad=True)
    x, labels = torch.randn(16, 6), torch.arange(4).repeat_interleave(4)
    # the joint batch in the gathered order: rank 0's x1 rows, rank 1's x1 rows, then both ranks' x2 rows
    order = [*range(0, 4), *range(8, 12), *range(4, 8), *range(12, 16)]
    for loss in (TriHardLoss(), DoubleMarginContrastiveLoss(pairs="batch_all")):
        loss.bind(TowerShape(1, 5))
        emb = F.normalize(x[order] @ weight, dim=1)
        c = labels[order]
        batch = {"y": torch.ones(8), "c1": c[:8], "c2": c[8:], "i1": torch.tensor(order[:8]),
                 "i2": torch.tensor(order[8:])}
        value = loss([emb[:8]], [emb[8:]], batch)["loss"]
        weight.grad = None
        value.backward()
        ranks = torch.load(tmp_path / f"r0.{type(loss).__name__}")
        assert torch.allclose(ranks["loss"], value.detach(), atol=1e-6)        # the logged loss is the global one
        assert torch.allclose(ranks["grad"], weight.grad, atol=1e-6), type(loss).__name__


def logged_validation(run_dir: Path) -> dict:
    rows = [r for r in csv.DictReader(open(run_dir / "logs" / "metrics.csv")) if r.get("val/auc")]
    return {k: float(rows[-1][k]) for k in ("val/auc", "val/eer", "val/p_at_1", "val/map_at_r")}


@pytest.mark.slow
def test_a_two_process_run_equals_one_process_and_resumes_across_two_torchrun_machines(tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")       # what torchrun sets: the same float arithmetic in every run
    straight, after_epoch_1 = tmp_path / "straight", tmp_path / "checkpoints_after_epoch_1"
    proc = run_script("train.py", f"hydra.run.dir={straight}", *DDP, "trainer.max_epochs=2", SNAPSHOT,
                      "+callbacks.snapshot.after_epoch=0", f"+callbacks.snapshot.to={after_epoch_1}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Starting with 2 processes" in proc.stderr + proc.stdout

    # gathered validation = one process validating the same weights on the same pairs
    cfg = run_config(straight)
    cfg.trainer.limit_val_batches = 4                          # 2 batches × 2 ranks
    module, datamodule = build(cfg)
    restore_checkpoint(module, straight / "checkpoints" / "last.ckpt")
    trainer = pl.Trainer(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False,
                         limit_val_batches=4, enable_model_summary=False)
    single = {k: float(v) for k, v in trainer.validate(module, datamodule=datamodule, verbose=False)[0].items()}
    gathered = logged_validation(straight)
    for key, value in gathered.items():
        assert value == pytest.approx(single[key], abs=1e-6), key

    # rank 0 alone wrote the artefacts: one report, one index, one log with one header
    report = json.loads((straight / "report.json").read_text())
    assert report["training"]["processes"] == 2
    files = json.loads((straight / "index.json").read_text())["files"]
    outputs = sorted([e["name"] for e in files.values()] + ["index.json"])
    assert sorted(p.name for p in straight.glob("*") if p.suffix in (".faiss", ".npy", ".json") and
                  p.name != "report.json") == outputs
    assert (straight / "logs" / "metrics.csv").read_text().count("epoch,") == 1
    logged = list(csv.DictReader(open(straight / "logs" / "metrics.csv")))

    # the run directory put back as a run killed right after epoch 1 leaves it (that epoch's checkpoints,
    # no outputs), then resumed by two torchrun "machines" (one process each, 127.0.0.1) for the second
    index = index_bytes(straight)
    shutil.rmtree(straight / "checkpoints")
    after_epoch_1.rename(straight / "checkpoints")
    for name in [*outputs, "report.json"]:
        (straight / name).unlink()
    port, env = free_port(), {**os.environ, "PYTHONPATH": str(TESTS_DIR)}
    nodes = [subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--node_rank", str(r),
                               "--nproc_per_node", "1", "--master_addr", "127.0.0.1", "--master_port", str(port),
                               str(ROOT / "scripts" / "train.py"), f"hydra.run.dir={straight}", *DDP,
                               "trainer.devices=1", "trainer.num_nodes=2", "trainer.max_epochs=2", "ckpt_path=last"],
                              cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for r in (0, 1)]
    logs = [node.communicate(timeout=240)[0] for node in nodes]
    assert [node.returncode for node in nodes] == [0, 0], logs[0][-3000:] + logs[1][-3000:]
    resumed = json.loads((straight / "report.json").read_text())
    assert {k: resumed[k] for k in ("verification", "retrieval", "one_shot")} == \
        {k: report[k] for k in ("verification", "retrieval", "one_shot")}
    del resumed["training"]["seconds"], report["training"]["seconds"]
    assert resumed["training"] == report["training"]         # steps, epochs, images seen, the epoch evaluated
    assert index_bytes(straight) == index
    appended = list(csv.DictReader(open(straight / "logs" / "metrics.csv")))[len(logged):]
    assert {(r["epoch"], r["step"]) for r in appended} == {("1", "3"), ("1", "4"), ("1", "5")}   # epoch 2 alone


def test_a_multi_machine_run_without_a_shared_run_dir_is_refused(tmp_path, monkeypatch):
    from hydra.core.hydra_config import HydraConfig

    cases = ((["trainer=ddp", "trainer.num_nodes=2"], {}), (["trainer=ddp"], {"TORCHELASTIC_RUN_ID": "1"}))
    for overrides, env in cases:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            cfg = compose("train", overrides, return_hydra_config=True)
        HydraConfig.instance().set_config(cfg)          # as inside scripts/train.py, no hydra.run.dir given
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        with pytest.raises(ValueError, match=r"add hydra\.run\.dir=<a directory every process sees>"):
            check_shared_run_dir(cfg)
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("train", ["trainer=ddp", f"hydra.run.dir={tmp_path}"], return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)
    check_shared_run_dir(cfg)                            # an explicit run directory: accepted
    HydraConfig.instance().cfg = None


def test_a_nan_on_one_rank_stops_every_rank_naming_it(tmp_path):
    # loss.gather=false: rank 0's loss stays finite (with true, rank 1's NaN embeddings reach it too)
    proc = run_script("train.py", f"hydra.run.dir={tmp_path}", *DDP, "loss.gather=false", FAULT,
                      "+callbacks.fault.nan_at_step=1", "+callbacks.fault.rank=1")
    assert proc.returncode != 0
    assert "step 1: rank 1: the loss term trihard is nan" in proc.stderr               # the rank that saw it
    assert "step 1: rank(s) [1] saw a non-finite loss term or gradient" in proc.stderr  # the other one
    assert not (tmp_path / "report.json").exists()


def test_loss_gather_needs_a_batch_wide_loss():
    with pytest.raises(ValueError, match=r"loss\.gather=true .* needs loss\.pairs=batch_all"):
        DoubleMarginContrastiveLoss(gather=True)
