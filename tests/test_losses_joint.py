"""The joint loss (DeepID2): a verification loss plus λ × an identification loss, against per-sample loops."""
import math

import pytest
import torch
import torch.nn.functional as F
from test_losses import naive_dcontrastive

from helpers import compose_config, make_csv_pairs
from siamese.losses import ContrastiveLoss, CosFaceLoss, DoubleMarginContrastiveLoss, JointLoss, SoftmaxLoss
from siamese.losses.reducers import SumOver2N
from siamese.nets import TowerShape
from siamese.pipeline import build


def stage_batch(classes=4, per_class=4, dims=(6, 5), seed=0):
    """Two stages of unit embeddings for ``N`` pairs, with ``y`` and the class ids of both sides."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(classes).repeat_interleave(per_class)[torch.randperm(classes * per_class, generator=g)]
    n = len(labels) // 2
    stages = [F.normalize(torch.randn(len(labels), d, generator=g), dim=1) for d in dims]
    return ([s[:n] for s in stages], [s[n:] for s in stages],
            {"y": (labels[:n] == labels[n:]).float(), "c1": labels[:n], "c2": labels[n:]})


def naive_softmax(x, labels, weight, bias):
    """Mean over rows of −log(exp(z_c) / Σ_j exp(z_j)), z = W x + b, one row at a time."""
    total = 0.0
    for row, c in zip(x.tolist(), labels.tolist()):
        z = [sum(w * v for w, v in zip(w_row, row)) + b for w_row, b in zip(weight.tolist(), bias.tolist())]
        total += -(z[c] - math.log(sum(math.exp(v) for v in z)))
    return total / len(labels)


@pytest.mark.parametrize("weight", [0.1, 1.0])
def test_joint_loss_is_the_verification_loss_plus_lambda_times_the_identification_loss(weight):
    e1, e2, batch = stage_batch()
    loss = JointLoss(DoubleMarginContrastiveLoss(m1=0.2, m2=1.0, pairs="sampled", reducer=SumOver2N()),
                     SoftmaxLoss(), weight)
    loss.bind(TowerShape(2, 5), num_classes=4)            # the model embedding: the last stage (5)
    with torch.no_grad():
        loss.identification.bias.uniform_(-1, 1)
    out = loss(e1, e2, batch)
    verification = naive_dcontrastive(e1, e2, batch["y"], [0.2, 0.2], [1.0, 1.0], [1.0, 1.0], [1, 2])
    identification = naive_softmax(torch.cat([e1[-1], e2[-1]]), torch.cat([batch["c1"], batch["c2"]]),
                                   loss.identification.weight.detach(), loss.identification.bias.detach())
    assert out["verification"].item() == pytest.approx(verification, rel=1e-5)
    assert out["identification"].item() == pytest.approx(identification, rel=1e-5)
    assert out["loss"].item() == pytest.approx(verification + weight * identification, rel=1e-5)
    assert {"layer1", "layer2", "identification_accuracy"} <= set(out)


def test_the_identification_term_trains_with_its_class_weights():
    """The class weights are the joint loss's only parameters, and gradient steps on the identification
    term (embeddings and weights) halve it."""
    e1, e2, batch = stage_batch(seed=1)
    x = torch.nn.Parameter(torch.cat([e1[-1], e2[-1]]).clone())
    loss = JointLoss(ContrastiveLoss(margin=1.0), CosFaceLoss(scale=10.0, margin=0.2), 1.0)
    loss.bind(TowerShape(1, 5), num_classes=4)
    assert {name for name, _ in loss.named_parameters()} == {"identification.weight"}
    optimiser = torch.optim.SGD([x, *loss.parameters()], lr=0.5)
    n = len(x) // 2
    before = loss([x[:n]], [x[n:]], batch)["identification"].item()
    for _ in range(20):
        optimiser.zero_grad()
        loss([x[:n]], [x[n:]], batch)["identification"].backward()
        optimiser.step()
    assert loss([x[:n]], [x[n:]], batch)["identification"].item() < 0.5 * before


def test_joint_loss_asks_for_the_verification_loss_batches():
    joint = JointLoss(DoubleMarginContrastiveLoss(pairs="auto"), SoftmaxLoss(), 0.1)
    assert joint.batch_kind == "pk" and joint.needs_class_ids
    assert JointLoss(ContrastiveLoss(), SoftmaxLoss(), 0.1).batch_kind == "pairs"


@pytest.mark.parametrize("identification, weight, match", [
    (ContrastiveLoss(), 0.1, r"identification\.loss must be a loss on class ids .*ContrastiveLoss"),
    (SoftmaxLoss(), 0.0, r"identification\.weight must be > 0, got 0\.0"),
])
def test_joint_loss_refuses_bad_settings(identification, weight, match):
    with pytest.raises(ValueError, match=match):
        JointLoss(ContrastiveLoss(), identification, weight)


def test_identification_on_pairs_without_class_ids_is_a_config_error(tmp_path):
    cfg = compose_config("train", ["data=csv_pairs", f"data.pairs_file={make_csv_pairs(tmp_path / 'sig')}",
                                   f"data.root={tmp_path / 'sig'}", "identification=softmax", f"run_dir={tmp_path}"])
    with pytest.raises(ValueError, match=r"identification=.* needs|class ids.*identification=none"):
        build(cfg)


def test_a_joint_run_trains_and_its_checkpoint_loads_into_a_rebuilt_module(tmp_path):
    """The class weights are in the module's state: a run rebuilt from its config (as evaluate does) loads them."""
    overrides = ["loss=dcontrastive", "identification=cosface", "data.split=classes", "data.p=4", "data.k=4",
                 f"run_dir={tmp_path}"]
    module, datamodule = build(compose_config("train", overrides))
    step = module.training_step(next(iter(datamodule.train_dataloader())), 0)
    assert torch.isfinite(step) and step.requires_grad
    rebuilt, _ = build(compose_config("train", overrides))
    rebuilt.load_state_dict(module.state_dict())        # strict: the same keys, the classifier's included
    assert torch.equal(rebuilt.loss.identification.weight, module.loss.identification.weight)
