"""Gallery vectors as one row sequence, in memory or in memory-mapped shards; exact k-NN by streaming.

An index is built from ``Vectors``: ``len(v)`` rows of dimension ``v.dim``, read a chunk at a time
(``chunks``) or by row number (``take``). Row ``r`` of the sequence becomes FAISS id ``r`` and row
``r`` of the labels / paths sidecars. ``ArrayVectors`` wraps an ``(N, D)`` array;
``ShardVectors`` concatenates the ``.npy`` shards written by ``siamese.shards`` without reading them
into memory: memory holds one chunk at a time.

``exact_knn`` is exact search over any ``Vectors`` in bounded memory: ``faiss.knn`` on each chunk,
merged in a ``faiss.ResultHeap`` of ``(Q, k)``.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import faiss
import numpy as np

CHUNK_ROWS = 1 << 16        # rows read at a time: 16 MiB of 64-dimensional float32


class Vectors:
    """``len(self)`` rows of ``self.dim`` float32 values."""

    dim: int

    def __len__(self) -> int:
        raise NotImplementedError

    def chunks(self, rows: int = CHUNK_ROWS) -> Iterator[tuple[int, np.ndarray]]:
        """``(first row number, (n, D) float32 contiguous array)`` pieces covering every row in order."""
        raise NotImplementedError

    def take(self, rows: np.ndarray) -> np.ndarray:
        """``(len(rows), D)`` float32: the rows with these numbers (any order)."""
        raise NotImplementedError

    def sample(self, size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """A seeded sample of ``min(size, len)`` distinct rows: ``(row numbers sorted, (n, D) rows)``."""
        n = len(self)
        rows = np.arange(n) if size >= n else np.sort(np.random.default_rng(seed).choice(n, size, replace=False))
        return rows, self.take(rows)

    @property
    def nbytes(self) -> int:
        """Bytes of all rows as float32: what an exact (Flat) index holds in memory."""
        return len(self) * self.dim * 4


class ArrayVectors(Vectors):
    """An in-memory ``(N, D)`` array as ``Vectors``."""

    def __init__(self, x: np.ndarray):
        self.x = np.ascontiguousarray(x, dtype=np.float32)
        if self.x.ndim != 2 or self.x.shape[0] == 0:
            raise ValueError(f"embeddings must be a non-empty (N, D) array, got shape {self.x.shape}")
        self.dim = self.x.shape[1]

    def __len__(self) -> int:
        return len(self.x)

    def chunks(self, rows: int = CHUNK_ROWS):
        for start in range(0, len(self.x), rows):
            yield start, self.x[start:start + rows]

    def take(self, rows):
        return self.x[np.asarray(rows)]


class ShardVectors(Vectors):
    """The embedding files ``paths`` (each ``(n_s, D)`` float32 ``.npy``) as one sequence, read from disk
    a piece at a time (``pread``, not a memory map: the pages read do not stay in the process's memory)."""

    def __init__(self, paths: list[Path]):
        if not paths:
            raise ValueError("no embedding shards to index")
        self.paths = [Path(p) for p in paths]
        headers = [np.load(p, mmap_mode="r") for p in self.paths]       # reads the headers only
        dims = {h.shape[1] for h in headers if h.ndim == 2}
        if len(dims) != 1 or any(h.ndim != 2 or h.dtype != np.float32 or not h.flags.c_contiguous for h in headers):
            raise ValueError(f"shards {[str(p) for p in paths]} are not (n, D) float32 arrays of one D: "
                             "export again (resume=false)")
        self.dim = dims.pop()
        self.data_offsets = [int(h.offset) for h in headers]             # bytes before each file's data
        self.offsets = np.cumsum([0] + [len(h) for h in headers])       # first row of each file
        del headers
        if self.offsets[-1] == 0:
            raise ValueError("the embedding shards hold no vectors: no readable image was exported")

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def _read(self, part: int, start: int, count: int) -> np.ndarray:
        row = self.dim * 4
        x = np.fromfile(self.paths[part], dtype=np.float32, count=count * self.dim,
                        offset=self.data_offsets[part] + start * row)
        return x.reshape(count, self.dim)

    def chunks(self, rows: int = CHUNK_ROWS):
        for part in range(len(self.paths)):
            size = int(self.offsets[part + 1] - self.offsets[part])
            for start in range(0, size, rows):
                yield int(self.offsets[part]) + start, self._read(part, start, min(rows, size - start))

    def take(self, rows):
        rows = np.asarray(rows)
        part = np.searchsorted(self.offsets, rows, side="right") - 1
        out = np.empty((len(rows), self.dim), dtype=np.float32)
        row_bytes = self.dim * 4
        for p in np.unique(part):
            mine = np.flatnonzero(part == p)
            with open(self.paths[p], "rb") as f:
                for j in mine:
                    offset = self.data_offsets[p] + int(rows[j] - self.offsets[p]) * row_bytes
                    out[j] = np.frombuffer(os.pread(f.fileno(), row_bytes, offset), dtype=np.float32)
        return out


def exact_knn(queries: np.ndarray, vectors: Vectors, k: int, metric_type: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact ``k`` nearest rows of ``vectors`` for ``queries (Q, D)``: ``(values (Q, k), rows (Q, k))``,
    values as FAISS gives them (squared L2, or inner products, largest first), one chunk in memory at a time."""
    q = np.ascontiguousarray(queries, dtype=np.float32)
    k = min(k, len(vectors))
    heap = faiss.ResultHeap(len(q), k, keep_max=metric_type == faiss.METRIC_INNER_PRODUCT)
    for start, chunk in vectors.chunks():
        values, rows = faiss.knn(q, chunk, min(k, len(chunk)), metric=metric_type)
        heap.add_result(values, np.where(rows >= 0, rows + start, -1))
    heap.finalize()
    return heap.D, heap.I
