"""Reducers: one scalar from the per-pair terms of a pair loss (``conf/loss/reducer``).

A reducer is called as ``reducer(terms (P,), y (P,))`` with ``y = 1`` for a same pair and ``0``
for a different one, over the pairs a loss kept (all of them, or those a miner kept). ``P = 0``
gives a loss of 0, never NaN; a NaN term still reaches the loss, where the module's guard stops it.
"""
from __future__ import annotations

from torch import Tensor


class Reducer:
    """Base: ``__call__(terms (P,), y (P,)) -> scalar``; ``name`` is the ``conf/loss/reducer`` option."""

    name = "base"

    def __call__(self, terms: Tensor, y: Tensor) -> Tensor:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class SumOver2N(Reducer):
    """``Σ terms / (2P)``: the seed document's reduction of the contrastive losses."""

    name = "sum_over_2n"

    def __call__(self, terms, y):
        return terms.sum() / max(2 * len(terms), 1)


class MeanReducer(Reducer):
    """``Σ terms / P``."""

    name = "mean"

    def __call__(self, terms, y):
        return terms.sum() / max(len(terms), 1)


class AvgNonZeroReducer(Reducer):
    """Same-pair terms averaged over the non-zero ones, plus different-pair terms likewise.

    ``L = Σ_{y=1, t≠0} t / max(#, 1) + Σ_{y=0, t≠0} t / max(#, 1)``: pairs already inside their
    margin do not dilute the average (pytorch-metric-learning's ``AvgNonZeroReducer``, per side).
    """

    name = "nonzero"

    def __call__(self, terms, y):
        # terms are >= 0, so "!= 0" picks the non-zero ones and, unlike "> 0", keeps a NaN for the guard
        parts = [terms[(y == side) & (terms != 0)] for side in (1, 0)]
        return sum(part.sum() / max(len(part), 1) for part in parts)


REDUCERS = {cls.name: cls for cls in (SumOver2N, MeanReducer, AvgNonZeroReducer)}
# The former name of sum_over_2n, still accepted by ``PairLoss(reduction=...)`` with a warning.
DEPRECATED_REDUCTIONS = {"seed": "sum_over_2n"}


def reducer_named(name: str) -> Reducer:
    """The reducer of a ``conf/loss/reducer`` option name (``sum_over_2n``, ``mean``, ``nonzero``)."""
    if name not in REDUCERS:
        raise ValueError(f"loss reducer must be one of {list(REDUCERS)}, got {name!r}")
    return REDUCERS[name]()

