"""``train(cfg)`` and ``evaluate(cfg)``: what ``scripts/train.py`` and ``scripts/evaluate.py`` call.

A training run writes into ``cfg.run_dir``::

    checkpoints/best.ckpt, last.ckpt      Lightning checkpoints (best = highest val/auc)
    logs/metrics.csv                      per-step / per-epoch logged values
    index.faiss, index.json               FAISS IndexFlatL2 of the gallery + metadata (threshold, ...)
    report.json, report.md                held-out verification, retrieval and one-shot figures
    roc.png, distances.png                ROC on a log-FAR axis; same/different distance histograms

``evaluate`` recomputes the report files of an existing run from its checkpoint and index.
"""
from __future__ import annotations

import time
import warnings
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
from hydra.utils import get_class, instantiate
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.loggers import CSVLogger

from siamese.atomic import sha256_file
from siamese.data import PairDataModule
from siamese.data.pair_files import read_lfw_pairs
from siamese.evaluation import Evaluation, EvaluationSettings
from siamese.evaluation import evaluate as evaluate_model
from siamese.index import index_description, load_index, save_index
from siamese.module import SiameseModule
from siamese.report import print_summary, write_report
from siamese.runs import checkpoint_state, model_description, resolve_checkpoint, run_config


def group_choice(group: str) -> str | None:
    """The option chosen for a config group (``loss=dcontrastive`` → ``dcontrastive``) inside a Hydra run."""
    from hydra.core.hydra_config import HydraConfig

    return HydraConfig.get().runtime.choices.get(group) if HydraConfig.initialized() else None


def resolve_sampler(data_cfg: DictConfig, loss) -> str | None:
    """``data.sampler`` with ``auto`` resolved to the batches the loss needs (``pairs`` or P×K ``pk``);
    ``None`` for data without a sampler setting (pair lists)."""
    sampler = data_cfg.get("sampler")
    return loss.batch_kind if sampler == "auto" else sampler


def build(cfg: DictConfig) -> tuple[SiameseModule, PairDataModule]:
    """Model and data from config; every config error is raised before any data is read."""
    data_class = get_class(cfg.data._target_)
    loss = instantiate(cfg.loss)
    sampler = resolve_sampler(cfg.data, loss)
    data_overrides = {} if sampler is None else {"sampler": sampler}
    if data_class is PairDataModule:
        settings = {k: v for k, v in cfg.data.items() if k not in ("_target_", "source", "augment")}
        PairDataModule.check_settings(**{**settings, **data_overrides})
    if loss.needs_class_ids and not data_class.has_class_ids:
        fix = ("add loss.pairs=sampled (and loss/reducer=sum_over_2n for the seed's formula)"
               if getattr(loss, "pairs", None) == "batch_all" else "use a pair loss (contrastive, dcontrastive, hinge)")
        raise ValueError(f"loss {type(loss).__name__} with these settings needs class ids, but "
                         f"{data_class.__name__} gives pairs without them: {fix}")
    net = instantiate(cfg.model)
    loss.check(net)
    optimizer = instantiate(cfg.optimizer)
    scheduler = instantiate(cfg.scheduler) if cfg.get("scheduler") else None
    data_channels = cfg.data.source.get("channels")
    if data_channels is not None and int(data_channels) != net.in_channels:
        raise ValueError(
            f"model.in_channels={net.in_channels} but data.source.channels={data_channels}: they must match"
        )
    datamodule = instantiate(cfg.data, **data_overrides)
    module = SiameseModule(net, loss, optimizer, scheduler, num_classes=len(datamodule.source.classes),
                           loss_name=group_choice("loss"), collapse_threshold=cfg.get("collapse_threshold", 0.01))
    return module, datamodule


def settings_from(cfg: DictConfig) -> EvaluationSettings:
    return EvaluationSettings(**OmegaConf.to_container(cfg.evaluation, resolve=True))


def load_weights(module: SiameseModule, checkpoint: Path) -> None:
    module.load_state_dict(checkpoint_state(checkpoint))


def _finish(run_dir: Path, result: Evaluation, checkpoint: Path | None, digest: str | None, cfg: DictConfig) -> dict:
    report = result.report
    report["checkpoint"] = str(checkpoint) if checkpoint else None
    report["checkpoint_sha256"] = digest
    report["config"] = OmegaConf.to_container(cfg, resolve=True)
    write_report(run_dir, report, result.test_dist, result.test_y)
    print_summary(report, run_dir)
    return report


def train(cfg: DictConfig) -> dict:
    """Fit the twin, reload the best checkpoint, export the gallery index and write the report."""
    run_dir = Path(cfg.run_dir)
    settings = settings_from(cfg)
    index_spec = instantiate(cfg.index)                       # config errors before any data is read
    resume = resolve_checkpoint(run_dir, cfg.get("ckpt_path"), key="ckpt_path")
    pl.seed_everything(int(cfg.seed), workers=True, verbose=False)
    module, datamodule = build(cfg)
    callbacks = [instantiate(c) for c in (cfg.get("callbacks") or {}).values() if c is not None]
    checkpoint = next((c for c in callbacks if isinstance(c, ModelCheckpoint)), None)
    trainer = instantiate(cfg.trainer, callbacks=callbacks, default_root_dir=str(run_dir),
                          logger=CSVLogger(str(run_dir), name="logs", version=""))
    start = time.perf_counter()
    with warnings.catch_warnings():
        # The default data sits in memory; worker processes would only add start-up time.
        warnings.filterwarnings("ignore", ".*does not have many workers.*")
        trainer.fit(module, datamodule=datamodule, ckpt_path=str(resume) if resume else None)
    training = {"seconds": time.perf_counter() - start, "steps": int(trainer.global_step),
                "epochs": int(trainer.current_epoch)}

    best = Path(checkpoint.best_model_path) if checkpoint and checkpoint.best_model_path else None
    if best:
        load_weights(module, best)
    digest = sha256_file(best) if best else None
    result = evaluate_model(module.net, datamodule, settings, index_spec=index_spec)
    gallery_split, _ = datamodule.retrieval_splits
    save_index(run_dir, result.index, result.gallery_labels, split=gallery_split,
               classes=list(datamodule.source.classes), threshold=result.report["verification"]["threshold"],
               checkpoint=str(best) if best else None, checkpoint_sha256=digest,
               **index_description(index_spec, result.gallery, result.index, **cfg.recall_check),
               **model_description(cfg.model, cfg.data.source))
    result.report["training"] = training
    result.report["skipped_images"] = getattr(datamodule.source, "skipped", [])
    return _finish(run_dir, result, best, digest, cfg)


def evaluate(cfg: DictConfig) -> dict:
    """Re-evaluate a finished run: its config, checkpoint and index; rewrites the report files."""
    run_dir = Path(cfg.run_dir)
    train_cfg = run_config(run_dir)
    if cfg.get("pairs") and not cfg.get("pairs_root"):
        raise ValueError(f"pairs={cfg.pairs} needs pairs_root=<folder of the images it names>")
    test_pairs = read_lfw_pairs(cfg.pairs, cfg.pairs_root) if cfg.get("pairs") else None
    module, datamodule = build(train_cfg)
    checkpoint = resolve_checkpoint(run_dir, cfg.checkpoint)
    load_weights(module, checkpoint)
    index, meta = load_index(run_dir)
    digest = sha256_file(checkpoint)
    gallery_labels = np.asarray(meta["labels"])
    if meta.get("checkpoint_sha256") != digest:
        warnings.warn(f"index.json was built from another checkpoint than {checkpoint.name}: "
                      "the gallery is embedded afresh for this evaluation (index.faiss is left as it is)",
                      stacklevel=2)
        index, gallery_labels = None, None
    result = evaluate_model(module.net, datamodule, settings_from(cfg), index=index,
                            gallery_labels=gallery_labels, test_pairs=test_pairs)
    return _finish(run_dir, result, checkpoint, digest, train_cfg)
