"""The cross-batch memory (``loss.memory``) against a slow loop over the remembered images."""
import pytest
import pytorch_lightning as pl
import torch

from helpers import compose_config, make_csv_pairs
from siamese.losses import ContrastiveLoss, DoubleMarginContrastiveLoss
from siamese.losses.memory import CrossBatchMemory
from siamese.losses.miners import HardPairMiner
from siamese.losses.reducers import AvgNonZeroReducer
from siamese.nets import TowerShape
from siamese.pipeline import build

DIMS = (6, 4)


def pk_batches(count, p=2, k=4, classes=5, seed=0):
    """``count`` P×K batches of two-stage unit embeddings (leaf tensors), each ``(e1, e2, batch)``; image
    ids run on from batch to batch, except that every batch repeats the first image of the one before."""
    g = torch.Generator().manual_seed(seed)
    out, next_id = [], 0
    for b in range(count):
        labels = torch.randperm(classes, generator=g)[:p].repeat_interleave(k)
        m, n = p * k, p * k // 2
        ids = torch.arange(next_id, next_id + m)
        if b:
            ids[0] = out[-1][2]["i1"][0]       # the same source image seen again
        next_id += m
        stages = [torch.nn.functional.normalize(torch.randn(m, d, generator=g), dim=1) for d in DIMS]
        batch = {"y": torch.ones(n), "c1": labels[:n], "c2": labels[n:], "i1": ids[:n], "i2": ids[n:]}
        out.append(([s[:n].clone().requires_grad_() for s in stages], [s[n:].clone().requires_grad_() for s in stages],
                    batch))
    return out


def naive_memory_loss(history, current, size, m1, m2):
    """Per layer: every unordered pair of the batch's images and every (batch image, one of the last
    ``size`` earlier images with another id) pair, each layer's same and different terms averaged over the
    non-zero ones; summed over layers."""
    images, labels, ids = current
    earlier = history[-size:]
    total = 0.0
    for layer in range(len(DIMS)):
        pairs = [(images[layer][p], images[layer][q], labels[p] == labels[q])
                 for p in range(len(labels)) for q in range(p + 1, len(labels)) if ids[p] != ids[q]]
        pairs += [(images[layer][p], stages[layer], labels[p] == label)
                  for p in range(len(labels)) for stages, label, image_id in earlier if image_id != ids[p]]
        terms = {True: [], False: []}
        for u, v, same in pairs:
            d = float((u - v).pow(2).sum())
            terms[same].append(max(d - m1, 0.0) if same else max(m2 - d, 0.0))
        total += sum(sum(t for t in side if t) / max(sum(1 for t in side if t), 1) for side in terms.values())
    return total


def memory_loss(size, **kwargs):
    loss = DoubleMarginContrastiveLoss(m1=0.3, m2=1.2, pairs="auto", reducer=AvgNonZeroReducer(), memory=size,
                                       **kwargs)
    loss.bind(TowerShape(len(DIMS), 5))
    return loss


@pytest.mark.parametrize("size", [8, 20])
def test_memory_loss_equals_a_loop_over_the_batch_and_the_last_images_before_it(size):
    loss, history = memory_loss(size), []
    for e1, e2, batch in pk_batches(5):                 # 8 images a batch: the memory wraps around
        got = loss(e1, e2, batch)["loss"].item()
        images = [torch.cat([a, b]).detach() for a, b in zip(e1, e2)]
        labels, ids = torch.cat([batch["c1"], batch["c2"]]).tolist(), torch.cat([batch["i1"], batch["i2"]]).tolist()
        assert got == pytest.approx(naive_memory_loss(history, (images, labels, ids), size, 0.3, 1.2), rel=1e-5)
        history += [([s[k] for s in images], labels[k], ids[k]) for k in range(len(labels))]


def test_an_empty_memory_gives_the_loss_without_one_and_gradients_reach_the_batch_only():
    (e1, e2, batch), (f1, f2, later) = pk_batches(2, seed=1)
    with_memory, without = memory_loss(16), memory_loss(0)
    first = with_memory(e1, e2, batch)["loss"]
    assert first.item() == without(e1, e2, batch)["loss"].item()     # nothing remembered yet
    second = with_memory(f1, f2, later)["loss"]
    assert second.item() != without(f1, f2, later)["loss"].item()    # the first batch's images now pair too
    second.backward()
    assert all(s.grad is None for s in e1 + e2)                      # remembered images are constants
    assert all(s.grad is not None and s.grad.abs().sum() > 0 for s in f1)


def test_validation_scores_the_batch_alone_and_leaves_the_memory_as_it_was():
    batches = pk_batches(3, seed=2)
    loss, plain = memory_loss(24), memory_loss(0)
    loss(*batches[0])
    loss.eval()
    assert loss(*batches[1])["loss"].item() == plain(*batches[1])["loss"].item()
    assert len(loss.memory) == 8
    loss.train()
    loss(*batches[2])
    assert len(loss.memory) == 16


def test_the_memory_keeps_the_last_images_written():
    memory = CrossBatchMemory(5)
    for start in (0, 3, 6):
        ids = torch.arange(start, start + 3)
        memory.add([ids.float().unsqueeze(1)], ids * 10, ids)
    stages, labels, ids = memory.entries()
    assert sorted(ids.tolist()) == [4, 5, 6, 7, 8]
    assert labels.tolist() == (ids * 10).tolist() and stages[0].squeeze(1).tolist() == ids.float().tolist()


@pytest.mark.parametrize("kwargs,match", [
    ({"pairs": "sampled", "memory": 64}, r"loss\.memory=64 pairs the batch's images with earlier batches' by class "
                                         r"id: it needs loss\.pairs=batch_all or auto and no loss\.miner"),
    ({"pairs": "batch_all", "miner": HardPairMiner(), "memory": 64}, r"needs loss\.pairs=batch_all or auto and no"),
    ({"pairs": "auto", "memory": 1.5}, r"loss\.memory must be an int >= 0, got 1\.5"),
    ({"pairs": "auto", "memory": -3}, r"loss\.memory must be >= 0, got -3"),
    ({"pairs": "auto", "memory": True}, r"loss\.memory must be an int >= 0, got True"),
])
def test_memory_settings_are_checked(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ContrastiveLoss(**kwargs)


def test_memory_refuses_a_batch_larger_than_itself_and_data_without_class_or_image_ids():
    e1, e2, batch = pk_batches(1)[0]
    with pytest.raises(ValueError, match=r"loss\.memory=4 holds fewer images than one training batch \(8\): "
                                         r"set loss\.memory to at least 8"):
        memory_loss(4)(e1, e2, batch)
    with pytest.raises(ValueError, match=r"loss\.memory=16 needs class ids \(c1, c2\), but the data has none"):
        memory_loss(16)(e1, e2, {"y": batch["y"]})
    with pytest.raises(ValueError, match=r"loss\.memory=16 tells an image from its memory entry by its id"):
        memory_loss(16)(e1, e2, {key: value for key, value in batch.items() if key not in ("i1", "i2")})


def test_a_training_run_fills_the_memory_and_saves_the_same_weights_as_without_one(tmp_path):
    """``loss.memory`` from the config: refused before any data is read where it cannot work; a short run
    fills it, and it is not part of the checkpoint (a resumed run refills it)."""
    with pytest.raises(ValueError, match=r"loss\.memory=64 holds fewer images than one P×K batch \(data\.p × data\.k "
                                         r"= 96\): set loss\.memory to at least 96"):
        build(compose_config("train", ["loss=dcontrastive", "loss.memory=64", f"run_dir={tmp_path}"]))
    with pytest.raises(ValueError, match=r"loss\.memory=128 pairs images by class id, but PairListDataModule gives "
                                         r"pairs without them: set loss\.memory=0"):
        pair_list = [f"data.pairs_file={make_csv_pairs(tmp_path / 'sig')}", f"data.root={tmp_path / 'sig'}"]
        build(compose_config("train", ["data=csv_pairs", *pair_list, "loss=dcontrastive", "loss.memory=128",
                                       f"run_dir={tmp_path}"]))
    overrides = ["loss=dcontrastive", "data.train_pairs=384", f"run_dir={tmp_path}"]
    module, data = build(compose_config("train", [*overrides, "loss.memory=200"]))
    pl.Trainer(max_steps=3, limit_val_batches=0, accelerator="cpu", logger=False, enable_checkpointing=False,
               enable_progress_bar=False, enable_model_summary=False,
               default_root_dir=tmp_path).fit(module, datamodule=data)
    assert len(module.loss.memory) == 200                       # 3 batches of 96 images, the oldest overwritten
    plain, _ = build(compose_config("train", overrides))
    assert module.state_dict().keys() == plain.state_dict().keys()
