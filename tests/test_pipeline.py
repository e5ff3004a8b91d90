"""The real scripts/train.py, end to end with trainer=debug, in a temporary run directory."""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from helpers import (
    PAIRS,
    ROOT,
    SMALL,
    compose_config,
    index_bytes,
    make_csv_pairs,
    make_image_tree,
    make_lfw_tree,
    run_script,
    run_train,
)
from siamese.evaluation import embed_images
from siamese.export import export
from siamese.index import search
from siamese.index_store import GalleryPaths, gallery_labels, load_index
from siamese.matching import match
from siamese.pipeline import build, evaluate, train
from siamese.runs import load_tower, run_config


@pytest.fixture(scope="module")
def trained_runs(tmp_path_factory):
    """One debug run of ``scripts/train.py loss=dcontrastive``, trained once for the module:
    ``{"dcontrastive": (run_dir, process)}`` (the other losses run through the script in
    ``test_every_loss_trains_a_few_steps_through_the_script``)."""
    run_dir = tmp_path_factory.mktemp("dcontrastive")
    return {"dcontrastive": (run_dir, run_train(run_dir, "loss=dcontrastive"))}


@pytest.fixture
def dcontrastive_run(trained_runs, tmp_path):
    """A private copy of the trained dcontrastive run, free to be overwritten by a test."""
    run_dir, proc = trained_runs["dcontrastive"]
    assert proc.returncode == 0, proc.stderr[-3000:]
    return shutil.copytree(run_dir, tmp_path / "run")


@pytest.mark.parametrize("loss", ["dcontrastive"])
def test_train_script_writes_index_and_report(loss, trained_runs):
    run_dir, proc = trained_runs[loss]
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "AUC" in proc.stdout and "10-fold accuracy" in proc.stdout and "5-way one-shot" in proc.stdout

    for name in ("report.json", "report.md", "roc.png", "distances.png", "index.json"):
        assert (run_dir / name).is_file(), name
    report = json.loads((run_dir / "report.json").read_text())
    assert set(report) >= {"checkpoint", "checkpoint_sha256", "split", "verification", "retrieval",
                           "one_shot", "config"}
    assert set(report["verification"]) >= {"auc", "eer", "accuracy", "threshold", "pairs", "kfold_accuracy",
                                           "kfold_std", "tar_at_far"}
    assert 0.0 <= report["verification"]["auc"] <= 1.0 and report["verification"]["pairs"] == 300
    assert set(report["retrieval"]) >= {"p_at_1", "recall_at_k", "map_at_r"}
    assert 0.0 <= report["retrieval"]["p_at_1"] <= 1.0
    logged = (run_dir / "logs" / "metrics.csv").read_text().splitlines()[0].split(",")
    assert {"val/auc", "val/eer", "val/p_at_1", "val/map_at_r", "train/loss"} <= set(logged)
    assert report["config"]["loss"]["_target_"].endswith(
        "DoubleMarginContrastiveLoss" if loss == "dcontrastive" else "ContrastiveLoss")
    assert Path(report["checkpoint"]).is_file()

    # The saved index answers the same neighbours as a fresh embedding from the checkpoint.
    index, meta = load_index(run_dir)
    assert meta["threshold"] == report["verification"]["threshold"]
    cfg = run_config(run_dir)
    _, datamodule = build(cfg)
    net = load_tower(cfg.model, Path(report["checkpoint"]))
    gallery, labels = embed_images(net, datamodule.images_dataloader("train"))
    assert gallery_labels(run_dir, meta).tolist() == labels.tolist()
    queries, _ = embed_images(net, datamodule.images_dataloader("test"))
    _, ids = search(index, queries, k=5)
    brute = np.linalg.norm(queries[:, None] - gallery[None], axis=2)
    assert (ids[:, 0] == brute.argmin(axis=1)).mean() > 0.99  # ties aside, the same nearest item


def test_class_split_runs_and_reports_unseen_class_retrieval(tmp_path):
    report = train(compose_config("train", [*SMALL, f"run_dir={tmp_path}", "loss=dcontrastive", "data.split=classes",
                                            "trainer.max_epochs=3", "callbacks.early_stopping=null"]))
    assert report["split"] == "classes" and report["retrieval"]["gallery"] == "enrol"
    assert report["training"]["rotated_classes"] == [90, 180, 270]   # digits' auto: 7 training digits, P 6
    _, meta = load_index(tmp_path)
    assert set(gallery_labels(tmp_path, meta).tolist()) == {7, 8, 9}
    # the figures come from the epoch of the best validation AUC, and the report says which
    rows = [line.split(",") for line in (tmp_path / "logs" / "metrics.csv").read_text().splitlines()]
    col, epoch = rows[0].index("val/auc"), rows[0].index("epoch")
    val_auc = {int(r[epoch]): float(r[col]) for r in rows[1:] if r[col]}
    assert len(val_auc) == 3 and report["training"]["evaluated_epoch"] == max(val_auc, key=val_auc.get)


def test_bad_config_fails_before_training_and_names_the_value(tmp_path):
    with pytest.raises(ValueError, match=r"loss\.m1 must be < loss\.m2 at layer 1, got m1=2\.0, m2=1\.0"):
        train(compose_config("train", [*SMALL, f"run_dir={tmp_path}", "loss=dcontrastive", "loss.m1=2.0",
                                       "loss.m2=1.0"]))
    assert not (tmp_path / "report.json").exists() and not (tmp_path / "checkpoints").exists()


@pytest.mark.slow
def test_evaluate_script_reproduces_the_training_report(dcontrastive_run):
    tmp_path = dcontrastive_run
    before = json.loads((tmp_path / "report.json").read_text())
    (tmp_path / "report.md").unlink()
    proc = run_script("evaluate.py", f"run_dir={tmp_path}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    after = json.loads((tmp_path / "report.json").read_text())
    assert after["verification"] == before["verification"]
    assert after["retrieval"] == before["retrieval"] and after["one_shot"] == before["one_shot"]
    assert (tmp_path / "report.md").is_file()
    assert OmegaConf.load(tmp_path / ".hydra" / "config.yaml").loss._target_.endswith("DoubleMarginContrastiveLoss")

    # another checkpoint than the index's: the gallery is re-embedded, with a warning, index untouched
    before = index_bytes(tmp_path)
    with pytest.warns(UserWarning, match="the gallery is embedded afresh"):
        evaluate(compose_config("evaluate", [f"run_dir={tmp_path}", f"checkpoint={tmp_path}/checkpoints/last.ckpt"]))
    assert index_bytes(tmp_path) == before


def test_a_run_started_from_a_file_since_gone_re_evaluates_and_loads(dcontrastive_run):
    """model.weights names where training started; evaluate.py and load_tower take every tensor from the
    run's checkpoint and do not read that file again."""
    run_dir = dcontrastive_run
    before = json.loads((run_dir / "report.json").read_text())
    config = OmegaConf.load(run_dir / ".hydra" / "config.yaml")
    config.model.weights = str(run_dir / "moved-away.ckpt")
    OmegaConf.save(config, run_dir / ".hydra" / "config.yaml")
    after = evaluate(compose_config("evaluate", [f"run_dir={run_dir}"]))
    assert after["verification"] == before["verification"] and after["retrieval"] == before["retrieval"]
    assert load_tower(run_config(run_dir).model, run_dir / "checkpoints" / "best.ckpt").embedding_dim == 192


def test_evaluate_script_on_an_lfw_pairs_file(dcontrastive_run, tmp_path, capsys):

    run_dir = dcontrastive_run
    root = make_lfw_tree(tmp_path / "lfw")
    (tmp_path / "pairs.txt").write_text(PAIRS)
    evaluate(compose_config("evaluate", [f"run_dir={run_dir}", f"pairs={tmp_path / 'pairs.txt'}",
                                         f"pairs_root={root}"]))
    printed = capsys.readouterr().out
    report = json.loads((run_dir / "report.json").read_text())
    v = report["verification"]
    assert report["test_pairs"].endswith("pairs.txt") and v["pairs"] == 8 and v["same_pairs"] == 4
    assert v["folds"] == 2  # the file's folds, not ten seeded ones
    # each figure is labelled with the images it was measured on: the pairs file vs the run's own split
    assert "on pairs.txt: AUC" in printed and "on the test split: P@1" in printed
    assert "trials on the `test` split's images" in (run_dir / "report.md").read_text()


def test_evaluate_script_names_a_missing_run(tmp_path):
    with pytest.raises(FileNotFoundError, match="run_dir must be a directory written by scripts/train.py"):
        evaluate(compose_config("evaluate", [f"run_dir={tmp_path / 'nope'}"]))
    assert not (tmp_path / "nope").exists()


@pytest.mark.slow
def test_every_loss_trains_a_few_steps_through_the_script(tmp_path):
    """One Hydra multirun over every conf/loss file (one process, so the imports are paid once)."""
    losses = sorted(p.stem for p in (ROOT / "conf" / "loss").glob("*.yaml"))
    proc = run_script("train.py", "-m", f"loss={','.join(losses)}", f"hydra.sweep.dir={tmp_path}", *SMALL,
                      "evaluation.trials=20", "data.split=classes", "data.val_pairs=100", "data.test_pairs=100")
    assert proc.returncode == 0, proc.stderr[-3000:]
    for k, loss in enumerate(losses):
        report = json.loads((tmp_path / f"{k}_{loss}" / "report.json").read_text())
        assert 0.0 <= report["verification"]["auc"] <= 1.0, loss
        state = torch.load(report["checkpoint"], map_location="cpu", weights_only=False)["state_dict"]
        if report["config"]["loss"]["_target_"].endswith(("SoftmaxLoss", "HingeLoss")):
            assert any(k.startswith("loss.") for k in state), f"{loss}: loss parameters not checkpointed"


@pytest.mark.slow
def test_export_and_match_end_to_end(dcontrastive_run, tmp_path, capsys):
    images = make_image_tree(tmp_path / "collection")
    (images / "loose.png").write_bytes((images / "cat" / "0.png").read_bytes())
    (images / "dog" / "broken.png").write_bytes(b"not a png")
    out = tmp_path / "exported"

    with pytest.raises(ValueError, match=r"unreadable image '.*broken\.png'"):
        export(compose_config("export", [f"run_dir={dcontrastive_run}", f"images={images}", f"out={out}"]))
    assert not (out / "index.json").exists()

    export(compose_config("export", [f"run_dir={dcontrastive_run}", f"images={images}", f"out={out}",
                                     "index=hnsw", "on_bad_image=skip"]))
    assert "images/s" in capsys.readouterr().out
    index, meta = load_index(out)
    paths = [GalleryPaths(out, meta)[i] for i in range(meta["count"])]
    assert meta["count"] == 61 and len(set(paths)) == 61 and meta["index_kind"] == "hnsw"
    assert [s["path"].endswith("broken.png") for s in meta["skipped"]] == [True]
    assert meta["classes"] == ["", "cat", "dog", "eel"] and "loose.png" in paths
    assert not (out / "shards").exists()                   # removed once the index is written
    assert meta["recall_at_10"] > 0.9 and meta["checkpoint_sha256"] and meta["threshold"] is not None

    # eel/19.png is the one image of its brightness in the fixture: it must find itself first
    proc = run_script("match.py", f"index_dir={out}", f"query={images / 'eel' / '19.png'}", "k=3", "format=json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    (row,) = json.loads(proc.stdout)
    first = row["neighbours"][0]
    assert first["path"] == "eel/19.png" and first["distance"] < 1e-3 and first["decision"] == "same"
    assert len(row["neighbours"]) == 3

    pair = f"pair=[{images / 'cat' / '0.png'},{images / 'loose.png'}]"
    verdict = match(compose_config("match", [f"index_dir={out}", pair]))
    assert verdict["decision"] == "same"                       # the same picture twice
    with pytest.raises(FileNotFoundError, match="does not exist"):
        match(compose_config("match", [f"index_dir={out}", f"query={tmp_path / 'nothing.png'}"]))


@pytest.mark.slow
def test_csv_pair_list_trains_and_reports_verification_only(tmp_path):
    pairs_file = make_csv_pairs(tmp_path / "sig", n_pairs=120)
    data = ["data=csv_pairs", f"data.pairs_file={pairs_file}", f"data.root={tmp_path / 'sig'}",
            "data.source.image_size=16"]
    report = train(compose_config("train", [f"run_dir={tmp_path / 'run'}", "trainer=debug", "loss=dcontrastive",
                                            *data]))
    assert report["retrieval"] is None and report["one_shot"] is None
    assert report["verification"]["folds"] == 2      # the CSV's own folds
    assert "no class ids" in (tmp_path / "run" / "report.md").read_text()

    with pytest.raises(ValueError, match="needs class ids"):
        build(compose_config("train", [f"run_dir={tmp_path / 'bad'}", "trainer=debug", "loss=trihard", *data]))
    with pytest.raises(ValueError, match="add loss.pairs=sampled"):
        build(compose_config("train", [f"run_dir={tmp_path / 'bad2'}", "loss=dcontrastive", "loss.pairs=batch_all",
                                       *data]))
