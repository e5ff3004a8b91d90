"""Fourteenth-round probe: does centring the embeddings on the training images' mean help unseen classes?

SimpleShot's CL2N (Wang et al. 2019): subtract the mean embedding of the training (base-class) images,
then L2-normalise, before nearest-neighbour search. Each run trains once, as bench_quality.py does, and
is evaluated three ways from the same weights:

    plain  e                                       (what the project reports; equals the logged runs)
    stage  concat_l( normalize(e_l − μ_l) ) / √L   (each stage centred on its training-image mean μ_l)
    model  normalize(e − μ)                        (the model embedding centred on its mean μ)

μ is taken over the split's training images with the evaluated (best) weights. Run from scripts/bench
(PYTHONPATH=<repo>:<repo>/scripts/bench), one JSON line per run appended to LOG:

    python probe_center.py DATA SEEDS FOLDS LOG VARIANT...   # DATA: d | g16 | g24; SEEDS/FOLDS: 0,1,2
                                                             # VARIANT: ours | peer | raw
"""
import sys

import torch
import torch.nn.functional as F

import bench_quality


def training_mean(net, datamodule) -> list[torch.Tensor]:
    """Mean over the training images of each stage's embedding: ``[μ_l (D_l,)]``."""
    sums, n = None, 0
    with torch.no_grad():
        for batch in datamodule.images_dataloader("train"):
            out = net(batch["x"])
            sums = [o.sum(0) for o in out] if sums is None else [a + o.sum(0) for a, o in zip(sums, out)]
            n += len(batch["x"])
    return [s / n for s in sums]


def ways(net, datamodule) -> dict:
    """The two centred ways' stand-ins for the tower's ``final`` (``bench_quality.probe_ways``)."""
    combine = type(net).final
    mus = training_mean(net, datamodule)
    mu = combine(net, [m[None] for m in mus])[0]     # the model embedding is linear in the stages' (cat / √L)
    return {"stage": ("final", lambda self, stages: combine(self, [F.normalize(e - m, dim=1)
                                                                  for e, m in zip(stages, mus)])),
            "model": ("final", lambda self, stages: F.normalize(combine(self, stages) - mu, dim=1))}


def main() -> None:
    data = sys.argv[1]
    peer_set = ["model.pool_grid=2", "optimizer.lr=0.0001", "optimizer.head_lr_mult=1"] if data == "d" else \
        ["model.pool_grid=2", "optimizer.head_lr_mult=0.1"]              # the peer at its best (as in the rounds)
    peer = [*bench_quality.PML_OVERRIDES, "model.embedding=concat", "optimizer.weight_decay=0.0", *peer_set]
    bench_quality.probe_ways(sys.argv[1:], {"ours": ["loss=dcontrastive"], "peer": peer, "raw": None}, ways)


if __name__ == "__main__":
    main()
