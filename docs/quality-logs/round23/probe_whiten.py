"""Twenty-third-round probe: does whitening the embeddings, learned on the training images, help unseen classes?

Learned whitening (Radenović et al. 2018, after Mikolajczyk & Matas' linear discriminant projections):
from the training images' model embeddings e (N, D) and their class ids, with the evaluated (best)
weights, the within-class covariance Σ_w = (1/N) Σ_i (e_i − μ_{c_i})(e_i − μ_{c_i})ᵀ, shrunk towards a
multiple of the identity, S = Σ_w + α·(tr Σ_w / D)·I, then every evaluated embedding becomes

    z = normalize((e − μ) S^(-1/2))          μ: the training images' mean

(a rotation after S^(-1/2), as in the paper, changes no distance, so none is taken). `pca` whitens with
the total covariance instead of the within-class one (no labels). Each run trains once, as
bench_quality.py does, and is evaluated from the same weights in every way:

    plain      e (what the project reports; equals bench_quality.py's run)
    lw0.1      learned whitening, α = 0.1
    lw1        learned whitening, α = 1
    pca0.1     total-covariance whitening, α = 0.1
    pca1       total-covariance whitening, α = 1     (added after the exploration, see RULES.md)
    pca3       total-covariance whitening, α = 3     (added after the exploration, see RULES.md)

Run from scripts/bench (PYTHONPATH=<repo>:<repo>/scripts/bench), one JSON line per run appended to LOG:

    python probe_whiten.py DATA SEEDS FOLDS LOG ours         # DATA: d | g16 | a folder's root; SEEDS/FOLDS: 0,1,2
"""
import sys

import torch
import torch.nn.functional as F

import bench_quality

WAYS = {"lw0.1": ("within", 0.1), "lw1": ("within", 1.0), "pca0.1": ("total", 0.1), "pca1": ("total", 1.0),
        "pca3": ("total", 3.0)}


def training_embeddings(net, datamodule) -> tuple[torch.Tensor, torch.Tensor]:
    """The training images' model embeddings ``(N, D)`` and class ids ``(N,)``."""
    out, labels = [], []
    with torch.no_grad():
        for batch in datamodule.images_dataloader("train"):
            out.append(net.final(net(batch["x"])))
            labels.append(batch["c"])
    return torch.cat(out).double(), torch.cat(labels)


def whitening(e: torch.Tensor, c: torch.Tensor, covariance: str, alpha: float) -> tuple[torch.Tensor, torch.Tensor]:
    """``(μ (D,), W (D, D))`` with ``W = S^(-1/2)``, S the shrunk within-class or total covariance."""
    mu = e.mean(0)
    if covariance == "within":
        centred = e.clone()
        for k in c.unique():
            centred[c == k] -= e[c == k].mean(0)
    else:
        centred = e - mu
    sigma = centred.T @ centred / len(e)
    s = sigma + alpha * torch.trace(sigma) / len(sigma) * torch.eye(len(sigma), dtype=sigma.dtype)
    values, vectors = torch.linalg.eigh(s)
    return mu, vectors @ torch.diag(values.rsqrt()) @ vectors.T


def ways(net, datamodule) -> dict:
    """Each way's stand-in for the tower's ``final`` (``bench_quality.probe_ways``): the model embedding
    whitened, ``normalize((e − μ) W)``, with the way's covariance and α, fitted on the training images."""
    combine = type(net).final
    e, c = training_embeddings(net, datamodule)

    def whitened(covariance, alpha):
        mu, w = (t.float() for t in whitening(e, c, covariance, alpha))
        return lambda self, stages: F.normalize((combine(self, stages) - mu) @ w, dim=1)

    return {way: ("final", whitened(covariance, alpha)) for way, (covariance, alpha) in WAYS.items()}


if __name__ == "__main__":
    bench_quality.probe_ways(sys.argv[1:], {"ours": ["loss=dcontrastive"]}, ways)
