"""Pair losses against slow per-sample loops, hand cases and pytorch-metric-learning."""
import math

import pytest
import torch
from pytorch_metric_learning.distances import LpDistance
from pytorch_metric_learning.losses import ContrastiveLoss as PMLContrastiveLoss
from pytorch_metric_learning.reducers import SumReducer

from siamese.losses import ContrastiveLoss, DoubleMarginContrastiveLoss


def naive_contrastive(e1, e2, y, margin, form):
    """Per-sample loop of the two contrastive forms (see ContrastiveLoss docstring)."""
    total = 0.0
    for a, b, same in zip(e1.tolist(), e2.tolist(), y.tolist()):
        d = sum((u - v) ** 2 for u, v in zip(a, b))
        if form == "seed":
            total += same * d + (1 - same) * max(margin - d, 0.0)
        else:
            total += same * d + (1 - same) * max(margin - math.sqrt(d), 0.0) ** 2
    return total / (2 * len(y))


def naive_dcontrastive(e1s, e2s, y, m1s, m2s, ws, layers):
    total = 0.0
    for i, same in enumerate(y.tolist()):
        for stage, m1, m2, w in zip(layers, m1s, m2s, ws):
            a, b = e1s[stage - 1][i].tolist(), e2s[stage - 1][i].tolist()
            d = sum((u - v) ** 2 for u, v in zip(a, b))
            total += w * (same * max(d - m1, 0.0) + (1 - same) * max(m2 - d, 0.0))
    return total / (2 * len(y))


def random_pairs(n=16, dims=(8, 6, 4), seed=0, normalise=True):
    g = torch.Generator().manual_seed(seed)
    e1 = [torch.randn(n, d, generator=g) for d in dims]
    e2 = [torch.randn(n, d, generator=g) for d in dims]
    if normalise:
        e1 = [torch.nn.functional.normalize(e, dim=1) for e in e1]
        e2 = [torch.nn.functional.normalize(e, dim=1) for e in e2]
    y = (torch.rand(n, generator=g) < 0.5).float()
    return e1, e2, {"y": y}


@pytest.mark.parametrize("form", ["seed", "hadsell"])
@pytest.mark.parametrize("margin", [0.5, 1.0, 2.5])
@pytest.mark.parametrize("seed", [0, 1])
def test_contrastive_equals_naive_loop(form, margin, seed):
    e1, e2, batch = random_pairs(seed=seed, normalise=seed == 0)
    got = ContrastiveLoss(margin=margin, form=form)(e1, e2, batch)["loss"]
    want = naive_contrastive(e1[-1], e2[-1], batch["y"], margin, form)
    assert got.item() == pytest.approx(want, rel=1e-5, abs=1e-7)


@pytest.mark.parametrize("m1,m2,weights,layers", [
    (0.2, 1.0, 1.0, None),
    (0.1, 2.0, [0.5, 1.0, 2.0], None),
    ([0.1, 0.3, 0.5], [1.0, 1.2, 1.5], 1.0, None),
    (0.2, 1.0, [1.0, 3.0], [1, 3]),
    ([0.05], [0.6], 2.0, [2]),
])
def test_dcontrastive_equals_naive_loop(m1, m2, weights, layers):
    e1, e2, batch = random_pairs(seed=3)
    loss = DoubleMarginContrastiveLoss(m1=m1, m2=m2, layers=layers, weights=weights)
    loss.bind(3, 4)
    out = loss(e1, e2, batch)
    sel = layers or [1, 2, 3]
    bc = lambda v: v if isinstance(v, list) else [v] * len(sel)  # noqa: E731
    want = naive_dcontrastive(e1, e2, batch["y"], bc(m1), bc(m2), bc(weights), sel)
    assert out["loss"].item() == pytest.approx(want, rel=1e-5, abs=1e-7)
    # every selected stage has its own logged term, and the terms add up to the loss
    assert sorted(k for k in out if k != "loss") == sorted(f"layer{s}" for s in sel)
    assert sum(out[f"layer{s}"] for s in sel).item() == pytest.approx(out["loss"].item(), rel=1e-6)


def test_identical_same_pairs_and_far_different_pairs_cost_nothing():
    e = [torch.nn.functional.normalize(torch.randn(6, 5), dim=1) for _ in range(3)]
    same = {"y": torch.ones(6)}
    assert ContrastiveLoss(form="seed")(e, e, same)["loss"].item() == 0.0
    assert ContrastiveLoss(form="hadsell")(e, e, same)["loss"].item() == 0.0
    dcl = DoubleMarginContrastiveLoss(m1=0.1, m2=1.0)
    dcl.bind(3, 4)
    assert dcl(e, e, same)["loss"].item() == 0.0
    # opposite unit vectors: squared distance 4, Euclidean 2, beyond every margin below
    diff = {"y": torch.zeros(6)}
    neg = [-v for v in e]
    assert ContrastiveLoss(margin=3.9, form="seed")(e, neg, diff)["loss"].item() == 0.0
    assert ContrastiveLoss(margin=1.9, form="hadsell")(e, neg, diff)["loss"].item() == 0.0
    assert dcl(e, neg, diff)["loss"].item() == 0.0


def test_positive_pair_inside_m1_costs_nothing_but_outside_does():
    a = torch.tensor([[1.0, 0.0]])
    b = torch.tensor([[0.8, 0.6]])          # squared distance 0.04 + 0.36 = 0.4
    dcl = DoubleMarginContrastiveLoss(m1=0.5, m2=1.0, layers=[1])
    dcl.bind(1, 2)
    assert dcl([a], [b], {"y": torch.ones(1)})["loss"].item() == 0.0
    dcl = DoubleMarginContrastiveLoss(m1=0.3, m2=1.0, layers=[1])
    dcl.bind(1, 2)
    assert dcl([a], [b], {"y": torch.ones(1)})["loss"].item() == pytest.approx(0.1 / 2)


def test_seed_form_agrees_with_pytorch_metric_learning():
    """PML's ContrastiveLoss(pos_margin=0, neg_margin=m) on squared L2 equals the seed form's terms."""
    e1, e2, batch = random_pairs(n=32, seed=5)
    y = batch["y"]
    n = len(y)
    emb = torch.cat([e1[-1], e2[-1]])
    idx = torch.arange(n)
    pos, neg = idx[y == 1], idx[y == 0]
    pml = PMLContrastiveLoss(pos_margin=0.0, neg_margin=1.3, reducer=SumReducer(),
                             distance=LpDistance(normalize_embeddings=False, p=2, power=2))
    pml_sum = pml(emb, None, indices_tuple=(pos, pos + n, neg, neg + n))
    ours = ContrastiveLoss(margin=1.3, form="seed")(e1, e2, batch)["loss"]
    assert ours.item() == pytest.approx(pml_sum.item() / (2 * n), rel=1e-5)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_losses_compute_in_float32_and_stay_finite(dtype):
    e = [torch.nn.functional.normalize(torch.randn(8, 4), dim=1).to(dtype).requires_grad_() for _ in range(3)]
    batch = {"y": torch.tensor([1.0, 0.0] * 4)}
    dcl = DoubleMarginContrastiveLoss()
    dcl.bind(3, 4)
    for loss in (ContrastiveLoss(form="seed"), ContrastiveLoss(form="hadsell"), dcl):
        out = loss(e, e, batch)  # identical embeddings: distance 0, the sqrt's edge case
        assert out["loss"].dtype == torch.float32
        out["loss"].backward()
    assert all(t.grad is not None and torch.isfinite(t.grad).all() for t in e)


@pytest.mark.parametrize("kwargs,match", [
    ({"margin": 0.0}, r"loss\.margin must be > 0, got 0\.0"),
    ({"margin": -1}, r"loss\.margin must be > 0"),
    ({"form": "lecun"}, r"loss\.form must be one of"),
])
def test_contrastive_rejects_bad_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ContrastiveLoss(**kwargs)


@pytest.mark.parametrize("kwargs,match", [
    ({"m1": 1.0, "m2": 1.0}, r"loss\.m1 must be < loss\.m2 at layer 1, got m1=1\.0, m2=1\.0"),
    ({"m1": -0.1}, r"loss\.m1 must be > 0"),
    ({"m1": [0.1, 0.2], "m2": [1.0, 1.0, 1.0]}, r"loss\.m1 has 2 values but 3 layers"),
    ({"layers": [1, 2], "weights": [1.0]}, r"loss\.weights has 1 values but 2 layers"),
    ({"layers": [1, 1]}, r"loss\.layers must be distinct"),
    ({"weights": -1.0}, r"loss\.weights must be >= 0"),
])
def test_dcontrastive_rejects_bad_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DoubleMarginContrastiveLoss(**kwargs)


def test_dcontrastive_rejects_unknown_stage_and_wrong_length_at_bind():
    with pytest.raises(ValueError, match=r"loss\.layers names stage\(s\) \[4\] but the tower has stages 1\.\.3"):
        DoubleMarginContrastiveLoss(layers=[1, 4]).bind(3, 4)
    with pytest.raises(ValueError, match=r"loss\.m2 has 2 values but 3 layers"):
        DoubleMarginContrastiveLoss(m2=[1.0, 1.5]).bind(3, 4)
