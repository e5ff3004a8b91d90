"""Losses of the field, one module per family; every class here can be named in ``conf/loss``.

- pair (``siamese.losses.pair``): contrastive, double-margin contrastive, binary hinge;
- tuplet (``siamese.losses.tuplet``): triplet, TriHard, quadruplet, MSML (class ids, P×K batches);
- classification (``siamese.losses.classification``): softmax, multi-class hinge, L-Softmax, A-Softmax;
- margin (``siamese.losses.margin``): the additive-margin softmax losses, CosFace and ArcFace;
- joint (``siamese.losses.joint``): a verification loss plus a weighted identification loss (``identification=``).
"""
from siamese.losses.base import ClassIdLoss, SiameseLoss
from siamese.losses.classification import (
    ASoftmaxLoss,
    LSoftmaxLoss,
    MultiClassHingeLoss,
    SoftmaxLoss,
)
from siamese.losses.joint import JointLoss
from siamese.losses.margin import ArcFaceLoss, CosFaceLoss
from siamese.losses.pair import ContrastiveLoss, DoubleMarginContrastiveLoss, HingeLoss, PairLoss, sqdist
from siamese.losses.tuplet import MSMLLoss, QuadrupletLoss, TriHardLoss, TripletLoss

__all__ = [
    "ArcFaceLoss", "ASoftmaxLoss", "ClassIdLoss", "ContrastiveLoss", "CosFaceLoss", "DoubleMarginContrastiveLoss",
    "HingeLoss", "JointLoss", "LSoftmaxLoss", "MSMLLoss", "MultiClassHingeLoss", "PairLoss", "QuadrupletLoss",
    "SiameseLoss", "SoftmaxLoss", "TriHardLoss", "TripletLoss", "sqdist",
]
