"""The twin: per-stage normalised embeddings, shared weights, gradients, and that training helps."""
import pytest
import pytorch_lightning as pl
import torch

from helpers import compose_config
from siamese.data import DigitsImages, PairDataModule
from siamese.evaluation import pair_distances
from siamese.losses import ContrastiveLoss, DoubleMarginContrastiveLoss
from siamese.metrics import roc_auc
from siamese.module import SiameseModule
from siamese.nets import ConvTower, grid_pool
from siamese.pipeline import build


def make_module(loss=None, channels=(8, 16, 32)):
    net = ConvTower(in_channels=1, channels=channels, embedding_dim=[6, 8, 10])
    return SiameseModule(net, loss or DoubleMarginContrastiveLoss(),
                         optimizer=lambda params: torch.optim.Adam(params, lr=3e-3))


def test_tower_returns_one_unit_norm_embedding_per_stage():
    stages = make_module().net(torch.randn(5, 1, 16, 16))
    assert [tuple(e.shape) for e in stages] == [(5, 6), (5, 8), (5, 10)]
    for e in stages:
        assert torch.allclose(e.norm(dim=1), torch.ones(5), atol=1e-5)


def test_tower_rejects_wrong_channels_with_a_clear_message():
    with pytest.raises(ValueError, match=r"ConvTower expects images \(B, 1, H, W\), got shape \(2, 3, 8, 8\)"):
        make_module().net(torch.randn(2, 3, 8, 8))


@pytest.mark.parametrize("train_mode", [True, False])
def test_swapping_x1_and_x2_changes_nothing(train_mode):
    torch.manual_seed(0)
    module = make_module()
    module.train(train_mode)
    x1, x2 = torch.randn(4, 1, 16, 16), torch.randn(4, 1, 16, 16)
    batch = {"y": torch.tensor([1.0, 0.0, 1.0, 0.0])}
    a1, a2 = module(x1, x2)
    b1, b2 = module(x2, x1)
    for u, v in zip(a1, b2):
        assert torch.allclose(u, v, atol=1e-6)
    assert torch.allclose(module.loss(a1, a2, batch)["loss"], module.loss(b1, b2, batch)["loss"], atol=1e-6)


def test_dcontrastive_gradients_reach_every_stage():
    torch.manual_seed(0)
    module = make_module(DoubleMarginContrastiveLoss(m1=0.1, m2=1.5))
    e1, e2 = module(torch.randn(6, 1, 16, 16), torch.randn(6, 1, 16, 16))
    module.loss(e1, e2, {"y": torch.tensor([1.0, 0.0] * 3)})["loss"].backward()
    for name, stage in [("stage", s) for s in module.net.stages] + [("head", h) for h in module.net.heads]:
        grads = [p.grad for p in stage.parameters()]
        assert all(g is not None and g.abs().sum() > 0 for g in grads), name


def test_contrastive_only_trains_through_the_last_head():
    """Contrastive uses the last stage alone: earlier heads get no gradient (dcontrastive's reason to exist)."""
    module = make_module(ContrastiveLoss())
    e1, e2 = module(torch.randn(4, 1, 16, 16), torch.randn(4, 1, 16, 16))
    module.loss(e1, e2, {"y": torch.tensor([1.0, 0.0, 1.0, 0.0])})["loss"].backward()
    assert module.net.heads[0].weight.grad is None
    assert module.net.heads[-1].weight.grad.abs().sum() > 0


def test_short_training_separates_classes_better_than_the_untrained_twin(tmp_path):
    pl.seed_everything(0, verbose=False)
    dm = PairDataModule(DigitsImages(image_size=16), train_pairs=2560, val_pairs=100, test_pairs=600,
                        batch_size=64, seed=0)
    module = make_module()
    pairs = dm.fixed_pairs["test"]

    def test_auc():
        return roc_auc(pair_distances(module.net, dm, pairs), pairs[:, 2])

    before = test_auc()
    trainer = pl.Trainer(max_epochs=1, accelerator="cpu", logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0,
                         default_root_dir=tmp_path)
    trainer.fit(module, datamodule=dm)
    after = test_auc()
    assert after > before + 0.1, (before, after)
    assert after > 0.9


def test_raw_pixels_baseline_is_the_normalised_image():
    from siamese.nets import RawPixels

    x = torch.rand(3, 1, 4, 4)
    (e,) = RawPixels()(x)
    assert e.shape == (3, 16) and torch.allclose(e * x.flatten(1).norm(dim=1, keepdim=True), x.flatten(1))


def test_concat_embedding_is_unit_norm_and_averages_the_stage_distances():
    """model.embedding=concat: ‖a − b‖² of the model embeddings = mean over stages of ‖a_l − b_l‖²."""
    torch.manual_seed(0)
    net = ConvTower(channels=(4, 8, 16), embedding_dim=[3, 5, 7], embedding="concat")
    x1, x2 = torch.randn(6, 1, 16, 16), torch.randn(6, 1, 16, 16)
    a, b = net.embed(x1), net.embed(x2)
    assert a.shape == (6, 15) and net.embedding_dim == 15
    assert torch.allclose(a.norm(dim=1), torch.ones(6), atol=1e-5)
    per_stage = torch.stack([(u - v).pow(2).sum(dim=1) for u, v in zip(net(x1), net(x2))])   # (3, 6)
    assert torch.allclose((a - b).pow(2).sum(dim=1), per_stage.mean(dim=0), atol=1e-5)
    assert ConvTower(channels=(4, 8), embedding_dim=5).embed(x1).shape == (6, 5)   # default: the last stage
    with pytest.raises(ValueError, match="model.embedding must be one of \\['last', 'concat'\\], got 'mean'"):
        ConvTower(embedding="mean")


def test_pool_grid_feeds_each_head_the_means_of_a_g_by_g_grid():
    """e_l = normalize(W_l · flatten(avgpool_g(map_l))): g = 1 the global mean, g = 2 the quadrants' means."""
    torch.manual_seed(0)
    x = torch.randn(3, 1, 16, 16)
    for g in (1, 2):
        net = ConvTower(channels=(4, 8), embedding_dim=5, pool_grid=g).eval()
        stage_1 = net.stages[0](x)                                                     # (3, 4, 8, 8)
        cells = [stage_1[:, :, 8 // g * i:8 // g * (i + 1), 8 // g * j:8 // g * (j + 1)].mean(dim=(2, 3))
                 for i in range(g) for j in range(g)]                                  # g² × (3, 4)
        pooled = torch.stack(cells, dim=2).flatten(1)                                  # (3, 4 · g²), channel-major
        expected = torch.nn.functional.normalize(net.heads[0](pooled), dim=1)
        assert net.heads[0].in_features == 4 * g * g
        assert torch.allclose(net(x)[0], expected, atol=1e-6)
    with pytest.raises(ValueError, match=r"model\.pool_grid must be >= 1, got 0"):
        ConvTower(pool_grid=0)
    with pytest.raises(ValueError, match=r"model\.pool_grid must be an int >= 1, got 2\.0"):
        ConvTower(pool_grid=2.0)


def test_pool_max_and_gem_take_each_cell_s_maximum_and_generalised_mean():
    """model.pool=max: the cell's maximum; gem: (mean_cell x^3)^(1/3), between its mean and its maximum."""
    torch.manual_seed(0)
    x = torch.randn(3, 1, 16, 16)
    quadrants = lambda m: [m[:, :, 4 * i:4 * (i + 1), 4 * j:4 * (j + 1)].flatten(2) for i in range(2) for j in range(2)]
    expected_cell = {"max": lambda c: c.amax(dim=2), "gem": lambda c: c.clamp(min=1e-6).pow(3).mean(dim=2).pow(1 / 3)}
    for how, cell in expected_cell.items():
        net = ConvTower(channels=(4, 8), embedding_dim=5, pool_grid=2, pool=how).eval()
        stage_1 = net.stages[0](x)                                                     # (3, 4, 8, 8), >= 0
        pooled = torch.stack([cell(q) for q in quadrants(stage_1)], dim=2).flatten(1)  # (3, 4 · 4)
        assert torch.allclose(net(x)[0], torch.nn.functional.normalize(net.heads[0](pooled), dim=1), atol=1e-5)
    means = torch.stack([q.mean(dim=2) for q in quadrants(stage_1)], dim=2)
    gem = torch.stack([expected_cell["gem"](q) for q in quadrants(stage_1)], dim=2)
    maxima = torch.stack([q.amax(dim=2) for q in quadrants(stage_1)], dim=2)
    assert (means <= gem + 1e-6).all() and (gem <= maxima + 1e-6).all()
    uneven = torch.rand(2, 3, 5, 3)                       # bins of 3 rows and of 2 columns, overlapping
    assert torch.equal(grid_pool(uneven, 2, "max"), torch.nn.functional.adaptive_max_pool2d(uneven, 2).flatten(1))
    with pytest.raises(ValueError, match=r"model\.pool must be one of \['avg', 'max', 'gem'\], got 'median'"):
        ConvTower(pool="median")


def test_head_norm_batch_standardises_each_head_output_without_a_shift():
    """model.head_norm=batch (BNNeck): in training each of a head's D values is standardised over the batch and
    scaled by γ, never shifted (the BatchNorm's shift stays 0 while γ trains); in evaluation the running
    statistics make an image's embedding independent of the batch it comes in."""
    torch.manual_seed(0)
    net = ConvTower(channels=(4, 8), embedding_dim=5, pool_grid=2, head_norm="batch")
    x = torch.randn(16, 1, 16, 16)
    pooled = grid_pool(net.stages[0](x), 2)
    before_norm = net.heads[0](pooled)                                                  # (16, 5)
    assert torch.allclose(before_norm.mean(dim=0), torch.zeros(5), atol=1e-5)
    assert torch.allclose(before_norm.var(dim=0, unbiased=False), torch.ones(5), atol=5e-3)   # σ² / (σ² + ε)
    optimizer = torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=0.1)
    for _ in range(3):                      # pull each image towards another one, at every stage
        optimizer.zero_grad()
        stages = net(torch.cat([x, x.flip(0)]))
        sum(((e[:16] - e[16:]) ** 2).sum() for e in stages).backward()
        optimizer.step()
    bn = net.heads[0][1]
    assert torch.equal(bn.bias, torch.zeros(5)) and not torch.equal(bn.weight, torch.ones(5))
    net.eval()
    assert torch.allclose(net.embed(x[:3]), net.embed(x)[:3], atol=1e-6)
    assert torch.allclose(net.embed(x).norm(dim=1), torch.ones(16), atol=1e-5)
    with pytest.raises(ValueError, match=r"model\.head_norm must be one of \['none', 'batch'\], got 'layer'"):
        ConvTower(head_norm="layer")


def test_stage_weights_make_the_concat_distance_a_weighted_mean_of_the_stage_distances():
    """model.stage_weights=w: ‖a − b‖² = Σ_l w_l ‖a_l − b_l‖² / Σ_l w_l, the embedding of unit norm;
    equal weights are the plain concat; a single-embedding loss sees the same model embedding."""
    torch.manual_seed(0)
    net = ConvTower(channels=(4, 8, 16), embedding_dim=[3, 5, 7], embedding="concat", stage_weights=[2, 1, 0])
    x1, x2 = torch.randn(6, 1, 16, 16), torch.randn(6, 1, 16, 16)
    a, b = net.embed(x1), net.embed(x2)
    assert torch.allclose(a.norm(dim=1), torch.ones(6), atol=1e-5)
    per_stage = [(u - v).pow(2).sum(dim=1) for u, v in zip(net(x1), net(x2))]
    assert torch.allclose((a - b).pow(2).sum(dim=1), (2 * per_stage[0] + per_stage[1]) / 3, atol=1e-5)
    equal = ConvTower(channels=(4, 8, 16), embedding_dim=[3, 5, 7], embedding="concat", stage_weights=[3, 3, 3])
    plain = ConvTower(channels=(4, 8, 16), embedding_dim=[3, 5, 7], embedding="concat")
    plain.load_state_dict(equal.state_dict())
    assert torch.allclose(equal.embed(x1), plain.embed(x1), atol=1e-6)
    loss = ContrastiveLoss()
    loss.bind(net)
    assert torch.equal(loss.final(net(x1)), net.embed(x1))
    for weights, match in (([1, 1], r"3 values >= 0 .*got \[1, 1\]"), ([1, -1, 1], r"got \[1, -1, 1\]"),
                           ([0, 0, 0], r"not all 0\), got \[0, 0, 0\]")):
        with pytest.raises(ValueError, match=r"model\.stage_weights must give .*" + match):
            ConvTower(channels=(4, 8, 16), embedding="concat", stage_weights=weights)
    with pytest.raises(ValueError, match=r"model\.stage_weights=\[1\.0, 2\.0\] .* but model\.embedding=last"):
        ConvTower(channels=(4, 8), stage_weights=[1, 2])


def test_single_embedding_losses_train_the_concat_embedding():
    """With model.embedding=concat, contrastive reaches every head: it trains what the index will hold."""
    net = ConvTower(in_channels=1, channels=(8, 16), embedding_dim=[6, 8], embedding="concat")
    module = SiameseModule(net, ContrastiveLoss(), optimizer=lambda params: torch.optim.Adam(params))
    e1, e2 = module(torch.randn(4, 1, 16, 16), torch.randn(4, 1, 16, 16))
    module.loss(e1, e2, {"y": torch.tensor([1.0, 0.0, 1.0, 0.0])})["loss"].backward()
    assert all(head.weight.grad.abs().sum() > 0 for head in module.net.heads)


def test_backbone_and_head_learning_rates_are_separate_and_the_loss_keeps_the_base_rate(tmp_path):
    """``optimizer.backbone_lr_mult`` sets the conv stages' rate, ``optimizer.head_lr_mult`` the embedding
    heads', and a loss's own class weights keep ``optimizer.lr``; a negative multiplier is refused, naming its key."""
    overrides = ["loss=cosface", "optimizer.lr=0.001", "optimizer.backbone_lr_mult=2", "optimizer.head_lr_mult=0.1",
                 f"run_dir={tmp_path}"]
    module, _ = build(compose_config("train", overrides))
    lr_of = {id(p): group["lr"] for group in module.configure_optimizers()["optimizer"].param_groups
             for p in group["params"]}
    assert sorted({lr_of[id(p)] for p in module.net.stages.parameters()}) == pytest.approx([2e-3])
    assert sorted({lr_of[id(p)] for p in module.net.heads.parameters()}) == pytest.approx([1e-4])
    assert sorted({lr_of[id(p)] for p in module.loss.parameters()}) == pytest.approx([1e-3])
    assert len(lr_of) == len(list(module.parameters()))
    with pytest.raises(ValueError, match=r"optimizer.head_lr_mult must be >= 0, got -1"):
        build(compose_config("train", [*overrides[:-2], "optimizer.head_lr_mult=-1", f"run_dir={tmp_path}"]))


def test_without_decay_on_biases_and_norms_only_the_weights_decay(tmp_path):
    """optimizer.decay_biases_and_norms=false: a step with zero loss gradient shrinks every weight matrix and
    kernel (Adam's L2 decay) and leaves every bias and BatchNorm scale / shift as it was, at every rate's
    group; true (the default) decays them all; a value that is not a bool is refused, naming its key."""
    overrides = ["optimizer.weight_decay=0.1", f"run_dir={tmp_path}"]
    for decay in (False, True):
        module, _ = build(compose_config("train", [*overrides, f"optimizer.decay_biases_and_norms={decay}"]))
        with torch.no_grad():
            for p in module.parameters():
                p.add_(0.5)                                   # every parameter away from 0 (BN shifts start at 0)
        before = {name: p.detach().clone() for name, p in module.named_parameters()}
        optimizer = module.configure_optimizers()["optimizer"]
        for p in module.parameters():
            p.grad = torch.zeros_like(p)
        optimizer.step()
        moved = {name: not torch.equal(p, before[name]) for name, p in module.named_parameters()}
        assert all(moved[name] for name, p in module.named_parameters() if p.ndim > 1)
        assert all(moved[name] == decay for name, p in module.named_parameters() if p.ndim == 1)
        assert any(p.ndim == 1 for p in module.net.heads.parameters())      # the heads' biases are among them
    with pytest.raises(ValueError, match=r"optimizer.decay_biases_and_norms must be true or false, got 'no'"):
        build(compose_config("train", [*overrides, "optimizer.decay_biases_and_norms=no"]))


def test_a_tower_starts_from_a_runs_checkpoint_or_a_state_dict(tmp_path):
    """model.weights: the same tower, stages, heads and input normalisation, from either file; a file of
    another shape or with tensors missing is refused naming the settings or the tensors."""
    torch.manual_seed(0)
    source = ConvTower(channels=(4, 8), embedding_dim=5, pool_grid=2, input_mean=[0.3], input_std=[0.2]).eval()
    torch.save({"state_dict": {f"net.{k}": v for k, v in source.state_dict().items()}, "epoch": 3},
               tmp_path / "run.ckpt")
    torch.save(source.state_dict(), tmp_path / "tower.pt")
    x = torch.rand(4, 1, 16, 16)
    for name in ("run.ckpt", "tower.pt"):
        started = ConvTower(channels=(4, 8), embedding_dim=5, pool_grid=2, weights=str(tmp_path / name)).eval()
        assert torch.equal(started.embed(x), source.embed(x))
    with pytest.raises(ValueError, match=r"model\.weights=.*run\.ckpt does not fit data\.source\.channels, "
                                         r"model\.channels, model\.embedding_dim and model\.pool_grid: "
                                         r"size mismatch for heads\.0"):
        ConvTower(channels=(4, 8), embedding_dim=5, pool_grid=1, weights=str(tmp_path / "run.ckpt"))
    torch.save({k: v for k, v in source.state_dict().items() if not k.startswith("heads")}, tmp_path / "part.pt")
    with pytest.raises(ValueError, match=r"part\.pt: the file lacks 4 of the tower's tensors"):
        ConvTower(channels=(4, 8), embedding_dim=5, pool_grid=2, weights=str(tmp_path / "part.pt"))
    with pytest.raises(FileNotFoundError, match=r"model\.weights='.*nope\.pt': no such file"):
        ConvTower(weights=str(tmp_path / "nope.pt"))
