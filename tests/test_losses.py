"""Pair losses against slow per-sample loops, hand cases and pytorch-metric-learning."""
import math

import pytest
import torch
from pytorch_metric_learning.distances import LpDistance
from pytorch_metric_learning.losses import ContrastiveLoss as PMLContrastiveLoss
from pytorch_metric_learning.reducers import SumReducer

from siamese.losses import ContrastiveLoss, DoubleMarginContrastiveLoss
from siamese.losses.miners import HardPairMiner
from siamese.losses.pair import batch_all_pairs
from siamese.losses.reducers import AvgNonZeroReducer, MeanReducer, SumOver2N
from siamese.nets import TowerShape


def naive_contrastive(e1, e2, y, margin, form):
    """Per-sample loop of the two contrastive forms (see ContrastiveLoss docstring)."""
    total = 0.0
    for a, b, same in zip(e1.tolist(), e2.tolist(), y.tolist()):
        d = sum((u - v) ** 2 for u, v in zip(a, b))
        if form == "squared":
            total += same * d + (1 - same) * max(margin - d, 0.0)
        else:
            total += same * d + (1 - same) * max(margin - math.sqrt(d), 0.0) ** 2
    return total / (2 * len(y))


def naive_dcontrastive(e1s, e2s, y, m1s, m2s, ws, layers, distance="squared", power=1):
    total = 0.0
    for i, same in enumerate(y.tolist()):
        for stage, m1, m2, w in zip(layers, m1s, m2s, ws):
            a, b = e1s[stage - 1][i].tolist(), e2s[stage - 1][i].tolist()
            d = sum((u - v) ** 2 for u, v in zip(a, b))
            if distance == "euclidean":
                d = math.sqrt(d)
            total += w * (same * max(d - m1, 0.0) ** power + (1 - same) * max(m2 - d, 0.0) ** power)
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


@pytest.mark.parametrize("form", ["squared", "hadsell"])
@pytest.mark.parametrize("margin", [0.5, 1.0, 2.5])
@pytest.mark.parametrize("seed", [0, 1])
def test_contrastive_equals_naive_loop(form, margin, seed):
    e1, e2, batch = random_pairs(seed=seed, normalise=seed == 0)
    got = ContrastiveLoss(margin=margin, form=form)(e1, e2, batch)["loss"]
    want = naive_contrastive(e1[-1], e2[-1], batch["y"], margin, form)
    assert got.item() == pytest.approx(want, rel=1e-5, abs=1e-7)


@pytest.mark.parametrize("hinge", ["linear", "squared"])
@pytest.mark.parametrize("distance", ["squared", "euclidean"])
@pytest.mark.parametrize("m1,m2,weights,layers", [
    (0.2, 1.0, 1.0, None),
    (0.1, 2.0, [0.5, 1.0, 2.0], None),
    ([0.1, 0.3, 0.5], [1.0, 1.2, 1.5], 1.0, None),
    (0.2, 1.0, [1.0, 3.0], [1, 3]),
    ([0.05], [0.6], 2.0, [2]),
])
def test_dcontrastive_equals_naive_loop(m1, m2, weights, layers, distance, hinge):
    e1, e2, batch = random_pairs(seed=3)
    loss = DoubleMarginContrastiveLoss(m1=m1, m2=m2, layers=layers, weights=weights, distance=distance, hinge=hinge)
    loss.bind(TowerShape(3, 4))
    out = loss(e1, e2, batch)
    sel = layers or [1, 2, 3]
    bc = lambda v: v if isinstance(v, list) else [v] * len(sel)  # noqa: E731
    want = naive_dcontrastive(e1, e2, batch["y"], bc(m1), bc(m2), bc(weights), sel, distance,
                              power=2 if hinge == "squared" else 1)
    assert out["loss"].item() == pytest.approx(want, rel=1e-5, abs=1e-7)
    # every selected stage has its own logged term, and the terms add up to the loss
    assert sorted(k for k in out if k != "loss") == sorted(f"layer{s}" for s in sel)
    assert sum(out[f"layer{s}"] for s in sel).item() == pytest.approx(out["loss"].item(), rel=1e-6)


def test_identical_same_pairs_and_far_different_pairs_cost_nothing():
    e = [torch.nn.functional.normalize(torch.randn(6, 5), dim=1) for _ in range(3)]
    same = {"y": torch.ones(6)}
    assert ContrastiveLoss(form="squared")(e, e, same)["loss"].item() == 0.0
    assert ContrastiveLoss(form="hadsell")(e, e, same)["loss"].item() == 0.0
    dcl = DoubleMarginContrastiveLoss(m1=0.1, m2=1.0)
    dcl.bind(TowerShape(3, 4))
    assert dcl(e, e, same)["loss"].item() == 0.0
    # opposite unit vectors: squared distance 4, Euclidean 2, beyond every margin below
    diff = {"y": torch.zeros(6)}
    neg = [-v for v in e]
    assert ContrastiveLoss(margin=3.9, form="squared")(e, neg, diff)["loss"].item() == 0.0
    assert ContrastiveLoss(margin=1.9, form="hadsell")(e, neg, diff)["loss"].item() == 0.0
    assert dcl(e, neg, diff)["loss"].item() == 0.0


def test_positive_pair_inside_m1_costs_nothing_but_outside_does():
    a = torch.tensor([[1.0, 0.0]])
    b = torch.tensor([[0.8, 0.6]])          # squared distance 0.04 + 0.36 = 0.4
    dcl = DoubleMarginContrastiveLoss(m1=0.5, m2=1.0, layers=[1])
    dcl.bind(TowerShape(1, 2))
    assert dcl([a], [b], {"y": torch.ones(1)})["loss"].item() == 0.0
    dcl = DoubleMarginContrastiveLoss(m1=0.3, m2=1.0, layers=[1])
    dcl.bind(TowerShape(1, 2))
    assert dcl([a], [b], {"y": torch.ones(1)})["loss"].item() == pytest.approx(0.1 / 2)
    # the squared hinge: still nothing inside m1, and (0.4 - 0.3)^2 outside it
    dcl = DoubleMarginContrastiveLoss(m1=0.5, m2=1.0, layers=[1], hinge="squared")
    dcl.bind(TowerShape(1, 2))
    assert dcl([a], [b], {"y": torch.ones(1)})["loss"].item() == 0.0
    dcl = DoubleMarginContrastiveLoss(m1=0.3, m2=1.0, layers=[1], hinge="squared")
    dcl.bind(TowerShape(1, 2))
    assert dcl([a], [b], {"y": torch.ones(1)})["loss"].item() == pytest.approx(0.01 / 2)


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
    ours = ContrastiveLoss(margin=1.3, form="squared")(e1, e2, batch)["loss"]
    assert ours.item() == pytest.approx(pml_sum.item() / (2 * n), rel=1e-5)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_losses_compute_in_float32_and_stay_finite(dtype):
    e = [torch.nn.functional.normalize(torch.randn(8, 4), dim=1).to(dtype).requires_grad_() for _ in range(3)]
    batch = {"y": torch.tensor([1.0, 0.0] * 4)}
    dcl = DoubleMarginContrastiveLoss()
    dcl.bind(TowerShape(3, 4))
    for loss in (ContrastiveLoss(form="squared"), ContrastiveLoss(form="hadsell"), dcl):
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
    ({"distance": "cosine"}, r"loss\.distance must be one of \[.squared., .euclidean.\], got .cosine."),
    ({"hinge": "cubic"}, r"loss\.hinge must be one of \[.linear., .squared.\], got .cubic."),
])
def test_dcontrastive_rejects_bad_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DoubleMarginContrastiveLoss(**kwargs)


def test_dcontrastive_rejects_unknown_stage_and_wrong_length_at_bind():
    with pytest.raises(ValueError, match=r"loss\.layers names stage\(s\) \[4\] but the tower has stages 1\.\.3"):
        DoubleMarginContrastiveLoss(layers=[1, 4]).bind(TowerShape(3, 4))
    with pytest.raises(ValueError, match=r"loss\.m2 has 2 values but 3 layers"):
        DoubleMarginContrastiveLoss(m2=[1.0, 1.5]).bind(TowerShape(3, 4))


# ------------------------------------------------------ pair sets, reductions and the miner

def pk_batch(p=3, k=4, dim=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(p).repeat_interleave(k)
    x = torch.nn.functional.normalize(torch.randn(p * k, dim, generator=g), dim=1)
    n = p * k // 2
    return x, labels, {"y": torch.ones(n), "c1": labels[:n], "c2": labels[n:],
                       "i1": torch.arange(n), "i2": torch.arange(n, 2 * n)}


def test_batch_all_is_every_unordered_pair_of_distinct_images():
    x, labels, batch = pk_batch()
    n = len(x) // 2
    pairs = batch_all_pairs(batch)
    want = [(p, q) for p in range(len(x)) for q in range(p + 1, len(x))]
    assert list(zip(pairs.i.tolist(), pairs.j.tolist())) == want
    assert pairs.y.tolist() == [float(labels[p] == labels[q]) for p, q in want]
    naive = torch.stack([(x[p] - x[q]).pow(2).sum() for p, q in want])
    torch.testing.assert_close(pairs.sqdist(x[:n], x[n:]), naive, atol=1e-6, rtol=1e-5)
    batch["i2"] = batch["i1"].clone()        # the same image on both sides of every pair...
    pairs = batch_all_pairs(batch)
    assert all(not (q == p + n) for p, q in zip(pairs.i.tolist(), pairs.j.tolist()))   # ...never with itself


def test_batch_all_contrastive_equals_a_naive_double_loop():
    x, labels, batch = pk_batch(seed=1)
    n = len(x) // 2
    got = ContrastiveLoss(margin=1.2, pairs="batch_all", reducer=MeanReducer())([x[:n]], [x[n:]], batch)["loss"]
    terms = []
    for p in range(len(x)):
        for q in range(p + 1, len(x)):
            d = float((x[p] - x[q]).pow(2).sum())
            terms.append(d if labels[p] == labels[q] else max(1.2 - d, 0.0))
    assert got.item() == pytest.approx(sum(terms) / len(terms), rel=1e-5)


def test_reducers_on_hand_cases():
    terms = torch.tensor([0.0, 2.0, 0.0, 3.0, 1.0])
    y = torch.tensor([1.0, 1.0, 0.0, 0.0, 0.0])
    assert SumOver2N()(terms, y).item() == pytest.approx(6.0 / 10)
    assert MeanReducer()(terms, y).item() == pytest.approx(6.0 / 5)
    assert AvgNonZeroReducer()(terms, y).item() == pytest.approx(2.0 / 1 + 4.0 / 2)
    zeros = torch.zeros(4)
    for reducer in (SumOver2N(), MeanReducer(), AvgNonZeroReducer()):
        value = reducer(zeros, torch.tensor([1.0, 0.0, 1.0, 0.0]))
        assert value.item() == 0.0 and torch.isfinite(value)
        assert reducer(terms[:0], y[:0]).item() == 0.0        # no kept pair: 0, not NaN


def test_a_miner_that_keeps_no_pair_gives_a_zero_loss():
    x, labels, batch = pk_batch(seed=5)
    n = len(x) // 2
    keep_none = lambda x, labels, i, j: torch.zeros(len(i), dtype=torch.bool)
    out = ContrastiveLoss(pairs="batch_all", miner=keep_none)([x[:n]], [x[n:]], batch)
    assert out["loss"].item() == 0.0 and out["mined_fraction"].item() == 0.0


def test_former_spellings_still_work_with_a_deprecation_message():
    x, labels, batch = pk_batch(seed=6)
    n = len(x) // 2
    with pytest.warns(FutureWarning, match=r"loss\.form=seed is deprecated: .* loss\.form=squared"):
        old = ContrastiveLoss(form="seed")
    with pytest.warns(FutureWarning, match=r"loss\.reduction=seed is deprecated: .* loss/reducer=sum_over_2n"):
        old_reduction = ContrastiveLoss(reduction="seed")
    new = ContrastiveLoss(form="squared", reducer=SumOver2N())
    for loss in (old, old_reduction):
        assert loss([x[:n]], [x[n:]], batch)["loss"].item() == new([x[:n]], [x[n:]], batch)["loss"].item()


def test_hard_miner_keeps_exactly_the_pairs_its_rule_names():
    x, labels, batch = pk_batch(p=4, k=4, seed=2)
    i, j = torch.triu_indices(len(x), len(x), offset=1)
    keep = HardPairMiner(margin=0.05)(x, labels, i, j)
    d = torch.cdist(x, x)

    def rule(a, p, q):
        negs = [d[a, o] for o in range(len(x)) if labels[o] != labels[a]]
        poss = [d[a, o] for o in range(len(x)) if labels[o] == labels[a] and o != a]
        if labels[p] == labels[q]:
            return d[p, q] > min(negs) - 0.05
        return d[p, q] < max(poss) + 0.05

    for p, q, kept in zip(i.tolist(), j.tolist(), keep.tolist()):
        assert kept == bool(rule(p, p, q) or rule(q, p, q)), (p, q)
    out = DoubleMarginContrastiveLoss(pairs="batch_all", miner=HardPairMiner(margin=0.05))
    out.bind(TowerShape(1, 5))
    n = len(x) // 2
    result = out([x[:n]], [x[n:]], batch)
    assert result["mined_fraction"].item() == pytest.approx(keep.float().mean().item())


def test_dcontrastive_reduces_each_layer_on_its_own():
    x, labels, batch = pk_batch(seed=3)
    n = len(x) // 2
    loss = DoubleMarginContrastiveLoss(m1=0.1, m2=1.0, weights=[1.0, 2.0], pairs="batch_all",
                                       reducer=AvgNonZeroReducer())
    loss.bind(TowerShape(2, 5))
    out = loss([x[:n], x[:n].flip(1)], [x[n:], x[n:].flip(1)], batch)
    assert out["loss"].item() == pytest.approx((out["layer1"] + out["layer2"]).item())
    assert out["layer2"].item() == pytest.approx(2 * out["layer1"].item(), rel=1e-5)  # same distances, w=2


def test_auto_pairs_score_every_pair_of_a_batch_with_class_ids_and_the_given_pairs_of_a_pair_list():
    x, labels, batch = pk_batch(seed=5)
    n = len(x) // 2
    settings = dict(m1=0.1, m2=1.0, reducer=AvgNonZeroReducer())
    losses = {pairs: DoubleMarginContrastiveLoss(pairs=pairs, **settings) for pairs in ("auto", "batch_all", "sampled")}
    for loss in losses.values():
        loss.bind(TowerShape(1, 5))
    assert losses["auto"].batch_kind == "pk" and not losses["auto"].needs_class_ids
    assert losses["auto"]([x[:n]], [x[n:]], batch)["loss"] == losses["batch_all"]([x[:n]], [x[n:]], batch)["loss"]
    pair_list = {"y": batch["y"]}                               # CSV / pairs.txt batches: no class ids
    assert losses["auto"]([x[:n]], [x[n:]], pair_list)["loss"] == losses["sampled"]([x[:n]], [x[n:]], pair_list)["loss"]
    assert losses["auto"]([x[:n]], [x[n:]], pair_list)["loss"] != losses["auto"]([x[:n]], [x[n:]], batch)["loss"]


def test_nonzero_reducer_and_miner_let_nan_reach_the_guard():
    terms = torch.tensor([float("nan"), 1.0, 0.0])
    assert torch.isnan(AvgNonZeroReducer()(terms, torch.tensor([1.0, 0.0, 0.0])))
    x, labels, batch = pk_batch(seed=4)
    x[0] = float("nan")
    i, j = torch.triu_indices(len(x), len(x), offset=1)
    keep = HardPairMiner(margin=0.1)(x, labels, i, j)
    assert keep[(i == 0) | (j == 0)].all()


@pytest.mark.parametrize("kwargs,match", [
    ({"pairs": "all"}, r"loss\.pairs must be one of \['sampled', 'batch_all', 'auto'\], got 'all'"),
    ({"form": "cubed"}, r"loss\.form must be one of \['squared', 'hadsell'\], got 'cubed'"),
    ({"miner": HardPairMiner()}, r"loss\.miner=HardPairMiner\(margin=0\.1\) mines the pairs of a whole batch: "
                                 r"it needs loss\.pairs=batch_all"),
])
def test_pair_set_options_are_checked(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ContrastiveLoss(**kwargs)


def test_batch_all_refuses_data_without_class_ids():
    e = [torch.randn(3, 2)]
    with pytest.raises(ValueError, match=r"loss\.pairs=batch_all needs class ids"):
        ContrastiveLoss(pairs="batch_all")(e, e, {"y": torch.ones(3)})
