"""Query-time matching against an index: ``match(cfg)`` behind ``scripts/match.py``.

The index directory's ``index.json`` names the model and the image settings, so a query image is
read and embedded exactly as the indexed ones were. A pair is declared *same* when its Euclidean
distance is ``<=`` the stored threshold (chosen on validation pairs). This module imports no torch:
a bundle (``bundle=<dir>``) is matched with onnxruntime, numpy, PIL and FAISS alone.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from omegaconf import DictConfig, ListConfig

from siamese.checks import at_least, one_of
from siamese.imaging import IMAGE_SUFFIXES, UNREADABLE_IMAGE_ERRORS, read_image, scan_image_tree
from siamese.index import labels_of, search
from siamese.index_store import GalleryPaths, gallery_labels, load_index


def query_paths(query: Path) -> list[Path]:
    """The image ``query`` itself, or every image under the folder ``query`` (one level of classes)."""
    if query.is_file():
        if query.suffix.lower() not in IMAGE_SUFFIXES:
            raise ValueError(f"query={str(query)!r} is not an image ({sorted(IMAGE_SUFFIXES)})")
        return [query]
    if query.is_dir():
        paths, _, _ = scan_image_tree(query, loose=True)
        if paths:
            return paths
        raise ValueError(f"no images found under query={str(query)!r}")
    raise FileNotFoundError(f"query={str(query)!r} does not exist")


class IndexMatcher:
    """An index directory (``index.json`` + its index file) and a way to embed query images; subclasses
    give ``embed(paths) -> (len(paths), D)``: the checkpoint's tower (``siamese.matcher_torch``) or a
    bundle's ONNX model (``siamese.matcher_onnx``)."""

    def __init__(self, index_dir: Path, required: tuple[str, ...] = ("image",)):
        self.index, self.meta = load_index(index_dir, mmap=True)
        self.labels, self.paths = gallery_labels(index_dir, self.meta), GalleryPaths(index_dir, self.meta)
        for key in required:
            if self.meta.get(key) is None:
                raise ValueError(f"{index_dir}/index.json has no {key!r}: write it with scripts/train.py or "
                                 "scripts/export.py")
        self.threshold = self.meta.get("threshold")

    def embed(self, paths: list[Path]) -> np.ndarray:
        raise NotImplementedError

    def read_queries(self, paths: list[Path]) -> np.ndarray:
        """``(len(paths), C, S, S)`` float32: the query images read as the indexed images were."""
        image = self.meta["image"]
        images = []
        for path in paths:
            try:
                images.append(read_image(path, int(image["size"]), int(image["channels"]),
                                         image.get("resize", "stretch")))
            except UNREADABLE_IMAGE_ERRORS as err:
                raise ValueError(f"unreadable query image {str(path)!r}: {type(err).__name__}: {err}") from None
        return np.stack(images)

    def check_dimension(self, dim: int) -> None:
        if dim != self.index.d:
            raise ValueError(f"the model embeds into {dim} dimensions but the index holds "
                             f"{self.index.d}-dimensional vectors")

    def decision(self, dist: float) -> str | None:
        return None if self.threshold is None else ("same" if dist <= self.threshold else "different")

    def neighbours(self, paths: list[Path], k: int) -> list[dict]:
        dist, ids = search(self.index, self.embed(paths), k)
        labels = labels_of(ids, self.labels)
        classes, stored = self.meta.get("classes"), self.paths
        return [{"query": str(q), "neighbours": [
            {"rank": r + 1, "id": int(i), "label": classes[lab] if classes and lab >= 0 else int(lab),
             "path": stored[i] if stored and i >= 0 else None, "distance": float(dv),
             "decision": self.decision(float(dv))}
            for r, (i, lab, dv) in enumerate(zip(row_ids, row_labels, row_dist)) if i >= 0]}
            for q, row_ids, row_labels, row_dist in zip(paths, ids, labels, dist)]

    def verify(self, a: Path, b: Path) -> dict:
        ea, eb = self.embed([a, b])
        dist = float(np.linalg.norm(ea - eb))
        return {"pair": [str(a), str(b)], "distance": dist, "threshold": self.threshold,
                "decision": self.decision(dist)}


def open_matcher(cfg: DictConfig) -> IndexMatcher:
    """The matcher ``cfg`` names: ``bundle=<dir>`` (onnxruntime, torch never imported) or ``index_dir=<dir>``
    (the checkpoint's tower, torch)."""
    if bool(cfg.get("bundle")) == bool(cfg.get("index_dir")):
        raise ValueError("give exactly one of index_dir=<index directory> and bundle=<bundle directory>; usage: "
                         "scripts/match.py index_dir=<dir> | bundle=<dir>  query=<image or folder> | pair=[<a>,<b>]")
    if cfg.get("bundle"):
        from siamese.matcher_onnx import BundleMatcher
        return BundleMatcher(Path(cfg.bundle))
    from siamese.matcher_torch import TowerMatcher
    return TowerMatcher(Path(cfg.index_dir))


def match(cfg: DictConfig) -> list[dict] | dict:
    """Print (and return) top-k neighbours of ``cfg.query`` or the verdict on ``cfg.pair``."""
    one_of("format", cfg.format, ("text", "json"))
    k = at_least("k", cfg.k)
    if bool(cfg.get("query")) == bool(cfg.get("pair")):
        raise ValueError("give exactly one of query=<image or folder> and pair=[<image1>,<image2>]")
    matcher = open_matcher(cfg)
    if cfg.get("pair"):
        given = cfg.pair if isinstance(cfg.pair, ListConfig) else str(cfg.pair).split(",")
        parts = [Path(str(p)) for p in given]
        if len(parts) != 2:
            raise ValueError(f"pair must be two image paths, pair=[<image1>,<image2>], got {cfg.pair!r}")
        for p in parts:
            query_paths(p)  # exists and is an image
        result = matcher.verify(*parts)
        text = f"{result['pair'][0]} vs {result['pair'][1]}: distance {result['distance']:.4f} -> {result['decision']}"
    else:
        result = matcher.neighbours(query_paths(Path(cfg.query)), k)
        lines = []
        for row in result:
            lines.append(row["query"])
            lines += [f"  {n['rank']:>2}. {n['label']!s:<16} {n['distance']:.4f}  {n['decision'] or ''}  "
                      f"{n['path'] or ''}".rstrip() for n in row["neighbours"]]
        text = "\n".join(lines)
    print(json.dumps(result, indent=2) if cfg.format == "json" else text)
    return result
