"""Query-time matching against an exported index: ``match(cfg)`` behind ``scripts/match.py``.

The index directory's ``index.json`` names the checkpoint, the model config and the image
settings, so a query image is embedded exactly as the indexed ones were. A pair is declared
*same* when its Euclidean distance is ``<=`` the stored threshold (chosen on validation pairs).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig, ListConfig, OmegaConf

from siamese.checks import at_least, one_of
from siamese.data import IMAGE_SUFFIXES, load_image, scan_image_tree
from siamese.data.sources import UNREADABLE_IMAGE_ERRORS
from siamese.index import labels_of, load_index, search
from siamese.inference import embed
from siamese.runs import indexed_checkpoint, load_tower


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


class Matcher:
    """An index directory with the tower that filled it."""

    def __init__(self, index_dir: Path):
        self.index, self.meta = load_index(index_dir)
        for key in ("checkpoint", "model", "image"):
            if self.meta.get(key) is None:
                raise ValueError(f"{index_dir}/index.json has no {key!r}: write it with scripts/train.py or "
                                 "scripts/export.py")
        self.net = load_tower(OmegaConf.create(self.meta["model"]), indexed_checkpoint(index_dir, self.meta))
        if self.net.embedding_dim != self.index.d:
            raise ValueError(f"the model embeds into {self.net.embedding_dim} dimensions but the index holds "
                             f"{self.index.d}-dimensional vectors")
        self.threshold = self.meta.get("threshold")

    def embed(self, paths: list[Path]) -> np.ndarray:
        """Model embeddings ``(len(paths), D)`` of image files, loaded as the indexed images were."""
        image = self.meta["image"]
        images = []
        for path in paths:
            try:
                images.append(load_image(path, int(image["size"]), int(image["channels"]),
                                         image.get("resize", "stretch")))
            except UNREADABLE_IMAGE_ERRORS as err:
                raise ValueError(f"unreadable query image {str(path)!r}: {type(err).__name__}: {err}") from None
        return embed(self.net, [{"x": torch.stack(images)}])[0]

    def decision(self, dist: float) -> str | None:
        return None if self.threshold is None else ("same" if dist <= self.threshold else "different")

    def neighbours(self, paths: list[Path], k: int) -> list[dict]:
        dist, ids = search(self.index, self.embed(paths), k)
        labels = labels_of(ids, np.asarray(self.meta["labels"]))
        classes, stored = self.meta.get("classes"), self.meta.get("paths")
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


def match(cfg: DictConfig) -> list[dict] | dict:
    """Print (and return) top-k neighbours of ``cfg.query`` or the verdict on ``cfg.pair``."""
    missing = OmegaConf.missing_keys(cfg)
    if missing:
        raise ValueError(f"missing required argument(s): {', '.join(f'{key}=...' for key in sorted(missing))}; "
                         "usage: scripts/match.py index_dir=<dir> query=<image or folder> | pair=[<a>,<b>]")
    one_of("format", cfg.format, ("text", "json"))
    k = at_least("k", cfg.k)
    if bool(cfg.get("query")) == bool(cfg.get("pair")):
        raise ValueError("give exactly one of query=<image or folder> and pair=[<image1>,<image2>]")
    matcher = Matcher(Path(cfg.index_dir))
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
