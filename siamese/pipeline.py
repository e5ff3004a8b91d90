"""``train(cfg)``: build from config, fit, export the gallery to FAISS, evaluate, report.

Everything a run writes lands in ``cfg.run_dir``::

    checkpoints/best.ckpt, checkpoints/last.ckpt   Lightning checkpoints (best = highest val/auc)
    logs/metrics.csv                                per-step / per-epoch logged values
    index.faiss, index.json                         FAISS IndexFlatL2 of the gallery + metadata
    report.json                                     held-out verification and retrieval figures
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.loggers import CSVLogger
from torch import nn

from siamese import metrics
from siamese.data import ImageDataset, PairDataModule
from siamese.index import atomic_write_json, build_flat_index, embed, save_index, search
from siamese.module import SiameseModule

REPORT_FILE = "report.json"


def build(cfg: DictConfig) -> tuple[SiameseModule, PairDataModule]:
    """Model and data from config, in the order that reports config errors before loading data."""
    loss = instantiate(cfg.loss)
    net = instantiate(cfg.model)
    scheduler = instantiate(cfg.scheduler) if cfg.get("scheduler") else None
    module = SiameseModule(net, loss, instantiate(cfg.optimizer), scheduler)
    data_channels = cfg.data.source.get("channels")
    if data_channels is not None and int(data_channels) != net.in_channels:
        raise ValueError(
            f"model.in_channels={net.in_channels} but data.source.channels={data_channels}: they must match"
        )
    return module, instantiate(cfg.data)


def pair_distances(net: nn.Module, datamodule: PairDataModule, pairs: np.ndarray,
                   device) -> np.ndarray:
    """Euclidean distances ``(P,)`` of the model embeddings of pairs ``(i, j, y)``; each image once."""
    positions, inverse = np.unique(pairs[:, :2], return_inverse=True)
    emb, _ = embed(net, datamodule._loader(ImageDataset(datamodule.source, positions)), device)
    inverse = inverse.reshape(-1, 2)
    return np.linalg.norm(emb[inverse[:, 0]] - emb[inverse[:, 1]], axis=1)


def verification_report(val: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray]) -> dict:
    """Test-pair figures; the decision threshold is chosen on the validation pairs."""
    threshold, val_accuracy = metrics.best_threshold(*val)
    eer, eer_threshold = metrics.equal_error_rate(*test)
    return {
        "auc": metrics.roc_auc(*test),
        "eer": eer,
        "eer_threshold": eer_threshold,
        "threshold": threshold,
        "accuracy": metrics.accuracy_at(*test, threshold),
        "val_auc": metrics.roc_auc(*val),
        "val_accuracy": val_accuracy,
        "pairs": int(len(test[1])),
    }


def export_and_evaluate(net: nn.Module, datamodule: PairDataModule, run_dir: Path,
                        checkpoint: str | None) -> dict:
    """Embed the gallery into a FAISS index in ``run_dir``, evaluate, return the report dict."""
    device = next(net.parameters()).device
    gallery_split, query_split = datamodule.retrieval_splits
    gallery, gallery_labels = embed(net, datamodule.images_dataloader(gallery_split), device)
    queries, query_labels = embed(net, datamodule.images_dataloader(query_split), device)
    index = build_flat_index(gallery)

    pairs = {name: datamodule.fixed_pairs[name] for name in ("val", "test")}
    dists = {name: pair_distances(net, datamodule, p, device) for name, p in pairs.items()}
    verification = verification_report(*((dists[n], pairs[n][:, 2]) for n in ("val", "test")))

    _, ids = search(index, queries, k=1)
    retrieval = {
        "p_at_1": metrics.precision_at_1(query_labels, gallery_labels[ids]),
        "gallery": gallery_split, "queries": query_split,
        "gallery_size": int(len(gallery_labels)), "query_count": int(len(query_labels)),
    }
    save_index(run_dir, index, gallery_labels, checkpoint=checkpoint, split=gallery_split,
               classes=list(datamodule.source.classes), threshold=verification["threshold"])
    return {"checkpoint": checkpoint, "split": datamodule.split, "verification": verification,
            "retrieval": retrieval}


def _print_summary(report: dict, run_dir: Path) -> None:
    v, r = report["verification"], report["retrieval"]
    print(
        f"\n== siamese run: {run_dir}\n"
        f"   test pairs ({v['pairs']}): AUC {v['auc']:.4f}  EER {v['eer']:.4f}  "
        f"accuracy {v['accuracy']:.4f} at dist <= {v['threshold']:.4f} (chosen on val)\n"
        f"   retrieval: P@1 {r['p_at_1']:.4f} ({r['query_count']} {r['queries']} queries vs "
        f"{r['gallery_size']} {r['gallery']} gallery images)\n"
        f"   wrote index.faiss, index.json, {REPORT_FILE}; checkpoint {report['checkpoint']}"
    )


def train(cfg: DictConfig) -> dict:
    """Fit the twin, reload the best checkpoint, export the gallery index and write the report."""
    run_dir = Path(cfg.run_dir)
    pl.seed_everything(int(cfg.seed), workers=True, verbose=False)
    module, datamodule = build(cfg)
    checkpoint = ModelCheckpoint(dirpath=run_dir / "checkpoints", filename="best",
                                 monitor="val/auc", mode="max", save_last=True)
    trainer = instantiate(cfg.trainer, callbacks=[checkpoint], default_root_dir=str(run_dir),
                          logger=CSVLogger(str(run_dir), name="logs", version=""))
    with warnings.catch_warnings():
        # The default data sits in memory; worker processes would only add start-up time.
        warnings.filterwarnings("ignore", ".*does not have many workers.*")
        trainer.fit(module, datamodule=datamodule)

    best = checkpoint.best_model_path or None
    if best:
        state = torch.load(best, map_location="cpu", weights_only=False)["state_dict"]
        module.load_state_dict(state)
    report = export_and_evaluate(module.net, datamodule, run_dir, best)
    report["config"] = OmegaConf.to_container(cfg, resolve=True)
    atomic_write_json(run_dir / REPORT_FILE, report)
    _print_summary(report, run_dir)
    return report
