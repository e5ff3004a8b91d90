"""FAISS indexes: how each kind is built (in memory, or from shards with its lists on disk), searched,
and measured against exact search.

Index types (``conf/index``): exact ``FlatIndex``, ``IVFFlatIndex``, ``HNSWIndex``, ``IVFPQIndex``
and ``AutoIndex`` (chosen from the gallery's size, tuned to a recall target), on L2 (default) or
inner product. Approximate types report their recall@k against exact search, measured right after
building (``measure_recall``). Every spec builds from ``Vectors`` (``siamese.vectors``: an array, or
memory-mapped shards) a chunk at a time; ``build_on_disk`` writes an IVF index's inverted lists to
an ``.ivfdata`` file (one FAISS block per group of rows, merged by FAISS's ``OnDiskInvertedLists``)
so that a gallery larger than memory is indexed within ``max_memory``. Where the files go:
``siamese.index_store``.

Distances: FAISS returns squared L2 distances (L2) or inner products (IP). ``to_distance``
converts them once, here, into the Euclidean distance that reports and thresholds use:
``sqrt(max(v, 0))`` for L2, and ``sqrt(max(2 − 2v, 0))`` for IP (exact for unit vectors, which
the tower's embeddings are).
"""
from __future__ import annotations

import contextlib
import math
import os
import re
import sys
import tempfile
import time
import warnings
from pathlib import Path

import faiss
import numpy as np

from siamese.checks import at_least, one_of
from siamese.vectors import ArrayVectors, Vectors, exact_knn

METRICS = {"l2": faiss.METRIC_L2, "ip": faiss.METRIC_INNER_PRODUCT}
POINTS_PER_CENTROID = 39   # FAISS warns below ~39 training points per k-means centroid
TRAINING_COPIES = 3        # the training sample is held at most ~1.6 times (measured, IVF 4096 cells); 3 keeps a margin
TARGET_SLACK = 0.01        # index=auto, target out of reach: the smallest nprobe within this of the best recall
PLATEAU = 0.002            # index=auto stops doubling nprobe when two doublings gained less recall than this
UNITS = {"": 1, "b": 1, "kb": 10 ** 3, "mb": 10 ** 6, "gb": 10 ** 9, "tb": 10 ** 12,
         "kib": 2 ** 10, "mib": 2 ** 20, "gib": 2 ** 30, "tib": 2 ** 40}


@contextlib.contextmanager
def quiet_stdout():
    """Silence what C++ code prints to file descriptor 1 (FAISS's on-disk lists report their file moves),
    so that ``match.py format=json`` prints JSON alone."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def merge_blocks(index: faiss.Index, blocks: list[str], ivfdata: str) -> None:
    """Give the empty trained IVF ``index`` the inverted lists of the block files, merged into ``ivfdata``.

    What ``faiss.contrib.ondisk.merge_ondisk`` does (blocks memory-mapped, lists merged by
    ``OnDiskInvertedLists.merge_from_multiple``), but each block read with
    ``IO_FLAG_SKIP_PRECOMPUTE_TABLE``: ``merge_ondisk`` reads an IVF-PQ block with its search tables
    rebuilt (``nlist · m · 2^nbits`` floats, 134 MB at 4096 cells × 32 bytes), twice over at times,
    which took a 300 MB build to 356 MB (measured); the lists are all a merge needs.
    """
    readers = [faiss.read_index(name, faiss.IO_FLAG_MMAP | faiss.IO_FLAG_SKIP_PRECOMPUTE_TABLE) for name in blocks]
    lists = faiss.InvertedListsPtrVector()
    for reader in readers:
        lists.push_back(faiss.extract_index_ivf(reader).invlists)
    ivf = faiss.extract_index_ivf(index)
    merged = faiss.OnDiskInvertedLists(ivf.nlist, ivf.code_size, ivfdata)
    index.ntotal = ivf.ntotal = merged.merge_from_multiple(lists.data(), lists.size(), False)
    ivf.replace_invlists(merged, True)
    merged.this.disown()


def parse_bytes(key: str, value) -> int | None:
    """``"2GB"`` (10^9), ``"512MiB"`` (2^20), ``"1.5 TB"`` or a plain number of bytes; ``None`` stays ``None``."""
    if value is None:
        return None
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*", str(value))
    if not match or match.group(2).lower() not in UNITS or float(match.group(1)) <= 0:
        raise ValueError(f"{key} must be a size like 2GB, 512MiB or a number of bytes, got {value!r}")
    return int(float(match.group(1)) * UNITS[match.group(2).lower()])


def human_bytes(n: float) -> str:
    return f"{n / 1e9:.2f} GB" if n >= 1e9 else f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.1f} kB"


def as_vectors(embeddings) -> Vectors:
    return embeddings if isinstance(embeddings, Vectors) else ArrayVectors(embeddings)


class IndexSpec:
    """How to build one kind of FAISS index; ``build(vectors)`` returns it trained and filled.

    ``params`` holds the parameters actually used (after any adjustment to the data size), for
    the metadata. ``max_memory`` (bytes, or a size such as ``"2GB"``; ``None`` = unbounded) bounds
    what a build holds in memory: a build that cannot stay under it fails before reading vectors,
    saying what it needs.
    """

    kind = "base"

    def __init__(self, metric: str = "l2", max_memory: int | str | None = None):
        self.metric = one_of("index.metric", metric, METRICS)
        self.max_memory = parse_bytes("index.max_memory", max_memory)
        self.params: dict = {"metric": metric}

    def check(self, dim: int) -> None:
        """Raise a ``ValueError`` naming the key when the settings cannot index ``dim``-dimensional vectors."""

    def make(self, dim: int, n: int) -> faiss.Index:
        raise NotImplementedError

    def memory_needed(self, n: int, dim: int) -> int:
        """Bytes an in-memory build of ``n`` vectors holds (the vectors as float32, by default)."""
        return n * dim * 4

    def check_memory(self, needed: int, what: str, advice: str) -> None:
        if self.max_memory is not None and needed > self.max_memory:
            raise MemoryError(f"index={self.kind}: {what} needs about {human_bytes(needed)} but "
                              f"index.max_memory={human_bytes(self.max_memory)}; {advice}")

    def check_build(self, n: int, dim: int, on_disk: bool = False) -> None:
        """Fail now, before vectors exist (an export checks before embedding), when building ``n`` vectors
        of ``dim`` (in memory, or with ``build_on_disk``) cannot stay within ``max_memory``."""
        self.check(dim)
        self.check_memory(self.memory_needed(n, dim), f"holding {n:,} × {dim} vectors in memory",
                          "raise it, or use index=ivf / ivfpq / auto, whose lists stay on disk when exported")

    def build(self, embeddings) -> faiss.Index:
        """The index trained (on ``training_sample``) and filled with every row, in memory."""
        v = as_vectors(embeddings)
        self.check_build(len(v), v.dim)
        index = self.make(v.dim, len(v))
        if not index.is_trained:
            index.train(self.training_sample(v))
        for _, chunk in v.chunks():
            index.add(chunk)
        return index

    def build_on_disk(self, embeddings, ivfdata: Path) -> faiss.Index:
        """The index of ``embeddings`` for an export; layouts without inverted lists are built in memory
        (``build``) and ``ivfdata`` is not written."""
        return self.build(embeddings)

    def n_train(self, n: int) -> int:
        """How many of ``n`` gallery vectors train the index (all of them, unless a subclass says)."""
        return n

    def training_sample(self, v: Vectors) -> np.ndarray:
        """A seeded sample of ``n_train(len(v))`` rows (every row when that is all)."""
        return v.sample(self.n_train(len(v)))[1]


class FlatIndex(IndexSpec):
    """Exact search (``IndexFlatL2`` / ``IndexFlatIP``): 4·D bytes a vector, recall 1 by definition."""

    kind = "flat"

    def make(self, dim, n):
        return faiss.IndexFlat(dim, METRICS[self.metric])


def _ivf_nlist(nlist: int, n_train: int, pinned: bool) -> int:
    """``nlist`` itself, or the largest value the training set supports (with a warning)."""
    if n_train >= POINTS_PER_CENTROID * nlist:
        return nlist
    fitted = max(1, n_train // POINTS_PER_CENTROID)
    message = (f"index.nlist={nlist} needs ~{POINTS_PER_CENTROID * nlist} training vectors "
               f"({POINTS_PER_CENTROID} per centroid) but {n_train} are available")
    if pinned:
        raise ValueError(f"{message}; lower index.nlist or unset index.pin_nlist")
    warnings.warn(f"{message}: lowering nlist from {nlist} to {fitted}", stacklevel=3)
    return fitted


class IVFFlatIndex(IndexSpec):
    """Inverted file over ``nlist`` k-means cells, ``nprobe`` cells searched; vectors stored exactly.

    Trained on the gallery, or a seeded sample of ``train_size`` of it. With too few training
    vectors for ``nlist`` (FAISS wants ~39 per centroid) ``nlist`` is lowered with a warning, or,
    with ``pin_nlist: true``, the build fails with the numbers. ``build_on_disk`` adds the rows a
    block at a time (ids = row numbers) and merges the blocks' lists into one ``.ivfdata`` file.
    """

    kind = "ivf"

    def __init__(self, metric: str = "l2", nlist: int = 1024, nprobe: int = 16, pin_nlist: bool = False,
                 train_size: int | None = None, max_memory: int | str | None = None):
        super().__init__(metric, max_memory)
        self.nlist, self.pin_nlist = at_least("index.nlist", nlist), bool(pin_nlist)
        self.params.update(nlist=self.nlist, nprobe=at_least("index.nprobe", nprobe),
                           train_size=None if train_size is None else int(train_size))

    def n_train(self, n: int) -> int:
        """How many of ``n`` gallery vectors train the index: all, or ``train_size`` of them."""
        return min(n, self.params["train_size"] or n)

    def _cells(self, n: int) -> int:
        nlist = _ivf_nlist(self.nlist, self.n_train(n), self.pin_nlist)
        self.params.update(nlist=nlist, nprobe=min(self.params["nprobe"], nlist))
        return nlist

    def make(self, dim, n):
        nlist = self._cells(n)
        index = faiss.IndexIVFFlat(faiss.IndexFlat(dim, METRICS[self.metric]), dim, nlist, METRICS[self.metric])
        index.nprobe = self.params["nprobe"]
        return index

    def code_bytes(self, dim: int) -> int:
        """Bytes an indexed vector takes in the inverted lists: its code and its 8-byte id."""
        return dim * 4 + 8

    def fixed_bytes(self, n: int, dim: int) -> int:
        """Bytes held whatever the gallery size: the training sample three times over (the sample, the
        copy k-means clusters, the residuals the codes are trained on) and the coarse centroids."""
        return (TRAINING_COPIES * self.n_train(n) + self.nlist) * dim * 4

    def memory_needed(self, n, dim):
        return self.fixed_bytes(n, dim) + n * self.code_bytes(dim)

    def check_build(self, n, dim, on_disk=False):
        if not on_disk:
            return super().check_build(n, dim)
        self.check(dim)
        self.check_memory(self.fixed_bytes(n, dim) + self._row_bytes(dim) * 1024, "training on the sample",
                          "raise it, or lower index.train_size / index.nlist")

    def _row_bytes(self, dim: int) -> int:
        return 2 * (dim * 4 + self.code_bytes(dim))          # a row of the chunk read + its codes

    def build_on_disk(self, embeddings, ivfdata: Path) -> faiss.Index:
        """Train on a seeded sample, add the rows a block at a time into copies of the trained index
        (each written to a temporary file beside ``ivfdata``), then merge every block's lists into
        ``ivfdata`` (``merge_blocks``). Memory: the sample, the centroids and one block (sized to
        ``max_memory``); the lists themselves are written to disk."""
        v = as_vectors(embeddings)
        self.check_build(len(v), v.dim, on_disk=True)
        fixed = self.fixed_bytes(len(v), v.dim)
        block_rows = max(1024, (self.max_memory - fixed) // self._row_bytes(v.dim)) if self.max_memory else 1 << 20
        index = self.make(v.dim, len(v))
        index.train(self.training_sample(v))
        self.drop_search_tables(index)                   # adding needs none; each block's copy would hold one
        with tempfile.TemporaryDirectory(dir=Path(ivfdata).parent, prefix=".blocks.") as tmp:
            blocks = []
            for start, chunk in v.chunks(block_rows):
                block = faiss.clone_index(index)
                block.add_with_ids(chunk, np.arange(start, start + len(chunk), dtype=np.int64))
                blocks.append(f"{tmp}/block{len(blocks)}.faiss")
                faiss.write_index(block, blocks[-1])
                del block
            with quiet_stdout():                     # FAISS reports each resize of the file
                merge_blocks(index, blocks, str(ivfdata))
        self.restore_search_tables(index)
        self.params["on_disk"] = True
        return index

    def drop_search_tables(self, index: faiss.Index) -> None:
        """Free what only searching uses (IVF-PQ's precomputed tables); nothing for IVF-Flat."""

    def restore_search_tables(self, index: faiss.Index) -> None:
        """Rebuild what ``drop_search_tables`` freed."""


class IVFPQIndex(IVFFlatIndex):
    """IVF whose vectors are product-quantised: ``m`` sub-vectors of ``nbits`` bits each.

    About ``m · nbits / 8`` bytes a vector (plus its id); ``dim`` must be divisible by ``m``. The PQ
    codebooks need at least ``2^nbits`` training vectors.
    """

    kind = "ivfpq"

    def __init__(self, metric: str = "l2", nlist: int = 1024, m: int = 16, nbits: int = 8, nprobe: int = 32,
                 pin_nlist: bool = False, train_size: int | None = None, max_memory: int | str | None = None):
        super().__init__(metric, nlist, nprobe, pin_nlist, train_size, max_memory)
        if int(m) < 1 or not 1 <= int(nbits) <= 16:
            raise ValueError(f"index.m must be >= 1 and index.nbits in 1..16, got m={m}, nbits={nbits}")
        self.params.update(m=int(m), nbits=int(nbits))

    def check(self, dim: int) -> None:
        if dim % self.params["m"]:
            raise ValueError(f"index.m={self.params['m']} must divide the embedding dimension {dim} "
                             f"(model.embedding_dim / model.embedding)")

    def code_bytes(self, dim: int) -> int:
        return math.ceil(self.params["m"] * self.params["nbits"] / 8) + 8

    def fixed_bytes(self, n, dim):
        """The sample and centroids, and the precomputed distance tables FAISS keeps for searching an
        L2 IVF-PQ (``nlist · m · 2^nbits`` floats; a matcher holds them too)."""
        tables = self.nlist * self.params["m"] * 2 ** self.params["nbits"] * 4 if self.metric == "l2" else 0
        return super().fixed_bytes(n, dim) + tables

    def drop_search_tables(self, index):
        index.precomputed_table.resize(0)

    def restore_search_tables(self, index):
        index.precompute_table()

    def make(self, dim, n):
        m, nbits = self.params["m"], self.params["nbits"]
        n_train = self.n_train(n)
        if n_train < 2 ** nbits:
            raise ValueError(f"IVF-PQ with index.nbits={nbits} needs at least {2 ** nbits} training vectors, "
                             f"got {n_train}; lower index.nbits or use index=ivf / flat")
        nlist = self._cells(n)
        quantizer = faiss.IndexFlat(dim, METRICS[self.metric])
        index = faiss.IndexIVFPQ(quantizer, dim, nlist, m, nbits, METRICS[self.metric])
        index.nprobe = self.params["nprobe"]
        return index


class HNSWIndex(IndexSpec):
    """HNSW graph (``IndexHNSWFlat``): ``M`` links a node, ``ef_construction`` / ``ef_search`` beam widths."""

    kind = "hnsw"

    def __init__(self, metric: str = "l2", M: int = 32, ef_construction: int = 200, ef_search: int = 64,
                 max_memory: int | str | None = None):
        super().__init__(metric, max_memory)
        self.params.update(M=at_least("index.M", M), ef_construction=at_least("index.ef_construction", ef_construction),
                           ef_search=at_least("index.ef_search", ef_search))

    def memory_needed(self, n, dim):
        return n * (dim * 4 + 2 * self.params["M"] * 4)          # vectors + level-0 links (2·M ids)

    def make(self, dim, n):
        index = faiss.IndexHNSWFlat(dim, self.params["M"], METRICS[self.metric])
        index.hnsw.efConstruction = self.params["ef_construction"]
        index.hnsw.efSearch = self.params["ef_search"]
        return index


class AutoIndex(IndexSpec):
    """The index chosen from the gallery's size and tuned to a recall target at build time.

    Below ``flat_below`` vectors: exact ``FlatIndex``. Above: IVF with ``nlist = 4·√N`` cells
    (rounded to a power of two; FAISS's guideline is 4–16·√N), trained on a seeded sample of
    ``POINTS_PER_CENTROID · nlist`` vectors — IVF-Flat, or IVF-PQ (8-bit codes, as many sub-vectors as
    half of ``max_memory`` holds: ``pq_size``) when the flat vectors (4·N·D bytes) would not fit
    ``max_memory`` — and the smallest ``nprobe`` of 1, 2, 4, … whose recall@k against exact search
    on ``queries`` gallery vectors reaches ``target_recall``. The doubling stops early when two
    doublings gained less than ``PLATEAU`` recall (IVF-PQ's codes cap its recall: probing every cell
    of a 10 M index would take longer than building it); when no ``nprobe`` tried reaches the
    target, a warning and the smallest ``nprobe`` within ``TARGET_SLACK`` of the best recall (more
    probes would cost time for nothing). ``layout`` (flat / ivf / ivfpq) fixes the layout and keeps
    the rest automatic. The choice, the measured recall and queries per second, and the ``tuning``
    curve ([nprobe, recall, qps] per value tried) go into ``params`` (and ``index.json``).
    """

    kind = "auto"

    def __init__(self, metric: str = "l2", flat_below: int = 100_000, target_recall: float = 0.95, k: int = 10,
                 queries: int = 1000, max_memory: int | str | None = None, layout: str | None = None):
        super().__init__(metric, max_memory)
        self.layout = None if layout is None else one_of("index.layout", layout, ("flat", "ivf", "ivfpq"))
        if not 0 < float(target_recall) <= 1:
            raise ValueError(f"index.target_recall must be in (0, 1], got {target_recall}")
        self.flat_below, self.target_recall = at_least("index.flat_below", flat_below, 1), float(target_recall)
        self.k, self.queries = at_least("index.k", k), at_least("index.queries", queries)

    def choose(self, n: int, dim: int) -> IndexSpec:
        """The layout for ``n`` vectors of ``dim``: Flat, IVF-Flat or IVF-PQ (see the class docstring), or
        ``layout`` when set."""
        if self.layout == "flat" or (self.layout is None and n < self.flat_below):
            return FlatIndex(self.metric, self.max_memory)
        nlist = 2 ** round(math.log2(4 * math.sqrt(n)))
        common = dict(metric=self.metric, nlist=nlist, nprobe=1, train_size=min(n, POINTS_PER_CENTROID * nlist),
                      max_memory=self.max_memory)
        flat_fits = self.max_memory is None or n * dim * 4 <= self.max_memory
        if self.layout == "ivf" or (self.layout is None and flat_fits):
            return IVFFlatIndex(**common)
        return IVFPQIndex(m=self.pq_size(n, dim), nbits=8, **common)

    def check_build(self, n, dim, on_disk=False):
        self.choose(n, dim).check_build(n, dim, on_disk)

    def pq_size(self, n: int, dim: int) -> int:
        """Sub-vectors of the IVF-PQ codes: the most (a divisor of ``dim``, at least 2 dimensions each) whose
        ``n`` codes of ``m`` bytes plus 8-byte ids fill at most half of ``max_memory``; at least 1."""
        fitting = [m for m in range(1, dim // 2 + 1) if dim % m == 0 and n * (m + 8) <= self.max_memory / 2]
        return max(fitting, default=1)

    def build(self, embeddings) -> faiss.Index:
        return self._tuned(as_vectors(embeddings), None)

    def build_on_disk(self, embeddings, ivfdata: Path) -> faiss.Index:
        return self._tuned(as_vectors(embeddings), ivfdata)

    def _tuned(self, v: Vectors, ivfdata: Path | None) -> faiss.Index:
        spec = self.choose(len(v), v.dim)
        index = spec.build(v) if ivfdata is None else spec.build_on_disk(v, ivfdata)
        layout = spec.kind
        if layout == "flat":
            self.params.update(layout=layout, recall=1.0)
            return index
        _, queries = v.sample(min(self.queries, len(v)))
        _, truth = exact_knn(queries, v, self.k, METRICS[self.metric])
        tried = []                                   # (nprobe, recall, qps), nprobe doubling
        for nprobe in (2 ** p for p in range(int(math.log2(spec.params["nlist"])) + 1)):
            index.nprobe = nprobe
            start = time.perf_counter()
            _, found = index.search(queries, self.k)
            tried.append((nprobe, recall_at_k(found, truth), len(queries) / max(time.perf_counter() - start, 1e-9)))
            if tried[-1][1] >= self.target_recall or (len(tried) >= 3 and tried[-1][1] - tried[-3][1] < PLATEAU):
                break
        best = max(recall for _, recall, _ in tried)
        if best < self.target_recall:                # out of reach (PQ codes): the fastest within the slack
            nprobe, recall, qps = next(t for t in tried if t[1] >= best - TARGET_SLACK)
            warnings.warn(f"index=auto ({layout}): no nprobe reaches index.target_recall={self.target_recall} "
                          f"(best recall@{self.k} {best:.3f}); using nprobe {nprobe}, recall {recall:.3f}"
                          + ("; raise index.max_memory so that IVF-Flat fits" if layout == "ivfpq" else ""),
                          stacklevel=2)
        else:
            nprobe, recall, qps = tried[-1]
        index.nprobe = nprobe
        self.params.update({key: value for key, value in spec.params.items() if key != "metric"})
        self.params.update(layout=layout, nprobe=nprobe, recall=recall, queries_per_second=round(qps),
                           target_recall=self.target_recall,
                           tuning=[[n, round(r, 4), round(q)] for n, r, q in tried])
        return index


def build_flat_index(embeddings: np.ndarray) -> faiss.Index:
    """An exact L2 index holding ``embeddings (N, D)``."""
    return FlatIndex().build(embeddings)


def to_distance(values: np.ndarray, metric_type: int) -> np.ndarray:
    """FAISS's returned values as Euclidean distances (see the module docstring)."""
    if metric_type == faiss.METRIC_INNER_PRODUCT:
        return np.sqrt(np.maximum(2.0 - 2.0 * values, 0.0))
    return np.sqrt(np.maximum(values, 0.0))


def labels_of(ids: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Labels of result ids; ``-1`` (FAISS's "no result", e.g. too few probed IVF cells) stays ``-1``."""
    return np.where(ids >= 0, np.asarray(labels)[np.maximum(ids, 0)], -1)


def search(index: faiss.Index, queries: np.ndarray, k: int, exclude_ids: np.ndarray | None = None
           ) -> tuple[np.ndarray, np.ndarray]:
    """``k`` nearest neighbours of ``queries (Q, D)``: ``(dist (Q, k') Euclidean, ids (Q, k'))``.

    ``k' = min(k, ntotal)``; an id of ``-1`` means no result (approximate indexes only).
    Leave-one-out: ``exclude_ids (Q,)`` names, per query, a gallery id that
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
    return to_distance(sq, index.metric_type), ids


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean over queries of ``|found ∩ truth| / k`` for id arrays ``(Q, k)``: recall@k against exact search."""
    k = truth.shape[1]
    return float(np.mean([len(set(t) & set(f)) / k for t, f in zip(truth.tolist(), found.tolist())]))


def measure_recall(index: faiss.Index, embeddings, k: int = 10, sample: int = 1000, seed: int = 0) -> float:
    """Recall@k of ``index`` against exact search, over a seeded sample of the indexed vectors.

    For each sampled vector (an array's or ``Vectors``' row) used as a query:
    ``|approximate top-k ∩ exact top-k| / k``, averaged. Exact search (``exact_knn``, streamed over
    the rows) uses the index's metric, so for a flat index the recall is 1.
    """
    v = as_vectors(embeddings)
    k = min(k, len(v))
    _, queries = v.sample(min(sample, len(v)), seed)
    _, truth = exact_knn(queries, v, k, index.metric_type)
    _, found = index.search(queries, k)
    return recall_at_k(found, truth)


def index_description(spec: IndexSpec, gallery, index: faiss.Index, k: int = 10,
                      sample: int = 1000, floor: float = 0.9) -> dict:
    """index.json entries of a built index: its kind, parameters and recall@k against exact search
    (``measure_recall``), with a warning when the recall is below ``floor``."""
    recall = measure_recall(index, gallery, k=int(k), sample=int(sample))
    if recall < float(floor):
        warnings.warn(f"index={spec.kind}: recall@{k} against exact search is {recall:.3f}, below "
                      f"recall_check.floor={floor}; raise nprobe / ef_search or use index=flat", stacklevel=2)
    return {"index_kind": spec.kind, "index_params": spec.params, f"recall_at_{int(k)}": recall}
