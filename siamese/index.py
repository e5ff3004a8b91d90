"""Embedding export and FAISS indexes with their metadata.

An index directory holds ``index.faiss`` (the FAISS index) and ``index.json`` (metadata: ``dim``,
``count``, ``metric``, ``distance``, ``labels`` in index order, and whatever the caller adds, such
as the checkpoint path). Both are written to a temporary file first and renamed into place, so a
crash never leaves a half-written file.

Distances: ``IndexFlatL2`` returns **squared** Euclidean distances. ``search`` converts them once,
here, to Euclidean distances (``dist = sqrt(max(sqdist, 0))``); everything downstream (reports,
thresholds) uses Euclidean distance.
"""
from __future__ import annotations

import json
from pathlib import Path

import faiss
import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from siamese.atomic import atomic_write_bytes, atomic_write_json

INDEX_FILE, META_FILE = "index.faiss", "index.json"


@torch.no_grad()
def embed(net: nn.Module, loader: DataLoader, device: torch.device | str = "cpu"
          ) -> tuple[np.ndarray, np.ndarray]:
    """Last-stage embeddings and class ids of every image a loader of ``{x, c}`` batches yields.

    Returns ``(embeddings (N, D) float32, labels (N,) int64)``. The net is put in eval mode for the
    pass and restored to its previous mode afterwards.
    """
    was_training = net.training
    net.eval()
    chunks, labels = [], []
    try:
        for batch in loader:
            chunks.append(net(batch["x"].to(device))[-1].float().cpu())
            labels.append(batch["c"].cpu())
    finally:
        net.train(was_training)
    if not chunks:
        raise ValueError("nothing to embed: the loader yielded no images")
    return torch.cat(chunks).numpy().astype(np.float32), torch.cat(labels).numpy().astype(np.int64)


def build_flat_index(embeddings: np.ndarray) -> faiss.Index:
    """An exact ``IndexFlatL2`` holding ``embeddings (N, D)``."""
    x = np.ascontiguousarray(embeddings, dtype=np.float32)
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"embeddings must be a non-empty (N, D) array, got shape {x.shape}")
    index = faiss.IndexFlatL2(x.shape[1])
    index.add(x)
    return index


def search(index: faiss.Index, queries: np.ndarray, k: int, exclude_ids: np.ndarray | None = None
           ) -> tuple[np.ndarray, np.ndarray]:
    """``k`` nearest neighbours of ``queries (Q, D)``: ``(dist (Q, k') Euclidean, ids (Q, k'))``.

    ``k' = min(k, ntotal)``. Leave-one-out: ``exclude_ids (Q,)`` names, per query, a gallery id that
    must not be returned (the query itself when the queries are the gallery); then
    ``k' = min(k, ntotal - 1)``.
    """
    q = np.ascontiguousarray(queries, dtype=np.float32)
    if q.ndim != 2 or q.shape[1] != index.d:
        raise ValueError(f"queries must be (Q, {index.d}), got shape {q.shape}")
    if index.ntotal == 0:
        raise ValueError("the index is empty")
    extra = 0 if exclude_ids is None else 1
    sq, ids = index.search(q, min(k + extra, index.ntotal))
    if exclude_ids is not None:
        exclude_ids = np.asarray(exclude_ids).reshape(-1, 1)
        keep = ids != exclude_ids
        keep[keep.all(axis=1), -1] = False      # self not among the results: drop the farthest
        width = ids.shape[1] - 1
        sq, ids = sq[keep].reshape(-1, width), ids[keep].reshape(-1, width)
    return np.sqrt(np.maximum(sq, 0.0)), ids


def save_index(directory: Path, index: faiss.Index, labels: np.ndarray, **metadata) -> dict:
    """Write ``index.faiss`` and ``index.json`` into ``directory``; returns the metadata written."""
    labels = np.asarray(labels).reshape(-1)
    if len(labels) != index.ntotal:
        raise ValueError(f"{len(labels)} labels for an index of {index.ntotal} vectors")
    meta = {"dim": int(index.d), "count": int(index.ntotal), "metric": "l2",
            "distance": "euclidean (FAISS squared L2, square-rooted in siamese.index.search)",
            "index_type": type(index).__name__, "labels": labels.tolist(), **metadata}
    directory = Path(directory)
    atomic_write_bytes(directory / INDEX_FILE, faiss.serialize_index(index).tobytes())
    atomic_write_json(directory / META_FILE, meta)
    return meta


def load_index(directory: Path) -> tuple[faiss.Index, dict]:
    """Read an index directory written by ``save_index``; checks that file and metadata agree."""
    directory = Path(directory)
    for name in (INDEX_FILE, META_FILE):
        if not (directory / name).is_file():
            raise FileNotFoundError(f"{str(directory / name)!r} is missing: not an index directory")
    index = faiss.deserialize_index(np.fromfile(directory / INDEX_FILE, dtype=np.uint8))
    meta = json.loads((directory / META_FILE).read_text())
    if meta.get("dim") != index.d or meta.get("count") != index.ntotal or len(meta["labels"]) != index.ntotal:
        raise ValueError(
            f"{directory}: index.faiss holds {index.ntotal} vectors of dim {index.d} but index.json "
            f"says count={meta.get('count')}, dim={meta.get('dim')}, {len(meta.get('labels', []))} labels"
        )
    return index, meta
