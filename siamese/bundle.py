"""A deployment bundle: the tower as ONNX, the index, and a manifest; matched without torch.

``write_bundle(cfg)`` (``scripts/bundle.py``, ``conf/bundle.yaml``) writes into ``out``::

    model.onnx        the tower in eval mode: image (B, C, S, S) float32 in [0, 1] -> unit model embedding (B, D);
                      the input normalisation is inside the graph (the tower's buffers); B is dynamic
    index.<sha>.faiss the index of the run (or of an export directory, ``index_dir=<dir>``), with its
    labels.<sha>.npy  labels, paths and on-disk lists (``siamese.index_store``)
    index.json        that index's metadata (classes, threshold, distance convention, image size /
                      channels / resize, the files above), the checkpoint's sha256, ``model_file``
    manifest.json     the sha256 of every other file, checked before a bundle is used

The ONNX file comes from ``torch.onnx.export(..., dynamo=True)``: the exporter torch maintains (the
TorchScript-based one is deprecated); its output matches torch within 1e-5 at batch 1, 7 and 300
(tested). The bundle is built in a temporary folder beside ``out`` and renamed into place, so an
interrupted build never leaves a half bundle, and a previous bundle at ``out`` is replaced whole.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf
from torch import Tensor, nn

from siamese.atomic import json_bytes, sha256_file
from siamese.index_store import META_FILE, data_files, load_index
from siamese.inference import eval_mode
from siamese.matcher_onnx import MANIFEST_FILE, MODEL_FILE
from siamese.runs import indexed_checkpoint, load_tower


class ModelEmbedding(nn.Module):
    """``x (B, C, S, S) -> tower.embed(x) (B, D)``: what the ONNX graph computes."""

    def __init__(self, tower: nn.Module):
        super().__init__()
        self.tower = tower

    def forward(self, x: Tensor) -> Tensor:
        return self.tower.embed(x)


def export_onnx(tower: nn.Module, image: dict, path: Path) -> None:
    """The tower's model embedding as ONNX, batch axis dynamic (``torch.onnx.export``, dynamo exporter)."""
    dummy = torch.rand(2, int(image["channels"]), int(image["size"]), int(image["size"]))
    with eval_mode(tower):
        torch.onnx.export(ModelEmbedding(tower).eval(), (dummy,), str(path), dynamo=True, input_names=["image"],
                          output_names=["embedding"], dynamic_shapes={"x": {0: torch.export.Dim("batch")}},
                          external_data=False, verbose=False)      # one file: weights inside (< 2 GB)


def write_bundle(cfg: DictConfig) -> Path:
    """Write the bundle of ``cfg.run_dir`` (its index, or ``cfg.index``'s) into ``cfg.out``; return ``out``."""
    index_dir = Path(cfg.index_dir or cfg.run_dir)
    _, meta = load_index(index_dir, verify=True)            # checks every data file against its sha256
    for key in ("model", "image"):
        if meta.get(key) is None:
            raise ValueError(f"{index_dir}/index.json has no {key!r}: write it with scripts/train.py or "
                             "scripts/export.py")
    checkpoint = indexed_checkpoint(index_dir, meta)
    tower = load_tower(OmegaConf.create(meta["model"]), checkpoint)
    out = Path(cfg.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.staging-"))
    try:
        export_onnx(tower, meta["image"], staging / MODEL_FILE)
        for path in data_files(index_dir, meta).values():
            shutil.copy2(path, staging / path.name)
        bundle_meta = {**meta, "checkpoint": None, "model_file": MODEL_FILE,
                       "normalisation": "inside model.onnx (the tower's input_mean / input_std buffers)",
                       "source": {"index_dir": str(index_dir.resolve()), "checkpoint": str(checkpoint.resolve())}}
        (staging / META_FILE).write_bytes(json_bytes(bundle_meta))
        manifest = {name: sha256_file(staging / name) for name in sorted(os.listdir(staging))}
        (staging / MANIFEST_FILE).write_bytes(json_bytes({"files": manifest}))
        _replace_dir(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    print(f"bundle written to {out}: {MODEL_FILE}, {', '.join(p.name for p in data_files(out, meta).values())}, "
          f"{META_FILE}, {MANIFEST_FILE} "
          f"({meta['count']} gallery images, dim {meta['dim']})")
    return out


def _replace_dir(new: Path, target: Path) -> None:
    """Put the finished folder ``new`` at ``target``: one rename, the previous ``target`` moved aside first
    and removed after (it is never mixed with the new files)."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        os.replace(target, old)
    os.replace(new, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
