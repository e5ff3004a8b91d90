"""Embedding export and FAISS indexes with their metadata.

Index types (``conf/index``): exact ``FlatIndex``, ``IVFFlatIndex``, ``HNSWIndex`` and
``IVFPQIndex``, on L2 (default) or inner product. Approximate types report their recall@k
against exact search, measured right after building (``measure_recall``).

Distances: FAISS returns squared L2 distances (L2) or inner products (IP). ``to_distance``
converts them once, here, into the Euclidean distance that reports and thresholds use:
``sqrt(max(v, 0))`` for L2, and ``sqrt(max(2 − 2v, 0))`` for IP (exact for unit vectors, which
the tower's embeddings are).

An index directory holds the index file ``index.<sha256[:12]>.faiss`` and ``index.json`` (``dim``,
``count``, ``metric``, ``labels`` in index order, ``index_file`` and ``index_sha256`` naming the
index file, and what the caller adds). ``index.json`` is the commit point: the new index file is
written whole under its own name first, then ``index.json`` is replaced by one atomic rename, then
the files it no longer names (and temporary files a killed write left) are removed. A crash at
any moment leaves a directory whose ``index.json`` names a complete index file: the old pair or
the new one. Directories of earlier versions (``index.faiss`` without ``index_file``) still load.
"""
from __future__ import annotations

import hashlib
import json
import math
import re
import time
import warnings
from pathlib import Path

import faiss
import numpy as np

from siamese.atomic import atomic_write_many, json_bytes, sha256_file
from siamese.checks import at_least, one_of

META_FILE = "index.json"
LEGACY_INDEX_FILE = "index.faiss"     # the index file of directories written before index_file existed
# Index files and the temporary files of siamese.atomic that save_index may clean up in its directory.
INDEX_FILE_PATTERN = re.compile(r"(index\.[0-9a-f]{12}\.faiss|index\.faiss|\.index\..*\.tmp)")
METRICS = {"l2": faiss.METRIC_L2, "ip": faiss.METRIC_INNER_PRODUCT}
POINTS_PER_CENTROID = 39   # FAISS warns below ~39 training points per k-means centroid


def _as_matrix(embeddings: np.ndarray) -> np.ndarray:
    x = np.ascontiguousarray(embeddings, dtype=np.float32)
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"embeddings must be a non-empty (N, D) array, got shape {x.shape}")
    return x


class IndexSpec:
    """How to build one kind of FAISS index; ``build(x)`` returns it trained and filled.

    ``params`` holds the parameters actually used (after any adjustment to the data size), for
    the metadata.
    """

    kind = "base"

    def __init__(self, metric: str = "l2"):
        self.metric = one_of("index.metric", metric, METRICS)
        self.params: dict = {"metric": metric}

    def check(self, dim: int) -> None:
        """Raise a ``ValueError`` naming the key when the settings cannot index ``dim``-dimensional vectors."""

    def make(self, dim: int, n: int) -> faiss.Index:
        raise NotImplementedError

    def build(self, embeddings: np.ndarray) -> faiss.Index:
        x = _as_matrix(embeddings)
        index = self.make(x.shape[1], x.shape[0])
        if not index.is_trained:
            index.train(self.training_sample(x))
        index.add(x)
        return index

    def n_train(self, n: int) -> int:
        """How many of ``n`` gallery vectors train the index (all of them, unless a subclass says)."""
        return n

    def training_sample(self, x: np.ndarray) -> np.ndarray:
        """A seeded sample of ``n_train(len(x))`` rows of ``x`` (``x`` itself when that is all)."""
        size = self.n_train(len(x))
        if size >= len(x):
            return x
        return x[np.random.default_rng(0).choice(len(x), size=size, replace=False)]


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
    with ``pin_nlist: true``, the build fails with the numbers.
    """

    kind = "ivf"

    def __init__(self, metric: str = "l2", nlist: int = 1024, nprobe: int = 16, pin_nlist: bool = False,
                 train_size: int | None = None):
        super().__init__(metric)
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


class IVFPQIndex(IVFFlatIndex):
    """IVF whose vectors are product-quantised: ``m`` sub-vectors of ``nbits`` bits each.

    About ``m · nbits / 8`` bytes a vector (plus its id); ``dim`` must be divisible by ``m``. The PQ
    codebooks need at least ``2^nbits`` training vectors.
    """

    kind = "ivfpq"

    def __init__(self, metric: str = "l2", nlist: int = 1024, m: int = 16, nbits: int = 8, nprobe: int = 32,
                 pin_nlist: bool = False, train_size: int | None = None):
        super().__init__(metric, nlist, nprobe, pin_nlist, train_size)
        if int(m) < 1 or not 1 <= int(nbits) <= 16:
            raise ValueError(f"index.m must be >= 1 and index.nbits in 1..16, got m={m}, nbits={nbits}")
        self.params.update(m=int(m), nbits=int(nbits))

    def check(self, dim: int) -> None:
        if dim % self.params["m"]:
            raise ValueError(f"index.m={self.params['m']} must divide the embedding dimension {dim} "
                             f"(model.embedding_dim / model.embedding)")

    def make(self, dim, n):
        self.check(dim)
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

    def __init__(self, metric: str = "l2", M: int = 32, ef_construction: int = 200, ef_search: int = 64):
        super().__init__(metric)
        self.params.update(M=at_least("index.M", M), ef_construction=at_least("index.ef_construction", ef_construction),
                           ef_search=at_least("index.ef_search", ef_search))

    def make(self, dim, n):
        index = faiss.IndexHNSWFlat(dim, self.params["M"], METRICS[self.metric])
        index.hnsw.efConstruction = self.params["ef_construction"]
        index.hnsw.efSearch = self.params["ef_search"]
        return index


class AutoIndex(IndexSpec):
    """The index chosen from the gallery's size and tuned to a recall target at build time.

    Below ``flat_below`` vectors: exact ``FlatIndex``. Above: IVF-Flat with ``nlist = 4·√N`` cells
    (rounded to a power of two; FAISS's guideline is 4–16·√N), trained on a seeded sample of
    ``POINTS_PER_CENTROID · nlist`` vectors, and the smallest ``nprobe`` of 1, 2, 4, … whose recall@k
    against exact search on ``queries`` held-out gallery vectors reaches ``target_recall``. The
    choice, the measured recall and the queries per second go into ``params`` (and ``index.json``).
    """

    kind = "auto"

    def __init__(self, metric: str = "l2", flat_below: int = 100_000, target_recall: float = 0.95, k: int = 10,
                 queries: int = 1000):
        super().__init__(metric)
        if not 0 < float(target_recall) <= 1:
            raise ValueError(f"index.target_recall must be in (0, 1], got {target_recall}")
        self.flat_below, self.target_recall = at_least("index.flat_below", flat_below, 1), float(target_recall)
        self.k, self.queries = at_least("index.k", k), at_least("index.queries", queries)

    def build(self, embeddings: np.ndarray) -> faiss.Index:
        x = _as_matrix(embeddings)
        if len(x) < self.flat_below:
            self.params.update(layout="flat", recall=1.0)
            return FlatIndex(self.metric).build(x)
        nlist = 2 ** round(math.log2(4 * math.sqrt(len(x))))
        ivf = IVFFlatIndex(self.metric, nlist=nlist, nprobe=1,
                           train_size=min(len(x), POINTS_PER_CENTROID * nlist))
        index = ivf.build(x)
        rng = np.random.default_rng(0)
        queries = x[rng.choice(len(x), size=min(self.queries, len(x)), replace=False)]
        _, truth = faiss.knn(queries, x, self.k, metric=METRICS[self.metric])
        for nprobe in (2 ** p for p in range(int(math.log2(ivf.params["nlist"])) + 1)):
            index.nprobe = nprobe
            start = time.perf_counter()
            _, found = index.search(queries, self.k)
            qps = len(queries) / max(time.perf_counter() - start, 1e-9)
            recall = recall_at_k(found, truth)
            if recall >= self.target_recall:
                break
        self.params.update(layout="ivf", nlist=ivf.params["nlist"], nprobe=int(index.nprobe), recall=recall,
                           queries_per_second=round(qps), target_recall=self.target_recall)
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


def measure_recall(index: faiss.Index, embeddings: np.ndarray, k: int = 10, sample: int = 1000,
                   seed: int = 0) -> float:
    """Recall@k of ``index`` against exact search, over a seeded sample of the indexed vectors.

    For each sampled vector used as a query: ``|approximate top-k ∩ exact top-k| / k``, averaged.
    Exact search uses the same metric (a ``FlatIndex``), so for a flat index the recall is 1.
    """
    x = _as_matrix(embeddings)
    k = min(k, len(x))
    queries = x[np.random.default_rng(seed).choice(len(x), size=min(sample, len(x)), replace=False)]
    exact = faiss.IndexFlat(x.shape[1], index.metric_type)
    exact.add(x)
    _, truth = exact.search(queries, k)
    _, found = index.search(queries, k)
    return recall_at_k(found, truth)


def index_description(spec: IndexSpec, gallery: np.ndarray, index: faiss.Index, k: int = 10,
                      sample: int = 1000, floor: float = 0.9) -> dict:
    """index.json entries of a built index: its kind, parameters and recall@k against exact search
    (``measure_recall``), with a warning when the recall is below ``floor``."""
    recall = measure_recall(index, gallery, k=int(k), sample=int(sample))
    if recall < float(floor):
        warnings.warn(f"index={spec.kind}: recall@{k} against exact search is {recall:.3f}, below "
                      f"recall_check.floor={floor}; raise nprobe / ef_search or use index=flat", stacklevel=2)
    return {"index_kind": spec.kind, "index_params": spec.params, f"recall_at_{int(k)}": recall}


def index_file(directory: Path, meta: dict) -> Path:
    """The index file an ``index.json`` names (``index.faiss`` for directories of earlier versions)."""
    return Path(directory) / meta.get("index_file", LEGACY_INDEX_FILE)


def _remove_unreferenced(directory: Path, keep: str) -> None:
    """Remove index files other than ``keep`` and temporary files left by an interrupted write."""
    for path in directory.iterdir():
        if path.name != keep and INDEX_FILE_PATTERN.fullmatch(path.name) and path.is_file():
            path.unlink(missing_ok=True)


def save_index(directory: Path, index: faiss.Index, labels: np.ndarray, **metadata) -> dict:
    """Write the index file, then ``index.json`` (the commit point), into ``directory``; returns the
    metadata written. See the module docstring for why a crash never loses the previous index."""
    labels = np.asarray(labels).reshape(-1)
    if len(labels) != index.ntotal:
        raise ValueError(f"{len(labels)} labels for an index of {index.ntotal} vectors")
    data = faiss.serialize_index(index).tobytes()
    digest = hashlib.sha256(data).hexdigest()
    name = f"index.{digest[:12]}.faiss"
    metric = "ip" if index.metric_type == faiss.METRIC_INNER_PRODUCT else "l2"
    meta = {"dim": int(index.d), "count": int(index.ntotal), "metric": metric,
            "distance": "euclidean, converted from FAISS's values by siamese.index.to_distance",
            "index_type": type(index).__name__, "labels": labels.tolist(),
            "index_file": name, "index_sha256": digest, **metadata}
    directory = Path(directory)
    atomic_write_many({directory / name: data})
    atomic_write_many({directory / META_FILE: json_bytes(meta)})
    _remove_unreferenced(directory, keep=name)
    return meta


def load_index(directory: Path, mmap: bool = False) -> tuple[faiss.Index, dict]:
    """Read an index directory written by ``save_index``; checks that file and metadata agree.

    ``mmap``: map the index file's vectors instead of reading them (``IO_FLAG_MMAP_IFC``, read-only):
    a matcher starts without reading a large gallery into memory; the kernel pages in what searches touch.
    """
    directory = Path(directory)
    if not (directory / META_FILE).is_file():
        raise FileNotFoundError(f"{str(directory / META_FILE)!r} is missing: not an index directory")
    try:
        meta = json.loads((directory / META_FILE).read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{directory / META_FILE}: not valid JSON ({err}); export the index again") from None
    path = index_file(directory, meta)
    if not path.is_file():
        raise FileNotFoundError(f"{str(path)!r} is missing: {directory}/index.json names it; export the index again")
    if meta.get("index_sha256") not in (None, sha256_file(path)):
        raise ValueError(f"{directory}: {path.name} is not the file index.json describes (sha256 differs); "
                         "export the index again")
    try:
        index = faiss.read_index(str(path), faiss.IO_FLAG_MMAP_IFC | faiss.IO_FLAG_READ_ONLY if mmap else 0)
    except RuntimeError as err:
        first = str(err).strip().splitlines()[-1] if str(err).strip() else type(err).__name__
        raise ValueError(f"{path}: not a readable FAISS index (truncated or damaged: {first}); "
                         "export the index again") from None
    if meta.get("dim") != index.d or meta.get("count") != index.ntotal or len(meta["labels"]) != index.ntotal:
        raise ValueError(
            f"{directory}: {path.name} holds {index.ntotal} vectors of dim {index.d} but index.json "
            f"says count={meta.get('count')}, dim={meta.get('dim')}, {len(meta.get('labels', []))} labels"
        )
    return index, meta
