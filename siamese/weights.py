"""Weights from a local file into a tower (``model.weights``): a state dict saved with ``torch.save``,
bare or under ``state_dict`` / ``model``, or a siamese run's checkpoint (its tower's ``net.*`` tensors)."""
from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn


def tower_tensors(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """The tower's tensors of a siamese module's state dict: its ``net.*`` keys, without the prefix."""
    return {k.removeprefix("net."): v for k, v in state.items() if k.startswith("net.")}


def read_state_dict(path: str | Path) -> dict[str, Tensor]:
    """The tensors of ``path``: a bare state dict, the one under ``state_dict`` / ``model``, and of a
    siamese checkpoint (keys ``net.…``) the tower's, without the prefix."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"model.weights={str(path)!r}: no such file (a state dict saved with torch.save, "
                                "a run's checkpoint, or 'imagenet', or null)")
    state = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if any(k.startswith("net.") for k in state):
        state = tower_tensors(state)
    return state


def load_weights(module: nn.Module, path: str | Path, fits: str, part: str) -> None:
    """Load a local state dict into ``module``; keys ``module`` lacks (a classifier) are ignored, keys of
    ``module`` the file lacks are an error naming them, a tensor of another shape one naming ``fits``
    (the settings that decide the shapes)."""
    try:
        result = module.load_state_dict(read_state_dict(path), strict=False)
    except RuntimeError as err:       # a tensor of another shape: another model
        detail = next((line.strip() for line in str(err).splitlines() if "size mismatch" in line), str(err)[:200])
        raise ValueError(f"model.weights={path} does not fit {fits}: {detail}") from None
    if result.missing_keys:
        raise ValueError(f"model.weights={path}: the file lacks {len(result.missing_keys)} of the {part}'s "
                         f"tensors (first: {result.missing_keys[:3]}); is it a state dict of this model?")
