"""An index directory on disk: the FAISS index, its gallery sidecars and ``index.json``.

A directory holds

    index.json                  small metadata (dim, count, metric, threshold, model, ...) and ``files``
    index.<sha12>.faiss         the FAISS index (``faiss.write_index``)
    index.<token>.ivfdata       on-disk inverted lists of an IVF index built from shards (optional)
    labels.<sha12>.npy          (N,) int64: the class id of each indexed row (FAISS id = row)
    paths.<sha12>.npy           (N,) bytes: each row's image path, UTF-8 (optional)

``index.json``'s ``files`` maps each role (``index``, ``ivfdata``, ``labels``, ``paths``) to
``{"name", "bytes", "sha256"}``; hashes are computed while the file is written (streaming). The
sidecars are memory-mapped when read: a 10 M-image gallery's labels and paths are not loaded to
start a matcher. ``index.json`` is the commit point: every data file is written whole under its
own name first, then ``index.json`` is replaced by one atomic rename, then files it no longer names
(and temporary files a killed write left) are removed. A crash at any moment leaves a directory
whose ``index.json`` names complete files: the old set or the new one.

Loading checks each named file's size (cheap: catches truncation and swaps); ``verify=True`` also
checks every sha256 (reads every byte). On-disk inverted lists are found beside the index file
(``IO_FLAG_ONDISK_SAME_DIR``), so a moved or copied directory loads.

Directories of earlier versions (labels as a list in ``index.json``, ``index_file`` /
``index_sha256``, or a bare ``index.faiss``) still load.
"""
from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from pathlib import Path

import faiss
import numpy as np

from siamese.atomic import atomic_write_many, commit, json_bytes, sha256_file, stage
from siamese.index import quiet_stdout

META_FILE = "index.json"
LEGACY_INDEX_FILE = "index.faiss"     # the index file of directories written before index_file existed
# Data files and the temporary files of siamese.atomic that save_index may clean up in its directory.
DATA_FILE_PATTERN = re.compile(r"(index\.[0-9a-f]{12}\.(faiss|ivfdata)|index\.faiss|(labels|paths)\.[0-9a-f]{12}\.npy"
                               r"|\.(index|labels|paths)\..*\.tmp)")


class _HashingWriter:
    """A file-like ``write`` that also feeds a sha256 and counts bytes."""

    def __init__(self, f):
        self.f, self.digest, self.bytes = f, hashlib.sha256(), 0

    def write(self, data) -> int:
        data = bytes(data)
        self.digest.update(data)
        self.bytes += len(data)
        self.f.write(data)
        return len(data)


def write_content_named(directory: Path, stem: str, suffix: str, write: Callable) -> dict:
    """Write a file through ``write(file_like)`` as ``<stem>.<sha256[:12]><suffix>`` in ``directory``
    (staged, fsync'd, renamed); returns its ``{"name", "bytes", "sha256"}``."""
    out: dict = {}

    def hashed(f):
        writer = _HashingWriter(f)
        write(writer)
        out.update(bytes=writer.bytes, sha256=writer.digest.hexdigest())

    tmp = stage(Path(directory) / f"{stem}.{suffix.lstrip('.')}", hashed)
    out["name"] = f"{stem}.{out['sha256'][:12]}{suffix}"
    commit(tmp, Path(directory) / out["name"])
    return out


def _write_faiss(index: faiss.Index):
    def write(f):
        writer = faiss.PyCallbackIOWriter(f.write)
        faiss.write_index(index, writer)
        del writer       # flushes
    return write


def file_entry(path: Path) -> dict:
    """``{"name", "bytes", "sha256"}`` of a file already in place (an ``.ivfdata`` written by FAISS)."""
    return {"name": Path(path).name, "bytes": Path(path).stat().st_size, "sha256": sha256_file(path)}


def save_index(directory: Path, index: faiss.Index, labels: np.ndarray, paths: list[str] | None = None,
               ivfdata: Path | None = None, **metadata) -> dict:
    """Write ``index``, its ``labels (N,)`` (and image ``paths``), then ``index.json`` (the commit
    point) into ``directory``; returns the metadata written. ``ivfdata``: the on-disk inverted lists
    the index refers to, already in ``directory`` (``siamese.index.build_on_disk``)."""
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    if len(labels) != index.ntotal:
        raise ValueError(f"{len(labels)} labels for an index of {index.ntotal} vectors")
    if paths is not None and len(paths) != index.ntotal:
        raise ValueError(f"{len(paths)} paths for an index of {index.ntotal} vectors")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    files = {"index": write_content_named(directory, "index", ".faiss", _write_faiss(index)),
             "labels": write_content_named(directory, "labels", ".npy", lambda f: np.save(f, labels))}
    if paths is not None:
        encoded = np.array([str(p).encode() for p in paths], dtype=bytes)
        files["paths"] = write_content_named(directory, "paths", ".npy", lambda f: np.save(f, encoded))
    if ivfdata is not None:
        files["ivfdata"] = file_entry(ivfdata)
    metric = "ip" if index.metric_type == faiss.METRIC_INNER_PRODUCT else "l2"
    meta = {"dim": int(index.d), "count": int(index.ntotal), "metric": metric,
            "distance": "euclidean, converted from FAISS's values by siamese.index.to_distance",
            "index_type": type(index).__name__, "files": files, **metadata}
    atomic_write_many({directory / META_FILE: json_bytes(meta)})
    _remove_unreferenced(directory, keep={entry["name"] for entry in files.values()})
    return meta


def _remove_unreferenced(directory: Path, keep: set[str]) -> None:
    """Remove data files not in ``keep`` and temporary files left by an interrupted write."""
    for path in directory.iterdir():
        if path.name not in keep and DATA_FILE_PATTERN.fullmatch(path.name) and path.is_file():
            path.unlink(missing_ok=True)


def data_files(directory: Path, meta: dict) -> dict[str, Path]:
    """Role -> path of every data file ``index.json`` names (older directories: the index file only)."""
    if "files" in meta:
        return {role: Path(directory) / entry["name"] for role, entry in meta["files"].items()}
    return {"index": Path(directory) / meta.get("index_file", LEGACY_INDEX_FILE)}


def index_file(directory: Path, meta: dict) -> Path:
    """The FAISS index file an ``index.json`` names."""
    return data_files(directory, meta)["index"]


def read_meta(directory: Path) -> dict:
    directory = Path(directory)
    if not (directory / META_FILE).is_file():
        raise FileNotFoundError(f"{str(directory / META_FILE)!r} is missing: not an index directory")
    try:
        return json.loads((directory / META_FILE).read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{directory / META_FILE}: not valid JSON ({err}); export the index again") from None


def _check_files(directory: Path, meta: dict, verify: bool) -> None:
    """Every named file exists with its recorded size (and, with ``verify``, its sha256)."""
    entries = meta.get("files") or {"index": {"name": index_file(directory, meta).name,
                                              "sha256": meta.get("index_sha256")}}
    for entry in entries.values():
        path = Path(directory) / entry["name"]
        if not path.is_file():
            raise FileNotFoundError(f"{str(path)!r} is missing: {directory}/index.json names it; "
                                    "export the index again")
        size_differs = entry.get("bytes") is not None and path.stat().st_size != entry["bytes"]
        legacy = "files" not in meta           # older directories: small, always hashed
        if size_differs or ((verify or legacy) and entry.get("sha256") not in (None, sha256_file(path))):
            what = "size" if size_differs else "sha256"
            raise ValueError(f"{directory}: {path.name} is not the file index.json describes ({what} differs); "
                             "export the index again")


def load_index(directory: Path, mmap: bool = False, verify: bool = False) -> tuple[faiss.Index, dict]:
    """Read an index directory written by ``save_index``; checks that files and metadata agree.

    ``mmap``: map a flat index's vectors instead of reading them (``IO_FLAG_MMAP_IFC``, read-only):
    a matcher starts without reading a large gallery into memory; the kernel pages in what searches
    touch. On-disk inverted lists (``.ivfdata``) are always mapped by FAISS, never read. ``verify``: also
    check every file's sha256.
    """
    directory = Path(directory)
    meta = read_meta(directory)
    _check_files(directory, meta, verify)
    path = index_file(directory, meta)
    if "ivfdata" in data_files(directory, meta):     # lists mapped from beside the index file, wherever it is
        flags = faiss.IO_FLAG_ONDISK_SAME_DIR
    else:
        flags = faiss.IO_FLAG_MMAP_IFC | faiss.IO_FLAG_READ_ONLY if mmap else 0
    try:
        with quiet_stdout():                         # FAISS prints where it found the lists
            index = faiss.read_index(str(path), flags)
    except RuntimeError as err:
        first = str(err).strip().splitlines()[-1] if str(err).strip() else type(err).__name__
        raise ValueError(f"{path}: not a readable FAISS index (truncated or damaged: {first}); "
                         "export the index again") from None
    if "ivfdata" in data_files(directory, meta):
        # FAISS starts 32 threads to prefetch the probed lists on every search: 4 ms a single query
        # (measured), against 0.2 ms reading them through the memory map
        faiss.downcast_InvertedLists(faiss.extract_index_ivf(index).invlists).prefetch_nthread = 0
    n_labels = len(gallery_labels(directory, meta))
    if meta.get("dim") != index.d or meta.get("count") != index.ntotal or n_labels != index.ntotal:
        raise ValueError(
            f"{directory}: {path.name} holds {index.ntotal} vectors of dim {index.d} but index.json "
            f"says count={meta.get('count')}, dim={meta.get('dim')}, {n_labels} labels"
        )
    return index, meta


def gallery_labels(directory: Path, meta: dict) -> np.ndarray:
    """``(N,)`` class ids of the indexed rows, memory-mapped (older directories: from ``index.json``)."""
    if "labels" in meta:
        return np.asarray(meta["labels"])
    return np.load(data_files(directory, meta)["labels"], mmap_mode="r")


class GalleryPaths:
    """The indexed rows' image paths, read one at a time from a memory-mapped array: ``paths[i]``."""

    def __init__(self, directory: Path, meta: dict):
        files = data_files(directory, meta)
        self._encoded = np.load(files["paths"], mmap_mode="r") if "paths" in files else None
        self._listed = meta.get("paths")       # older directories: a list in index.json

    def __bool__(self) -> bool:
        return self._encoded is not None or bool(self._listed)

    def __getitem__(self, i: int) -> str:
        return self._listed[i] if self._encoded is None else bytes(self._encoded[i]).decode()
