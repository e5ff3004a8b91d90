"""Reading a finished training run: its config, its checkpoints, its trained tower."""
from __future__ import annotations

import os
from pathlib import Path

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch import nn

from siamese.atomic import sha256_file
from siamese.weights import tower_tensors


def run_config(run_dir: Path) -> DictConfig:
    """The resolved training config of ``run_dir`` (its ``.hydra/config.yaml``), ``run_dir`` set."""
    path = Path(run_dir) / ".hydra" / "config.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"{str(path)!r} not found: run_dir must be a directory written by scripts/train.py")
    cfg = OmegaConf.load(path)
    cfg.run_dir = str(run_dir)
    return cfg


def resolve_checkpoint(run_dir: Path, which: str | None, key: str = "checkpoint") -> Path | None:
    """The checkpoint the config value ``key=which`` names: ``best`` / ``last`` (in
    ``run_dir/checkpoints``) or a path; ``None`` for an empty value. A clear error when it is missing."""
    if not which:
        return None
    which = str(which)
    path = Path(run_dir) / "checkpoints" / f"{which}.ckpt" if which in ("best", "last") else Path(which)
    if not path.is_file():
        raise FileNotFoundError(f"{key}={which}: {str(path)!r} not found; a run's checkpoints are in "
                                "<run_dir>/checkpoints (to resume, point hydra.run.dir at that run's directory)")
    return path


def model_description(model_cfg: DictConfig, source_cfg: DictConfig) -> dict:
    """index.json entries a matcher needs to embed a query as the gallery was: model config, image settings."""
    return {"model": OmegaConf.to_container(model_cfg, resolve=True),
            "image": {"size": int(source_cfg.image_size), "channels": int(source_cfg.channels),
                      "resize": str(source_cfg.get("resize", "stretch"))}}


def read_checkpoint(checkpoint: Path) -> dict:
    """A Lightning checkpoint's contents (``state_dict``, ``epoch``, …), on the CPU."""
    return torch.load(checkpoint, map_location="cpu", weights_only=False)


def checkpoint_state(checkpoint: Path) -> dict:
    return read_checkpoint(checkpoint)["state_dict"]


def without_start_weights(model_cfg: DictConfig) -> DictConfig:
    """``model_cfg`` with ``weights`` cleared, for a tower a checkpoint will fill: the checkpoint replaces
    every tensor, so the weights the run started from (``model.weights``: a file that may have moved
    since, or ``imagenet``, a download) are not read again."""
    if "weights" not in model_cfg:
        return model_cfg
    cleared = model_cfg.copy()
    cleared.weights = None
    return cleared


def load_tower(model_cfg, checkpoint: Path) -> nn.Module:
    """The tower described by ``model_cfg`` with the ``net.*`` weights of a SiameseModule checkpoint."""
    net = instantiate(without_start_weights(model_cfg))
    try:
        net.load_state_dict(tower_tensors(checkpoint_state(checkpoint)))
    except RuntimeError as err:
        first = str(err).splitlines()[1].strip() if len(str(err).splitlines()) > 1 else str(err)
        raise ValueError(f"checkpoint {str(checkpoint)!r} does not fit the model config "
                         f"{OmegaConf.to_container(model_cfg)}: {first}") from None
    return net.eval()


def checkpoint_reference(checkpoint: Path | None, index_dir: Path, digest: str | None = None) -> dict:
    """index.json entries naming the checkpoint that filled an index: its path *relative to the index
    directory* (a moved or copied run finds its own checkpoint) and its sha256 (``digest`` when the
    caller has it already)."""
    if checkpoint is None:
        return {"checkpoint": None, "checkpoint_sha256": None}
    return {"checkpoint": os.path.relpath(Path(checkpoint).resolve(), Path(index_dir).resolve()),
            "checkpoint_sha256": digest or sha256_file(checkpoint)}


def indexed_checkpoint(index_dir: Path, meta: dict) -> Path:
    """The checkpoint an index directory was filled with, checked against its stored sha256.

    A relative path is resolved against ``index_dir`` (an absolute one, from older runs, is taken
    as it is). A missing file or one whose sha256 differs from ``index.json`` is refused: its tower
    would embed queries differently from the gallery.
    """
    stored = Path(meta["checkpoint"])
    path = stored if stored.is_absolute() else Path(index_dir) / stored
    if not path.is_file():
        raise FileNotFoundError(f"the checkpoint {str(path)!r} named by {index_dir}/index.json is missing; "
                                "export the index again from the run (scripts/export.py)")
    digest = meta.get("checkpoint_sha256")
    if digest and sha256_file(path) != digest:
        raise ValueError(f"the checkpoint {str(path)!r} is not the one {index_dir}/index.json was built from "
                         "(sha256 differs): its tower would embed queries unlike the gallery; export the index "
                         "again with this checkpoint (scripts/export.py), or restore the original checkpoint")
    return path
