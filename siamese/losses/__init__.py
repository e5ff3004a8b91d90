"""Losses of the field, one module per family; every class here can be named in ``conf/loss``.

- pair (``siamese.losses.pair``): contrastive, double-margin contrastive, binary hinge;
- tuplet (``siamese.losses.tuplet``): triplet, TriHard, quadruplet, MSML (class ids, P×K batches);
- classification (``siamese.losses.classification``): softmax, multi-class hinge, L-Softmax, A-Softmax.
"""
from siamese.losses.base import ClassIdLoss, SiameseLoss
from siamese.losses.classification import (
    ASoftmaxLoss,
    LSoftmaxLoss,
    MultiClassHingeLoss,
    SoftmaxLoss,
)
from siamese.losses.pair import ContrastiveLoss, DoubleMarginContrastiveLoss, HingeLoss, PairLoss, sqdist
from siamese.losses.tuplet import MSMLLoss, QuadrupletLoss, TriHardLoss, TripletLoss

__all__ = [
    "ASoftmaxLoss", "ClassIdLoss", "ContrastiveLoss", "DoubleMarginContrastiveLoss", "HingeLoss",
    "LSoftmaxLoss", "MSMLLoss", "MultiClassHingeLoss", "PairLoss", "QuadrupletLoss", "SiameseLoss",
    "SoftmaxLoss", "TriHardLoss", "TripletLoss", "sqdist",
]
