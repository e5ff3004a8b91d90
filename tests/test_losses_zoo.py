"""Hinge, multi-class hinge, softmax, L-/A-Softmax, triplet, TriHard, quadruplet, MSML:
each against a slow per-sample loop, and against torch.nn / pytorch-metric-learning where they exist."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from pytorch_metric_learning import losses as pml_losses
from pytorch_metric_learning.distances import LpDistance
from pytorch_metric_learning.miners import BatchHardMiner
from pytorch_metric_learning.reducers import MeanReducer

from siamese.data import sample_pk_pairs
from siamese.losses import (
    ASoftmaxLoss,
    HingeLoss,
    LSoftmaxLoss,
    MSMLLoss,
    MultiClassHingeLoss,
    QuadrupletLoss,
    SoftmaxLoss,
    TriHardLoss,
    TripletLoss,
)
from siamese.losses.base import pairwise_dist
from siamese.losses.classification import psi
from siamese.nets import TowerShape


def batch_of(classes=4, per_class=3, dim=5, seed=0, normalise=True):
    """``x (2N, D)`` split into the pair halves ``e1``, ``e2`` and the batch dict with class ids."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(classes).repeat_interleave(per_class)[torch.randperm(classes * per_class, generator=g)]
    x = torch.randn(len(labels), dim, generator=g)
    if normalise:
        x = F.normalize(x, dim=1)
    n = len(labels) // 2
    return x, labels, {"y": (labels[:n] == labels[n:]).float(), "c1": labels[:n], "c2": labels[n:]}


def run(loss, x, batch, num_classes=None):
    loss.bind(TowerShape(1, x.shape[1]), num_classes)
    n = len(x) // 2
    return loss([x[:n]], [x[n:]], batch)


def d(a, b):
    return math.sqrt(sum((u - v) ** 2 for u, v in zip(a, b)))


# ---------------------------------------------------------------- pair hinge

def test_binary_hinge_equals_naive_loop():
    x, labels, batch = batch_of(seed=1)
    loss = HingeLoss(scale_init=-3.0, bias_init=1.5)
    got = run(loss, x, batch)["loss"].item()
    n = len(x) // 2
    want = 0.0
    for i in range(n):
        t = 1 if batch["y"][i] == 1 else -1
        want += max(0.0, 1 - t * (-3.0 * d(x[i].tolist(), x[n + i].tolist()) + 1.5))
    assert got == pytest.approx(want / n, rel=1e-5)


def test_binary_hinge_parameters_learn():
    x, labels, batch = batch_of(seed=1)
    loss = HingeLoss()
    run(loss, x, batch)["loss"].backward()
    assert loss.scale.grad is not None and loss.bias.grad is not None


# ---------------------------------------------------------------- classifiers

def naive_multihinge(s, labels, p, form, margin=1.0):
    total = 0.0
    for row, c in zip(s.tolist(), labels.tolist()):
        if form == "one_vs_rest":
            total += sum(max(0.0, 1 - (1 if j == c else -1) * v) ** p for j, v in enumerate(row))
        else:
            viol = [max(0.0, margin - row[c] + v) ** p for j, v in enumerate(row) if j != c]
            total += sum(viol) / len(row) if form == "weston_watkins" else max(viol)
    return total / len(labels)


@pytest.mark.parametrize("p", [1, 2])
@pytest.mark.parametrize("form", ["one_vs_rest", "weston_watkins", "crammer_singer"])
def test_multiclass_hinge_equals_naive_loop(p, form):
    x, labels, batch = batch_of(classes=5, per_class=4, seed=2, normalise=False)
    loss = MultiClassHingeLoss(p=p, form=form, margin=0.7)
    got = run(loss, x, batch, num_classes=6)["loss"].item()
    s = x @ loss.weight.detach().T
    assert got == pytest.approx(naive_multihinge(s, labels, p, form, 0.7), rel=1e-5)


@pytest.mark.parametrize("p", [1, 2])
def test_weston_watkins_equals_torch_multi_margin_loss(p):
    x, labels, batch = batch_of(classes=5, per_class=4, seed=3, normalise=False)
    loss = MultiClassHingeLoss(p=p, form="weston_watkins", margin=1.0)
    got = run(loss, x, batch, num_classes=5)["loss"]
    want = torch.nn.MultiMarginLoss(p=p, margin=1.0)(x @ loss.weight.T, labels)
    assert got.item() == pytest.approx(want.item(), rel=1e-5)


def test_softmax_equals_torch_cross_entropy():
    x, labels, batch = batch_of(seed=4)
    loss = SoftmaxLoss(bias=True)
    got = run(loss, x, batch, num_classes=4)["loss"]
    linear = torch.nn.Linear(x.shape[1], 4)
    linear.weight.data, linear.bias.data = loss.weight.data.clone(), loss.bias.data.clone()
    assert got.item() == pytest.approx(torch.nn.CrossEntropyLoss()(linear(x), labels).item(), rel=1e-6)


def naive_angular(x, labels, w, m, lam, normalize_weights):
    """Per-sample loop with acos (allowed here, not in the implementation)."""
    total = 0.0
    for xi, c in zip(x.tolist(), labels.tolist()):
        xn = math.sqrt(sum(v * v for v in xi))
        logits = []
        for j, wj in enumerate(w.tolist()):
            wn = math.sqrt(sum(v * v for v in wj))
            if normalize_weights:
                wj, wn = [v / wn for v in wj], 1.0
            dot = sum(a * b for a, b in zip(wj, xi))
            if j != c:
                logits.append(dot)
                continue
            cos = max(-1.0, min(1.0, dot / (wn * xn)))
            theta = math.acos(cos)
            k = min(int(theta * m / math.pi), m - 1)
            psi_v = (-1) ** k * math.cos(m * theta) - 2 * k
            logits.append(wn * xn * (lam * cos + psi_v) / (1 + lam))
        mx = max(logits)
        total += -(logits[c] - mx - math.log(sum(math.exp(v - mx) for v in logits)))
    return total / len(labels)


@pytest.mark.parametrize("m", [1, 2, 3, 4])
@pytest.mark.parametrize("cls,normalize", [(LSoftmaxLoss, False), (ASoftmaxLoss, True)])
@pytest.mark.parametrize("iteration", [0, 50, 100000])
def test_angular_softmax_equals_naive_loop(m, cls, normalize, iteration):
    x, labels, batch = batch_of(classes=4, per_class=4, seed=5, normalise=False)
    loss = cls(m=m, base=10.0, gamma=0.5, power=1.0, lambda_min=0.1)
    loss.bind(TowerShape(1, x.shape[1]), 4)
    loss.iteration.fill_(iteration)
    loss.eval()  # no iteration counting inside this call
    got = loss([x[: len(x) // 2]], [x[len(x) // 2:]], batch)
    lam = max(0.1, 10.0 * (1 + 0.5 * iteration) ** -1)
    assert got["lambda"].item() == pytest.approx(lam)
    want = naive_angular(x, labels, loss.weight.detach(), m, lam, normalize)
    assert got["loss"].item() == pytest.approx(want, rel=1e-4)


def test_lsoftmax_with_m_1_is_softmax():
    x, labels, batch = batch_of(seed=6, normalise=False)
    ls, sm = LSoftmaxLoss(m=1), SoftmaxLoss(bias=False)
    ls.bind(TowerShape(1, x.shape[1]), 4)
    sm.bind(TowerShape(1, x.shape[1]), 4)
    sm.weight.data = ls.weight.data.clone()
    n = len(x) // 2
    expected = sm([x[:n]], [x[n:]], batch)["loss"].item()
    assert ls([x[:n]], [x[n:]], batch)["loss"].item() == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("m", [2, 4])
def test_lsoftmax_and_sphereface_agree_with_pytorch_metric_learning(m):
    """PML implements them without the λ annealing: compare at λ = 0 (base 0, λ_min 0)."""
    x, labels, batch = batch_of(classes=4, per_class=4, seed=7, normalise=False)
    n = len(x) // 2
    for ours, theirs in ((LSoftmaxLoss(m=m, base=0.0, lambda_min=0.0), pml_losses.LargeMarginSoftmaxLoss),
                         (ASoftmaxLoss(m=m, base=0.0, lambda_min=0.0), pml_losses.SphereFaceLoss)):
        ours.bind(TowerShape(1, x.shape[1]), 4)
        pml = theirs(num_classes=4, embedding_size=x.shape[1], margin=m, reducer=MeanReducer())
        pml.W.data = ours.weight.data.T.clone()
        assert ours([x[:n]], [x[n:]], batch)["loss"].item() == pytest.approx(pml(x, labels).item(), rel=1e-4)


def test_psi_is_monotone_and_continuous_without_acos():
    theta = torch.linspace(0, math.pi, 2001, dtype=torch.float64)
    for m in (2, 3, 4):
        values = psi(torch.cos(theta), m)
        assert (values[1:] <= values[:-1] + 1e-9).all()
        assert values[0].item() == pytest.approx(1.0) and values[-1].item() == pytest.approx(-(2 * m - 1))


def test_sphereface_lambda_schedule():
    loss = ASoftmaxLoss()
    assert loss.annealing_lambda(0) == 1000.0
    assert loss.annealing_lambda(10) == pytest.approx(1000 / 2.2)
    assert loss.annealing_lambda(10_000) == 5.0


def test_angular_losses_count_iterations_only_in_training():
    x, labels, batch = batch_of(seed=8)
    loss = LSoftmaxLoss()
    run(loss, x, batch, num_classes=4)
    run(loss, x, batch, num_classes=4)
    assert int(loss.iteration) == 2
    loss.eval()
    run(loss, x, batch, num_classes=4)
    assert int(loss.iteration) == 2


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
def test_angular_losses_finite_at_theta_0_and_pi_and_in_half_precision(dtype):
    for cls in (LSoftmaxLoss, ASoftmaxLoss):
        loss = cls(m=4)
        loss.bind(TowerShape(1, 3), 3)
        w = loss.weight.detach()
        # rows: θ = 0 (along the class weight), θ = π (against it), and a duplicate
        x = torch.stack([w[0], -w[1], w[0]]).to(dtype).requires_grad_()
        batch = {"y": torch.tensor([0.0]), "c1": torch.tensor([0]), "c2": torch.tensor([1])}
        labels_batch = {"y": torch.tensor([1.0]), "c1": torch.tensor([0]), "c2": torch.tensor([0])}
        for b, rows in ((batch, (0, 1)), (labels_batch, (0, 2))):
            out = loss([x[rows[0]:rows[0] + 1]], [x[rows[1]:rows[1] + 1]], b)
            assert out["loss"].dtype == torch.float32 and torch.isfinite(out["loss"])
            out["loss"].backward()
        assert torch.isfinite(x.grad).all() and torch.isfinite(loss.weight.grad).all()


# ---------------------------------------------------------------- tuplet losses

def naive_triplet_terms(x, labels, margin):
    x, labels = x.tolist(), labels.tolist()
    terms = []
    for a in range(len(x)):
        for p in range(len(x)):
            for n in range(len(x)):
                if p != a and labels[p] == labels[a] and labels[n] != labels[a]:
                    terms.append(max(0.0, d(x[a], x[p]) - d(x[a], x[n]) + margin))
    return terms


def naive_hardest(x, labels):
    """Per anchor with a positive and a negative: (farthest positive, nearest negative)."""
    x, labels = x.tolist(), labels.tolist()
    out = []
    for a in range(len(x)):
        dp = [d(x[a], x[p]) for p in range(len(x)) if p != a and labels[p] == labels[a]]
        dn = [d(x[a], x[n]) for n in range(len(x)) if labels[n] != labels[a]]
        if dp and dn:
            out.append((a, max(dp), min(dn)))
    return out


@pytest.mark.parametrize("seed", [0, 1])
def test_triplet_equals_naive_loop_and_pml(seed):
    x, labels, batch = batch_of(seed=seed)
    got = run(TripletLoss(margin=0.3), x, batch)["loss"].item()
    terms = naive_triplet_terms(x, labels, 0.3)
    assert got == pytest.approx(sum(terms) / len(terms), rel=1e-5)
    pml = pml_losses.TripletMarginLoss(margin=0.3, distance=LpDistance(normalize_embeddings=False),
                                       reducer=MeanReducer())
    assert got == pytest.approx(pml(x, labels).item(), rel=1e-4)


def test_triplet_subset_has_the_requested_size():
    x, labels, batch = batch_of(seed=2)
    torch.manual_seed(0)
    terms = naive_triplet_terms(x, labels, 0.3)
    assert len(terms) > 10
    fractions = set()
    for _ in range(20):
        out = run(TripletLoss(margin=0.3, max_triplets=10), x, batch)
        assert 0 <= out["loss"].item() <= max(terms) + 1e-6
        fractions.add(round(out["active"].item() * 10, 4))   # a count out of 10 terms
    assert all(f == int(f) for f in fractions) and len(fractions) > 1  # 10 terms, drawn afresh


@pytest.mark.parametrize("margin", [0.2, None])
def test_trihard_equals_naive_loop_and_pml_batch_hard(margin):
    x, labels, batch = batch_of(classes=4, per_class=4, seed=3)
    got = run(TriHardLoss(margin=margin), x, batch)["loss"].item()
    h = naive_hardest(x, labels)
    f = (lambda v: max(0.0, v + margin)) if margin is not None else (lambda v: math.log1p(math.exp(v)))
    assert got == pytest.approx(sum(f(dp - dn) for _, dp, dn in h) / len(h), rel=1e-5)
    dist = LpDistance(normalize_embeddings=False)
    pml = pml_losses.TripletMarginLoss(margin=margin or 0.0, smooth_loss=margin is None, distance=dist,
                                       reducer=MeanReducer())
    assert got == pytest.approx(pml(x, labels, BatchHardMiner(distance=dist)(x, labels)).item(), rel=1e-4)


def test_quadruplet_equals_naive_loop():
    x, labels, batch = batch_of(classes=4, per_class=3, seed=4)
    got = run(QuadrupletLoss(alpha1=0.4, alpha2=0.1), x, batch)
    xs, ls = x.tolist(), labels.tolist()
    total = 0.0
    h = naive_hardest(x, labels)
    for a, dp, dn in h:
        pair = [d(xs[i], xs[j]) for i in range(len(xs)) for j in range(len(xs))
                if ls[i] != ls[j] and ls[a] not in (ls[i], ls[j])]
        total += max(0.0, dp - dn + 0.4) + (max(0.0, dp - min(pair) + 0.1) if pair else 0.0)
    assert got["loss"].item() == pytest.approx(total / len(h), rel=1e-5)
    assert (got["triplet_term"] + got["pair_term"]).item() == pytest.approx(got["loss"].item(), rel=1e-6)


def test_msml_equals_naive_loop():
    x, labels, batch = batch_of(seed=5)
    got = run(MSMLLoss(margin=0.25), x, batch)["loss"].item()
    xs, ls = x.tolist(), labels.tolist()
    idx = range(len(xs))
    hardest_pos = max(d(xs[a], xs[p]) for a in idx for p in idx if a != p and ls[a] == ls[p])
    hardest_neg = min(d(xs[a], xs[n]) for a in idx for n in idx if ls[a] != ls[n])
    assert got == pytest.approx(max(0.0, hardest_pos - hardest_neg + 0.25), rel=1e-5)


def test_tuplet_losses_are_zero_on_well_separated_classes():
    labels = torch.arange(4).repeat_interleave(4)
    centres = torch.eye(4) * 10
    x = centres[labels] + 0.001 * torch.randn(16, 4)
    n = 8
    batch = {"y": (labels[:n] == labels[n:]).float(), "c1": labels[:n], "c2": labels[n:]}
    for loss in (TripletLoss(0.5), TriHardLoss(0.5), QuadrupletLoss(0.5, 0.2), MSMLLoss(0.5)):
        assert run(loss, x, batch)["loss"].item() == 0.0


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_tuplet_losses_finite_on_identical_embeddings_in_half_precision(dtype):
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    x = torch.ones(6, 4, dtype=dtype, requires_grad=True)
    batch = {"y": torch.ones(3), "c1": labels[:3], "c2": labels[3:]}
    for loss in (TripletLoss(), TriHardLoss(), TriHardLoss(margin=None), QuadrupletLoss(), MSMLLoss()):
        out = run(loss, x, batch)
        assert out["loss"].dtype == torch.float32
        out["loss"].backward()
    assert torch.isfinite(x.grad).all()


@pytest.mark.parametrize("case", ["distinct classes", "one class", "one pair"])
def test_mining_losses_give_zero_with_a_gradient_when_no_tuple_exists(case):
    """A batch with no valid tuple (every image its own class; a single class; a single pair) is 0 with
    a gradient of zeros, never NaN or an exception: small validation batches hit it."""
    batches = {"distinct classes": (torch.tensor([0, 1, 2]), torch.tensor([3, 4, 5])),
               "one class": (torch.tensor([1, 1, 1]), torch.tensor([1, 1, 1])),
               "one pair": (torch.tensor([0]), torch.tensor([1]))}
    c1, c2 = batches[case]
    x = F.normalize(torch.randn(2 * len(c1), 3), dim=1).requires_grad_()
    for loss in (TripletLoss(), TriHardLoss(), TriHardLoss(margin=None), QuadrupletLoss(), MSMLLoss()):
        out = run(loss, x, {"y": (c1 == c2).float(), "c1": c1, "c2": c2})
        assert out["loss"].item() == 0.0 and out["tuples"].item() == 0.0, type(loss).__name__
        out["loss"].backward()
        assert torch.isfinite(x.grad).all() and (x.grad == 0).all()
        x.grad = None


def test_mining_losses_need_class_ids():
    x = F.normalize(torch.randn(6, 3), dim=1)
    with pytest.raises(ValueError, match=r"needs class ids \(c1, c2\) but the data has none"):
        run(TriHardLoss(), x, {"y": torch.zeros(3)})
    with pytest.raises(ValueError, match=r"needs class ids"):
        run(SoftmaxLoss(), x, {"y": torch.zeros(3)}, num_classes=3)


@pytest.mark.parametrize("make,match", [
    (lambda: QuadrupletLoss(alpha1=0.1, alpha2=0.2), r"loss\.alpha1 must be > loss\.alpha2"),
    (lambda: TripletLoss(margin=0), r"loss\.margin must be > 0"),
    (lambda: TripletLoss(max_triplets=0), r"loss\.max_triplets must be >= 1"),
    (lambda: LSoftmaxLoss(m=0), r"loss\.m must be an integer >= 1, got 0"),
    (lambda: ASoftmaxLoss(m=2.5), r"loss\.m must be an integer >= 1, got 2\.5"),
    (lambda: LSoftmaxLoss(gamma=-1), r"loss\.gamma must be >= 0"),
    (lambda: MultiClassHingeLoss(p=3), r"loss\.p must be 1 or 2, got 3"),
    (lambda: MultiClassHingeLoss(form="ovo"), r"loss\.form must be one of"),
])
def test_bad_hyper_parameters_are_named(make, match):
    with pytest.raises(ValueError, match=match):
        make()


# ---------------------------------------------------------------- P×K sampler

def test_pk_batches_hold_p_classes_of_k_distinct_images():
    labels = np.repeat(np.arange(8), 6)
    pairs = sample_pk_pairs(labels, p=3, k=4, n_batches=5, rng=np.random.default_rng(0))
    assert pairs.shape == (5 * 6, 3) and (pairs[:, 2] == 1).all()
    for batch in pairs.reshape(5, 6, 3):
        images = batch[:, :2].reshape(-1)
        assert len(set(images.tolist())) == 12                     # no repeats inside a batch
        classes, counts = np.unique(labels[images], return_counts=True)
        assert len(classes) == 3 and (counts == 4).all()
        assert (labels[batch[:, 0]] == labels[batch[:, 1]]).all()


def test_pk_sampler_refuses_too_few_classes():
    with pytest.raises(ValueError, match=r"needs p=4 classes with at least k=4 images, the training split has 2"):
        sample_pk_pairs(np.array([0] * 4 + [1] * 5 + [2] * 3), p=4, k=4, n_batches=1, rng=np.random.default_rng(0))


@pytest.mark.parametrize("seed", range(8))
def test_pairwise_distances_are_as_accurate_as_their_docstring_says(seed):
    """Gram-form distances in float32: within 1.5e-3 of float64 for unit vectors, duplicates and
    near-duplicates included, never exactly 0 (the floor under the square root) and with finite
    gradients. Every draw is seeded: the result must not depend on what ran before."""
    gen = torch.Generator().manual_seed(seed)
    base = F.normalize(torch.randn(64, 192, generator=gen), dim=1)
    x = torch.cat([base, base, F.normalize(base + 1e-4 * torch.randn(64, 192, generator=gen), dim=1)])
    x.requires_grad_()
    d = pairwise_dist(x)
    exact = torch.cdist(x.detach().double(), x.detach().double())
    assert (d.detach().double() - exact).abs().max() <= 1.5e-3
    assert (d > 0).all()
    d.sum().backward()
    assert torch.isfinite(x.grad).all()


def naive_margin_loss(x, weight, labels, scale, target):
    """Per-sample loop: unit vectors, cosine to every class, the target's cosine modified, softmax cross-entropy."""
    total = 0.0
    for xi, c in zip(x, labels.tolist()):
        xi = xi / xi.norm()
        cos = [float(xi @ (w / w.norm())) for w in weight]
        logits = [scale * (target(v) if j == c else v) for j, v in enumerate(cos)]
        top = max(logits)
        total += -(logits[c] - top - math.log(sum(math.exp(v - top) for v in logits)))
    return total / len(labels)


@pytest.mark.parametrize("name", ["cosface", "arcface", "arcface_easy"])
def test_additive_margin_losses_equal_a_reference_loop_and_pml(name):
    from siamese.losses import ArcFaceLoss, CosFaceLoss

    g = torch.Generator().manual_seed(3)
    x, labels = torch.randn(12, 6, generator=g), torch.arange(4).repeat(3)
    m = 0.4
    ours, target, peer = {
        "cosface": (CosFaceLoss(scale=16.0, margin=0.35), lambda c: c - 0.35,
                    pml_losses.CosFaceLoss(num_classes=4, embedding_size=6, margin=0.35, scale=16.0)),
        "arcface": (ArcFaceLoss(scale=16.0, margin=m), lambda c: math.cos(math.acos(c) + m)
                    if math.acos(c) <= math.pi - m else c - m * math.sin(m),
                    pml_losses.ArcFaceLoss(num_classes=4, embedding_size=6, margin=math.degrees(m), scale=16.0)),
        "arcface_easy": (ArcFaceLoss(scale=16.0, margin=m, easy_margin=True),
                         lambda c: math.cos(math.acos(c) + m) if c > 0 else c, None),
    }[name]
    ours.bind(TowerShape(1, 6), 4)
    n = len(x) // 2
    got = ours([x[:n]], [x[n:]], {"y": torch.ones(n), "c1": labels[:n], "c2": labels[n:]})["loss"]
    assert got.item() == pytest.approx(naive_margin_loss(x, ours.weight.detach(), labels, 16.0, target), rel=1e-5)
    if peer is not None:
        peer.W.data = ours.weight.detach().T.clone()
        assert got.item() == pytest.approx(peer(x, labels).item(), rel=1e-5)


def test_additive_margin_settings_are_checked():
    from siamese.losses import ArcFaceLoss, CosFaceLoss

    with pytest.raises(ValueError, match=r"loss\.scale must be > 0, got 0\.0"):
        CosFaceLoss(scale=0)
    with pytest.raises(ValueError, match=r"loss\.margin must be an angle below pi/2"):
        ArcFaceLoss(margin=2.0)


def test_a_softmax_with_a_scale_can_approach_zero_and_schedules_are_named():
    x = torch.eye(4).repeat(2, 1)                                       # unit embeddings, each on its class axis
    labels = torch.arange(4).repeat(2)
    batch = {"y": torch.ones(4), "c1": labels[:4], "c2": labels[4:]}
    bounded, scaled = ASoftmaxLoss(m=1), ASoftmaxLoss(m=1, scale=30.0)
    for loss in (bounded, scaled):
        loss.bind(TowerShape(1, 4), 4)
        loss.weight.data = torch.eye(4)
    assert bounded([x[:4]], [x[4:]], batch)["loss"].item() > 0.7         # unit features: logits within [-1, 1]
    assert scaled([x[:4]], [x[4:]], batch)["loss"].item() < 1e-6
    paper = LSoftmaxLoss(schedule="lsoftmax")
    assert (paper.base, paper.gamma, paper.power) == (1000.0, 2.5e-5, 35.0)
    with pytest.raises(ValueError, match=r"loss\.schedule must be one of \['sphereface', 'lsoftmax'\]"):
        LSoftmaxLoss(schedule="fast")
