"""New training classes made by rotating the training classes (``data.rotated_classes``).

With few training classes a verifier learns features of those classes that do not carry to unseen
ones. Few-shot work on Omniglot widens the class set by rotating every character class by multiples
of 90° and counting each rotation as a class of its own (Santoro et al. 2016, Vinyals et al. 2016,
Snell et al. 2017). ``RotatedClasses`` does that for the training part of a source;
``resolved_rotations`` reads ``data.rotated_classes``, whose ``auto`` turns it on where classes are few.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

ANGLES = (90, 180, 270)
AUTO = "auto"
AUTO_BAR = 1.5        # auto: rotate while the training classes number fewer than AUTO_BAR · P


def rotation_angles(angles) -> tuple[int, ...]:
    """``data.rotated_classes`` checked: distinct angles among 90, 180, 270 (``None`` or ``[]``: none)."""
    values = [] if angles is None else list(angles)
    if any(str(a) not in {str(b) for b in ANGLES} for a in values) or len(set(map(int, values))) < len(values):
        raise ValueError(f"data.rotated_classes must be {AUTO!r} or list distinct angles among {list(ANGLES)} "
                         f"(degrees, counter-clockwise), e.g. [90] or [90,180,270]; got {angles!r}")
    return tuple(int(a) for a in values)


def check_rotations(setting) -> None:
    """Raise a ``ValueError`` naming ``data.rotated_classes`` unless it is ``"auto"`` or valid angles."""
    if setting != AUTO:
        rotation_angles(setting)


def resolved_rotations(setting, n_training_classes: int, p: int, held_out_classes: bool) -> tuple[int, ...]:
    """The angles ``data.rotated_classes`` stands for.

    Angles stand for themselves. ``"auto"`` stands for all three quarter turns ``(90, 180, 270)`` when
    whole classes are held out (the verifier meets unseen classes) and the ``K`` training classes number
    fewer than ``1.5·P`` (``P`` = ``data.p``, the classes of a P×K batch, which then holds more than two
    thirds of them), and for none otherwise: all three turns gained with six or seven training classes
    (digits, ten glyph characters; 1.1·P) and 20 glyph characters (1.25·P), and lost with 30 (1.9·P), 40
    and 116 (docs/benchmarks.md, sixteenth and eighteenth rounds).
    """
    if setting != AUTO:
        return rotation_angles(setting)
    return ANGLES if held_out_classes and n_training_classes < AUTO_BAR * int(p) else ()


class RotatedClasses:
    """A source followed by its copies rotated by each angle, every copy's classes new classes.

    With ``N`` images of ``K`` classes and angles ``a_1..a_R``, position ``r·N + i`` (``r = 0..R``) is
    image ``i`` rotated by ``a_r`` (``a_0 = 0``: positions ``< N`` are the source's own images), of class
    ``r·K + c_i``: ``labels`` has length ``(R+1)·N`` and ``classes`` ``(R+1)·K`` names (``"3"``,
    ``"3 rotated 90"``, …). An image ``(C, S, S)`` is rotated with ``torch.rot90`` (exact, no
    resampling; every source gives square ``image_size`` images).
    """

    def __init__(self, source, angles):
        self.source, self.angles = source, (0, *rotation_angles(angles))
        self.n_images, n_classes = len(source.labels), len(source.classes)
        base = np.asarray(source.labels, dtype=np.int64)
        self.labels = np.concatenate([base + r * n_classes for r in range(len(self.angles))])
        self.classes = list(source.classes) + [f"{name} rotated {angle}" for angle in self.angles[1:]
                                               for name in source.classes]

    def positions(self, indices: np.ndarray) -> np.ndarray:
        """The positions of ``indices`` (source positions) and of all their rotated copies."""
        return np.concatenate([np.asarray(indices, dtype=np.int64) + r * self.n_images
                               for r in range(len(self.angles))])

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, position: int) -> Tensor:
        r, i = divmod(int(position), self.n_images)
        image = self.source[i]
        return torch.rot90(image, k=self.angles[r] // 90, dims=(-2, -1)) if r else image
