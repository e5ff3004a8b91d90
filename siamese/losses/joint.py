"""Joint verification and identification signals (DeepID2, Sun et al., NeurIPS 2014).

A pair (or tuplet) loss on the twins' embeddings plus a classifier over the training classes on the
same batch's model embeddings, weighted by ``λ``::

    L = L_verification(e1, e2, batch) + λ · L_identification(cat([final(e1), final(e2)]), cat([c1, c2]))

The identification term pulls every image of a class towards one class weight, the verification term
shapes the distances directly; the classifier's ``(K, D)`` weights train and checkpoint with the module.
"""
from __future__ import annotations

from siamese.checks import positive
from siamese.losses.base import ClassIdLoss, SiameseLoss


class JointLoss(SiameseLoss):
    """``verification`` plus ``weight`` × ``identification`` (a class-id loss: softmax, CosFace, …).

    Batches are what the verification loss asks for (its ``batch_kind``, ``gather``); the result holds
    ``loss`` (the sum), the verification loss's terms, ``verification`` and ``identification`` (the two
    losses before weighting) and the identification loss's other terms prefixed ``identification_``.
    """

    needs_class_ids = True

    def __init__(self, verification: SiameseLoss, identification: ClassIdLoss, weight: float):
        super().__init__()
        if not isinstance(identification, ClassIdLoss):
            raise ValueError(f"identification.loss must be a loss on class ids (softmax, cosface, arcface, ...), "
                             f"got {type(identification).__name__}")
        self.verification, self.identification = verification, identification
        self.identification_weight = positive("identification.weight", weight)

    @property
    def batch_kind(self) -> str:
        return self.verification.batch_kind

    @property
    def gather(self) -> bool:
        return self.verification.gather

    def check(self, tower) -> None:
        self.verification.check(tower)
        self.identification.check(tower)

    def bind(self, tower, num_classes: int | None = None) -> None:
        self.verification.bind(tower, num_classes)
        self.identification.bind(tower, num_classes)
        self.follow(tower)

    def compute(self, e1, e2, batch):
        verification = self.verification.compute(e1, e2, batch)
        identification = self.identification.compute(e1, e2, batch)
        return {"loss": verification["loss"] + self.identification_weight * identification["loss"],
                **{name: value for name, value in verification.items() if name != "loss"},
                "verification": verification["loss"], "identification": identification["loss"],
                **{f"identification_{name}": value for name, value in identification.items() if name != "loss"}}
