"""Learned whitening of the model embedding (Radenović et al., 2018, after Mikolajczyk & Matas' linear
discriminant projections), fitted once on the training images after training (``evaluation.whitening``).

From the training images' model embeddings ``e_i (N, D)`` and class ids ``c_i``:

    μ   = (1/N) Σ_i e_i                                        the training images' mean
    Σ_w = (1/N) Σ_i (e_i − μ_{c_i})(e_i − μ_{c_i})ᵀ             the within-class covariance
    S   = Σ_w + α · (tr Σ_w / D) · I                            shrunk towards the identity (α ≥ 0)
    z   = normalize((e − μ) · S^(-1/2))                         what every evaluated embedding becomes

The directions in which images of one class still differ are turned down, the others kept; α sets
how far (α → ∞: centring only). ``Whitening`` holds μ and S^(-1/2) as buffers of the tower
(``Tower.embed`` applies it), so the checkpoint carries them to evaluation, export, matching and the
ONNX bundle.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from siamese.inference import device_of, embed


class Whitening(nn.Module):
    """``e (B, D) -> normalize((e − mean) @ matrix) (B, D)``; buffers ``mean (D,)``, ``matrix (D, D)``."""

    def __init__(self, dim: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("matrix", torch.eye(dim))

    def forward(self, e: Tensor) -> Tensor:
        return F.normalize((e - self.mean) @ self.matrix, dim=1)


def within_class_whitening(embeddings: np.ndarray, labels: np.ndarray, alpha: float) -> tuple[Tensor, Tensor]:
    """``(μ (D,), S^(-1/2) (D, D))`` of ``embeddings (N, D)`` with class ids ``labels (N,)`` (module
    docstring), computed in float64, returned as float32."""
    e = torch.as_tensor(embeddings, dtype=torch.float64)
    labels = torch.as_tensor(labels)
    centred = e.clone()
    for k in labels.unique():
        members = labels == k
        centred[members] -= e[members].mean(0)
    sigma = centred.T @ centred / len(e)
    dim = sigma.shape[0]
    shrunk = sigma + alpha * torch.trace(sigma) / dim * torch.eye(dim, dtype=sigma.dtype)
    values, vectors = torch.linalg.eigh(shrunk)
    if values.min() <= 0:
        raise ValueError("evaluation.whitening: the training embeddings' within-class covariance is singular "
                         f"(each class a single point?); give evaluation.whitening > 0 (got {alpha})")
    return e.mean(0).float(), (vectors @ torch.diag(values.rsqrt()) @ vectors.T).float()


def fit_whitening(net: nn.Module, loader, alpha: float) -> dict:
    """Embed the training images of ``loader`` (``{x, c}`` batches) with ``net`` as it is, fit the
    whitening and attach it to ``net`` (``net.whitening``): from then on ``net.embed`` whitens.
    Returns what the report records: ``alpha`` and the images and classes it was fitted on."""
    if getattr(net, "whitening", None) is not None:
        del net.whitening                              # fitted on the tower's plain embeddings, never on whitened ones
    embeddings, extras = embed(net, loader, total=len(loader.dataset), desc="whitening: the training images")
    mean, matrix = within_class_whitening(embeddings, extras["c"], float(alpha))
    net.whitening = Whitening(len(mean)).to(device_of(net))
    net.whitening.mean.copy_(mean)
    net.whitening.matrix.copy_(matrix)
    return {"alpha": float(alpha), "images": len(embeddings), "classes": int(len(np.unique(extras["c"])))}
