"""``train(cfg)`` and ``evaluate(cfg)``: what ``scripts/train.py`` and ``scripts/evaluate.py`` call.

A training run writes into ``cfg.run_dir``::

    checkpoints/best.ckpt, last.ckpt      Lightning checkpoints (best = highest val/auc)
    logs/metrics.csv                      per-step / per-epoch logged values
    index.<sha12>.faiss, index.json       FAISS index of the gallery + metadata (threshold, ...)
    report.json, report.md                held-out verification, retrieval and one-shot figures
    roc.png, distances.png                ROC on a log-FAR axis; same/different distance histograms

``evaluate`` recomputes the report files of an existing run from its checkpoint and index.
"""
from __future__ import annotations

import os
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from hydra.utils import get_class
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.utilities.rank_zero import rank_zero_only

from siamese.atomic import atomic_save, sha256_file
from siamese.checks import at_least, non_negative
from siamese.config import group_choice, make
from siamese.data import PairDataModule
from siamese.data.pair_files import read_lfw_pairs
from siamese.evaluation import Evaluation, EvaluationSettings
from siamese.evaluation import evaluate as evaluate_model
from siamese.index import IndexSpec, index_description
from siamese.index_store import gallery_labels, load_index, save_index
from siamese.lightning import AtomicCheckpointIO, RunDirectoryLock, log_report_images
from siamese.losses import JointLoss
from siamese.module import SiameseModule
from siamese.report import print_summary, write_report
from siamese.runs import (
    checkpoint_reference,
    model_description,
    read_checkpoint,
    resolve_checkpoint,
    run_config,
    without_start_weights,
)
from siamese.whitening import fit_whitening


def resolve_sampler(data_cfg: DictConfig, loss) -> str | None:
    """``data.sampler`` with ``auto`` resolved to the batches the loss needs (``pairs`` or P×K ``pk``);
    ``None`` for data without a sampler setting (pair lists)."""
    sampler = data_cfg.get("sampler")
    return loss.batch_kind if sampler == "auto" else sampler


def check_memory(loss, data_cfg: DictConfig, sampler: str | None, data_class: type) -> None:
    """A pair loss's cross-batch memory (``loss.memory``) against the data: it needs class ids, and it must
    hold one P×K batch (``data.p × data.k`` images) whole."""
    memory = getattr(loss, "memory", None)
    if memory is None:
        return
    if not data_class.has_class_ids:
        raise ValueError(f"loss.memory={memory.size} pairs images by class id, but {data_class.__name__} gives "
                         "pairs without them: set loss.memory=0")
    if sampler == "pk" and memory.size < data_cfg.p * data_cfg.k:
        raise ValueError(f"loss.memory={memory.size} holds fewer images than one P×K batch (data.p × data.k = "
                         f"{data_cfg.p * data_cfg.k}): set loss.memory to at least {data_cfg.p * data_cfg.k}")


def check_optimizer(optimizer, settings: dict) -> None:
    """Build the optimizer once on a stand-in parameter, so that a setting torch refuses (a negative
    ``lr`` or ``weight_decay``, a beta outside [0, 1)) is named before any data is read, not at the
    first training step from inside ``torch.optim``."""
    try:
        optimizer(params=[torch.zeros(1, requires_grad=True)])
    except ValueError as err:
        shown = ", ".join(f"optimizer.{key}={value}" for key, value in settings.items() if not key.startswith("_"))
        name = group_choice("optimizer") or settings.get("_target_")
        raise ValueError(f"optimizer={name} refuses its settings ({shown}): {err}") from None


def check_run_settings(cfg: DictConfig) -> None:
    """Settings of the run itself that Lightning would accept and act on wrongly."""
    at_least("trainer.max_epochs", cfg.trainer.get("max_epochs", 0), 0)   # -1 would train forever


def build(cfg: DictConfig, index_spec: IndexSpec | None = None) -> tuple[SiameseModule, PairDataModule]:
    """Model and data from config; every config error is raised before any data is read (with
    ``index_spec``, also the index settings that depend on the embedding size)."""
    data_class = get_class(cfg.data._target_)
    loss = make(cfg.loss)
    sampler = resolve_sampler(cfg.data, loss)
    data_overrides = {} if sampler is None else {"sampler": sampler}
    if data_class is PairDataModule:
        settings = {k: v for k, v in cfg.data.items() if k not in ("_target_", "source", "augment")}
        PairDataModule.check_settings(**{**settings, **data_overrides})
    check_memory(loss, cfg.data, sampler, data_class)       # before the generic check: names loss.memory
    if loss.needs_class_ids and not data_class.has_class_ids:
        fix = ("add loss.pairs=sampled (and loss/reducer=sum_over_2n for the seed's formula)"
               if getattr(loss, "pairs", None) == "batch_all" else "use a pair loss (contrastive, dcontrastive, hinge)")
        raise ValueError(f"loss {type(loss).__name__} with these settings needs class ids, but "
                         f"{data_class.__name__} gives pairs without them: {fix}")
    if cfg.get("identification"):
        if not data_class.has_class_ids:
            raise ValueError(f"identification={group_choice('identification') or 'on'} trains a classifier on class "
                             f"ids, but {data_class.__name__} gives pairs without them: use identification=none")
        loss = JointLoss(loss, make(cfg.identification.loss), cfg.identification.weight)
    net = make(cfg.model)
    loss.check(net)
    if index_spec is not None:
        index_spec.check(net.embedding_dim)
    optimizer_cfg = OmegaConf.to_container(cfg.optimizer, resolve=True)
    lr_mults = {key: non_negative(f"optimizer.{key}", optimizer_cfg.pop(key, 1.0))     # checked before data is read
                for key in ("backbone_lr_mult", "head_lr_mult")}
    decay_biases_and_norms = optimizer_cfg.pop("decay_biases_and_norms", True)
    if not isinstance(decay_biases_and_norms, bool):
        raise ValueError(f"optimizer.decay_biases_and_norms must be true or false, got {decay_biases_and_norms!r}")
    if cfg.model.get("weights") is not None and lr_mults["backbone_lr_mult"] > 1:
        warnings.warn(f"model.weights={cfg.model.weights}: the pretrained backbone learns at optimizer.lr x "
                      f"optimizer.backbone_lr_mult = {lr_mults['backbone_lr_mult']:g}x the base rate; "
                      "fine-tuning wants it below, e.g. optimizer.backbone_lr_mult=0.1",
                      stacklevel=2)
    optimizer = make(optimizer_cfg)
    check_optimizer(optimizer, optimizer_cfg)
    scheduler = make(cfg.scheduler) if cfg.get("scheduler") else None
    data_channels = cfg.data.source.get("channels")
    if data_channels is not None and int(data_channels) != net.in_channels:
        raise ValueError(
            f"model.in_channels={net.in_channels} but data.source.channels={data_channels}: they must match"
        )
    image_size = cfg.data.source.get("image_size")
    if image_size is not None and int(image_size) < net.min_image_size:
        raise ValueError(f"data.source.image_size={image_size} is below the {net.min_image_size} px the tower "
                         f"needs ({net.num_stages} stages each halve the image); raise the image size or use "
                         "fewer model.channels")
    datamodule = make(cfg.data, **data_overrides)
    module = SiameseModule(net, loss, optimizer, scheduler, num_classes=len(datamodule.training_classes),
                           loss_name=group_choice("loss"), collapse_threshold=cfg.get("collapse_threshold", 0.01),
                           decay_biases_and_norms=decay_biases_and_norms, **lr_mults)
    return module, datamodule


def settings_from(cfg: DictConfig) -> EvaluationSettings:
    """The ``evaluation`` settings, checked (``EvaluationSettings``)."""
    return EvaluationSettings(**OmegaConf.to_container(cfg.evaluation, resolve=True))


def restore_checkpoint(module: SiameseModule, checkpoint: Path) -> dict:
    """Load a checkpoint's weights into ``module``; return the checkpoint as read (``epoch``: 0-based)."""
    saved = read_checkpoint(checkpoint)
    module.load_state_dict(saved["state_dict"])
    return saved


def fit_evaluated_whitening(net, datamodule, alpha: float | None, checkpoint: Path | None,
                            saved: dict | None) -> dict | None:
    """``evaluation.whitening=α``: fit the learned whitening on the training images (``siamese.whitening``)
    and write it into the evaluated ``checkpoint`` (``saved``: that file as ``restore_checkpoint`` read it), so
    that evaluation, export, matching and the bundle all whiten alike. ``None`` when off, or (with a warning)
    when the data has no class ids to fit it on."""
    if alpha is None:
        return None
    if not datamodule.has_class_ids:
        warnings.warn(f"evaluation.whitening={alpha} needs the training images' class ids, which pair-list data "
                      "does not have: the embeddings are not whitened", stacklevel=2)
        return None
    fitted = fit_whitening(net, datamodule.images_dataloader("train"), alpha)
    if checkpoint is not None:
        saved["state_dict"].update({f"net.whitening.{k}": v.cpu() for k, v in net.whitening.state_dict().items()})
        atomic_save(checkpoint, lambda f: torch.save(saved, f))
    return fitted


def _finish(run_dir: Path, result: Evaluation, checkpoint: Path | None, digest: str | None, cfg: DictConfig) -> dict:
    report = result.report
    report["checkpoint"] = str(checkpoint) if checkpoint else None
    report["checkpoint_sha256"] = digest
    report["config"] = OmegaConf.to_container(cfg, resolve=True)
    write_report(run_dir, report, result.test_dist, result.test_y)
    print_summary(report, run_dir)
    return report


def check_shared_run_dir(cfg: DictConfig) -> None:
    """A run of several machines, or started by ``torchrun`` / SLURM, needs one run directory that every
    process names: Hydra's default is a timestamp, which differs between processes."""
    from hydra.core.hydra_config import HydraConfig

    external = any(key in os.environ for key in ("TORCHELASTIC_RUN_ID", "SLURM_JOB_ID"))
    if not HydraConfig.initialized() or (int(cfg.trainer.get("num_nodes", 1)) <= 1 and not external):
        return
    if not any(o.startswith("hydra.run.dir=") for o in HydraConfig.get().overrides.hydra):
        raise ValueError("a run of several machines or started by torchrun / SLURM writes into one run directory, "
                         "but Hydra's default is a timestamp that differs between processes: add "
                         "hydra.run.dir=<a directory every process sees> to the command")


def train(cfg: DictConfig, extra_callbacks: Sequence[pl.Callback] = ()) -> dict:
    """Fit the twin, reload the best checkpoint, export the gallery index and write the report.
    ``extra_callbacks`` join the configured ones (a sweep's pruning hook).

    The run directory is locked for the run (``RunDirectoryLock``): a second run into it fails at once.
    Under DDP every process trains; the process of global rank 0 alone holds the lock and writes the
    index and the report, and the others return ``{}``.
    """
    check_shared_run_dir(cfg)
    if rank_zero_only.rank != 0:          # a DDP process started for another rank: same run, no lock
        return _train(cfg, extra_callbacks)
    with RunDirectoryLock(Path(cfg.run_dir)):
        return _train(cfg, extra_callbacks)


def _train(cfg: DictConfig, extra_callbacks: Sequence[pl.Callback]) -> dict:
    run_dir = Path(cfg.run_dir)
    settings = settings_from(cfg)
    check_run_settings(cfg)
    index_spec = make(cfg.index)                       # config errors before any data is read
    resume = resolve_checkpoint(run_dir, cfg.get("ckpt_path"), key="ckpt_path")
    pl.seed_everything(int(cfg.seed), workers=True, verbose=False)
    module, datamodule = build(cfg, index_spec)
    callbacks = [make(c) for c in (cfg.get("callbacks") or {}).values() if c is not None] + list(extra_callbacks)
    checkpoint = next((c for c in callbacks if isinstance(c, ModelCheckpoint)), None)
    loggers = [make(c) for c in (cfg.get("logger") or {}).values() if c is not None]
    trainer = make(cfg.trainer, callbacks=callbacks, default_root_dir=str(run_dir), logger=loggers or False,
                   plugins=[AtomicCheckpointIO()])
    start = time.perf_counter()
    with warnings.catch_warnings():
        # The default data sits in memory; worker processes would only add start-up time.
        warnings.filterwarnings("ignore", ".*does not have many workers.*")
        trainer.fit(module, datamodule=datamodule, ckpt_path=str(resume) if resume else None)
    training = {"seconds": time.perf_counter() - start, "steps": int(trainer.global_step),
                "epochs": int(trainer.current_epoch), "processes": int(trainer.world_size),
                "images_seen": module.images_seen * int(trainer.world_size),   # equal batches per rank
                "rotated_classes": list(datamodule.rotation_angles)}
    if not trainer.is_global_zero:
        return {}

    best = Path(checkpoint.best_model_path) if checkpoint and checkpoint.best_model_path else None
    last = training["epochs"] - 1 if training["epochs"] else None        # no checkpoint: the final weights
    saved = restore_checkpoint(module, best) if best else None
    training["evaluated_epoch"] = int(saved["epoch"]) if saved else last
    training["whitening"] = fit_evaluated_whitening(module.net, datamodule, settings.whitening, best, saved)
    digest = sha256_file(best) if best else None
    result = evaluate_model(module.net, datamodule, settings, index_spec=index_spec)
    gallery_split, _ = datamodule.retrieval_splits
    save_index(run_dir, result.index, result.gallery_labels, split=gallery_split,
               classes=list(datamodule.source.classes), threshold=result.report["verification"]["threshold"],
               **checkpoint_reference(best, run_dir, digest),
               **index_description(index_spec, result.gallery, result.index, **cfg.recall_check),
               **model_description(cfg.model, cfg.data.source))
    result.report["training"] = training
    result.report["skipped_images"] = getattr(datamodule.source, "skipped", [])
    report = _finish(run_dir, result, best, digest, cfg)
    log_report_images(loggers, run_dir)
    return report


def evaluate(cfg: DictConfig) -> dict:
    """Re-evaluate a finished run: its config, checkpoint and index; rewrites the report files
    (under the run directory's lock, so never while a training writes into it)."""
    run_dir = Path(cfg.run_dir)
    train_cfg = run_config(run_dir)
    with RunDirectoryLock(run_dir):
        return _evaluate(cfg, run_dir, train_cfg)


def _evaluate(cfg: DictConfig, run_dir: Path, train_cfg: DictConfig) -> dict:
    if cfg.get("pairs") and not cfg.get("pairs_root"):
        raise ValueError(f"pairs={cfg.pairs} needs pairs_root=<folder of the images it names>")
    test_pairs = read_lfw_pairs(cfg.pairs, cfg.pairs_root) if cfg.get("pairs") else None
    settings = settings_from(cfg)
    if settings.whitening is not None:
        raise ValueError(f"evaluation.whitening={settings.whitening}: the whitening is fitted when a run trains "
                         "(scripts/train.py evaluation.whitening=α writes it into the checkpoint); evaluate.py "
                         "uses what the checkpoint holds: leave evaluation.whitening out here")
    train_cfg = train_cfg.copy()
    train_cfg.model = without_start_weights(train_cfg.model)      # the checkpoint replaces the start
    module, datamodule = build(train_cfg)
    checkpoint = resolve_checkpoint(run_dir, cfg.checkpoint)
    restore_checkpoint(module, checkpoint)
    index, meta = load_index(run_dir, verify=True)
    digest = sha256_file(checkpoint)
    labels = np.asarray(gallery_labels(run_dir, meta))
    if meta.get("checkpoint_sha256") != digest:
        warnings.warn(f"index.json was built from another checkpoint than {checkpoint.name}: "
                      "the gallery is embedded afresh for this evaluation (the index files are left as they are)",
                      stacklevel=2)
        index, labels = None, None
    result = evaluate_model(module.net, datamodule, settings, index=index,
                            gallery_labels=labels, test_pairs=test_pairs)
    return _finish(run_dir, result, checkpoint, digest, train_cfg)
