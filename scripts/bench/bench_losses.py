"""Loss timings, side by side in one process (medians over interleaved rounds).

1. Training-step time of dcontrastive over every stage vs contrastive (default tower and data,
   a plain loop: forward, loss, backward, Adam step).
2. Forward + backward time of the batch-mining losses against pytorch-metric-learning's nearest
   counterparts at B = 256 embeddings, D = 128, P×K = 64 × 4 (PML imported here only, as the peer).

    python scripts/bench/bench_losses.py [--rounds 5]
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from pytorch_metric_learning import losses as pml_losses
from pytorch_metric_learning.distances import LpDistance
from pytorch_metric_learning.miners import BatchHardMiner
from pytorch_metric_learning.reducers import MeanReducer

from common import compose_config, machine_header
from siamese.losses import ContrastiveLoss, MSMLLoss, QuadrupletLoss, TriHardLoss, TripletLoss
from siamese.losses.reducers import MeanReducer as MeanReducer_
from siamese.nets import TowerShape
from siamese.pipeline import build


def step_time(loss_name: str, steps: int) -> float:
    """Seconds per training step of the default model with ``loss=<loss_name>``."""
    cfg = compose_config("train", [f"loss={loss_name}", "run_dir=/tmp/bench_losses", "scheduler=none"])
    torch.manual_seed(0)
    module, dm = build(cfg)
    optimizer = module.configure_optimizers()
    batches = list(dm.train_dataloader())[:steps]
    start = time.perf_counter()
    for batch in batches:
        optimizer.zero_grad(set_to_none=True)
        e1, e2 = module(batch["x1"], batch["x2"])
        module.loss(e1, e2, batch)["loss"].backward()
        optimizer.step()
    return (time.perf_counter() - start) / len(batches)


def fwd_bwd(fn, x: torch.Tensor, repeats: int = 20) -> float:
    """Median seconds of forward + backward of ``fn(x)``."""
    times = []
    for _ in range(repeats):
        xi = x.detach().clone().requires_grad_()
        start = time.perf_counter()
        fn(xi).backward()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def ours(loss):
    loss.bind(TowerShape(1, 128))

    def call(x):
        labels = LABELS
        n = len(x) // 2
        return loss([x[:n]], [x[n:]], {"y": torch.ones(n), "c1": labels[:n], "c2": labels[n:]})["loss"]
    return call


LABELS = torch.arange(64).repeat_interleave(4)

# Peak memory of one forward + backward, measured in a fresh process: the kernel's peak resident
# size (VmHWM) is reset just before the call (echo 5 > /proc/self/clear_refs), read after, and the
# resident size before the call subtracted.
MEMORY_CASE = """
import sys, torch, torch.nn.functional as F
sys.path.insert(0, {here!r})
from bench_losses import peer_and_ours
b = {batch}
labels = torch.arange(b // 4).repeat_interleave(4)
x = F.normalize(torch.randn(b, 128), dim=1).requires_grad_()
fn = peer_and_ours(labels)[{name!r}][{side}]
def status(key):
    return next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith(key))
open("/proc/self/clear_refs", "w").write("5")
before = status("VmRSS:")
fn(x).backward()
print((status("VmHWM:") - before) / 1024)
"""


def peer_and_ours(labels: torch.Tensor) -> dict:
    """``{name: (ours, PML peer)}`` for the all-pairs / all-triplets losses on a P×K batch with ``labels``."""
    def our(loss):
        loss.bind(TowerShape(1, 128))

        def call(x):
            n = len(x) // 2
            return loss([x[:n]], [x[n:]], {"y": torch.ones(n), "c1": labels[:n], "c2": labels[n:]})["loss"]
        return call
    squared = LpDistance(normalize_embeddings=False, power=2)
    euclid = LpDistance(normalize_embeddings=False)
    pml_contrastive = pml_losses.ContrastiveLoss(pos_margin=0.0, neg_margin=1.0, distance=squared,
                                                 reducer=MeanReducer())
    pml_triplets = pml_losses.TripletMarginLoss(margin=0.2, distance=euclid, reducer=MeanReducer())
    return {
        "triplet, all triplets": (our(TripletLoss(0.2)), lambda v: pml_triplets(v, labels)),
        "contrastive, loss.pairs=batch_all, mean": (our(ContrastiveLoss(pairs="batch_all", reducer=MeanReducer_())),
                                                    lambda v: pml_contrastive(v, labels)),
    }


def peak_memory_mb(name: str, side: int, batch: int) -> float:
    code = MEMORY_CASE.format(here=str(Path(__file__).parent), batch=batch, name=name, side=side)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    print(machine_header())

    ratios, times = [], {"contrastive": [], "dcontrastive": []}
    for _ in range(args.rounds):
        for name in times:
            times[name].append(step_time(name, args.steps))
        ratios.append(times["dcontrastive"][-1] / times["contrastive"][-1])
    print(f"\n## training step, default model and data, {args.steps} steps x {args.rounds} rounds\n")
    print("| loss | ms / step (median) |\n|---|---|")
    for name, values in times.items():
        print(f"| {name} | {1e3 * statistics.median(values):.1f} |")
    print(f"| **dcontrastive / contrastive** | **{statistics.median(ratios):.3f}×** (goal <= 1.3×) |")

    torch.manual_seed(0)
    x = F.normalize(torch.randn(256, 128), dim=1)
    dist = LpDistance(normalize_embeddings=False)
    pml_trihard = pml_losses.TripletMarginLoss(margin=0.2, distance=dist, reducer=MeanReducer())
    miner = BatchHardMiner(distance=dist)
    pml_batch_hard = lambda v: pml_trihard(v, LABELS, miner(v, LABELS))  # noqa: E731
    pml_all = pml_losses.TripletMarginLoss(margin=0.2, distance=dist, reducer=MeanReducer())
    rows = [
        ("trihard", ours(TriHardLoss(0.2)), "TripletMarginLoss + BatchHardMiner", pml_batch_hard),
        ("msml", ours(MSMLLoss(0.2)), "TripletMarginLoss + BatchHardMiner (PML has no MSML)", pml_batch_hard),
        ("quadruplet", ours(QuadrupletLoss(0.3, 0.15)),
         "TripletMarginLoss, all triplets (PML has no quadruplet loss)", lambda v: pml_all(v, LABELS)),
        *((name, mine, "the same loss in PML", peer) for name, (mine, peer) in peer_and_ours(LABELS).items()),
    ]
    print("\n## forward + backward, B = 256, D = 128, 64 classes x 4 "
          "(3 warm-ups, then the median over rounds of the median of 4 calls)\n")
    print("| ours | ms | PML peer | ms | ours / PML |\n|---|---|---|---|---|")
    for name, fn, peer, peer_fn in rows:
        for _ in range(3):
            fwd_bwd(fn, x, 1), fwd_bwd(peer_fn, x, 1)
        a, b = [], []
        for _ in range(args.rounds):
            a.append(fwd_bwd(fn, x, 4))
            b.append(fwd_bwd(peer_fn, x, 4))
        ta, tb = statistics.median(a), statistics.median(b)
        print(f"| {name} | {1e3 * ta:.2f} | {peer} | {1e3 * tb:.2f} | {ta / tb:.2f}× |")

    print("\n## peak memory of one forward + backward, B = 512, D = 128, 128 classes x 4 (a fresh process each)\n")
    print("| loss | ours MiB | PML MiB | ours / PML |\n|---|---|---|---|")
    for name in peer_and_ours(LABELS):
        mine, peer = peak_memory_mb(name, 0, 512), peak_memory_mb(name, 1, 512)
        print(f"| {name} | {mine:.0f} | {peer:.0f} | {mine / max(peer, 1e-9):.2f}× |")


if __name__ == "__main__":
    main()
