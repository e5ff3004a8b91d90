"""Reading a finished training run: its config, its checkpoints, its trained tower."""
from __future__ import annotations

from pathlib import Path

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch import nn


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
            "image": {"size": int(source_cfg.image_size), "channels": int(source_cfg.channels)}}


def checkpoint_state(checkpoint: Path) -> dict:
    return torch.load(checkpoint, map_location="cpu", weights_only=False)["state_dict"]


def load_tower(model_cfg, checkpoint: Path) -> nn.Module:
    """The tower described by ``model_cfg`` with the ``net.*`` weights of a SiameseModule checkpoint."""
    net = instantiate(model_cfg)
    state = {k.removeprefix("net."): v for k, v in checkpoint_state(checkpoint).items() if k.startswith("net.")}
    try:
        net.load_state_dict(state)
    except RuntimeError as err:
        first = str(err).splitlines()[1].strip() if len(str(err).splitlines()) > 1 else str(err)
        raise ValueError(f"checkpoint {str(checkpoint)!r} does not fit the model config "
                         f"{OmegaConf.to_container(model_cfg)}: {first}") from None
    return net.eval()
