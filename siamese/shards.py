"""Embedding shards: what an export writes before it builds the index, one file pair per shard.

The images to export (listed once, in a fixed order: image id = position in the list) are cut into
shards of ``shard_size`` consecutive ids; shard ``s`` holds ids ``[s·size, min((s+1)·size, N))`` and
is embedded by rank ``s mod W`` of ``W`` processes, so each image is embedded by exactly one rank
and no rank pads. A finished shard is, in ``<out>/shards/``::

    part-<s>.skipped.json   the unreadable images left out (on_bad_image=skip), when there are any
    part-<s>.emb.npy        (n_s, D) float32 embeddings of its readable images
    part-<s>.ids.npy        (n_s,) int64 their image ids: written last, it marks the shard finished

all renamed into place after they are fully written, so a killed export leaves finished shards and
no half one. ``plan.json`` records what the shards are of (the image list's count and digest, the
checkpoint's sha256, the image settings, the shard size): an export with ``resume=true`` keeps the
finished shards of the same plan and embeds the rest; any other plan is refused by name.
"""
from __future__ import annotations

import hashlib
import io
import json
import math
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from siamese.atomic import atomic_write_many, json_bytes
from siamese.vectors import ShardVectors

PLAN_FILE = "plan.json"


def listing_digest(relative_paths: list[str]) -> str:
    """sha256 of the image list (one relative path a line): a changed collection is a different plan."""
    digest = hashlib.sha256()
    for path in relative_paths:
        digest.update(path.encode() + b"\n")
    return digest.hexdigest()


@dataclass(frozen=True)
class ShardPlan:
    """``count`` images cut into shards of ``shard_size``; ``fingerprint`` names what they are embedded from."""

    count: int
    shard_size: int
    fingerprint: dict

    @property
    def shards(self) -> int:
        return math.ceil(self.count / self.shard_size)

    def span(self, shard: int) -> range:
        """The image ids of ``shard``."""
        return range(shard * self.shard_size, min((shard + 1) * self.shard_size, self.count))

    def of_rank(self, rank: int, world: int) -> list[int]:
        """The shards rank ``rank`` of ``world`` embeds: ``s ≡ rank (mod world)``."""
        return list(range(rank, self.shards, world))


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


class ShardStore:
    """The ``shards`` folder of an export: its plan, its finished shards, and the vectors they hold."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def path(self, shard: int, kind: str) -> Path:
        return self.root / f"part-{shard:05d}.{kind}"

    def prepare(self, plan: ShardPlan, resume: bool) -> None:
        """Start a plan: with ``resume``, keep the finished shards of this same plan (another plan is a
        ``ValueError`` naming what changed); without, remove whatever shards are there."""
        plan_file = self.root / PLAN_FILE
        if resume and plan_file.is_file():
            previous = json.loads(plan_file.read_text())
            changed = sorted(key for key in set(previous) | set(asdict(plan))
                             if previous.get(key) != asdict(plan).get(key))
            if changed:
                raise ValueError(f"resume=true: {self.root} holds shards of another export ({', '.join(changed)} "
                                 "differ: other images, checkpoint, image settings or shard_size); "
                                 "export with resume=false to start again")
            return
        if self.root.exists():
            shutil.rmtree(self.root)
        self.root.mkdir(parents=True)
        atomic_write_many({plan_file: json_bytes(asdict(plan))})

    def finished(self, shard: int) -> bool:
        return self.path(shard, "ids.npy").is_file()

    def write(self, shard: int, embeddings: np.ndarray, ids: np.ndarray, skipped: list[dict]) -> None:
        """Write one shard: skipped list, embeddings, then ids (the marker), each renamed into place."""
        files = {self.path(shard, "skipped.json"): json_bytes(skipped)} if skipped else {}
        files[self.path(shard, "emb.npy")] = _npy(np.ascontiguousarray(embeddings, dtype=np.float32))
        files[self.path(shard, "ids.npy")] = _npy(np.asarray(ids, dtype=np.int64))
        atomic_write_many(files)

    def read(self, plan: ShardPlan) -> tuple[ShardVectors, np.ndarray, list[dict]]:
        """Every shard of ``plan``, in order: ``(vectors (memory-mapped), image ids (N',), skipped)``;
        row ``r`` of the vectors is image ``ids[r]``."""
        missing = [s for s in range(plan.shards) if not self.finished(s)]
        if missing:
            raise RuntimeError(f"{self.root}: shards {missing[:10]} of {plan.shards} are not finished; "
                               "run the export again with resume=true")
        ids = np.concatenate([np.load(self.path(s, "ids.npy")) for s in range(plan.shards)])
        skipped = [entry for s in range(plan.shards) if self.path(s, "skipped.json").is_file()
                   for entry in json.loads(self.path(s, "skipped.json").read_text())]
        return ShardVectors([self.path(s, "emb.npy") for s in range(plan.shards)]), ids, skipped
