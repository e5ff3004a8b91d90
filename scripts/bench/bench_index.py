"""FAISS index types on embedding-like vectors: build time, QPS, recall@10 vs exact, bytes/vector.

Data (generators stated so anyone can rerun them): ``n`` vectors, D = 64, from ``n / 200``
identities of 200 each — a random unit centre per identity plus Gaussian noise, L2-normalised
(numpy default_rng(0)); 1000 queries drawn the same way from random identities (default_rng(1)).
The noise has a total variance of ``D · sigma²`` in every generator; ``--data`` sets its shape:

- ``isotropic``: standard deviation ``sigma`` in every direction — no direction carries more of
  the within-identity variation than another (the hardest case for a quantiser at a given spread);
- ``tower``: the shape of a trained tower's embeddings — the script trains the default recipe
  (``scripts/train.py loss=dcontrastive model.embedding=last`` on the digits: a 64-dimensional
  model embedding) and uses the eigenvalues of the pooled
  within-class covariance of its gallery embeddings, along a random orthonormal basis
  (default_rng(2)), rescaled to the same total variance;
- ``uniform``: uniform points on the sphere, no identities (the worst case for IVF).

Each index is built once with the project's default parameters (conf/index) and searched at its
default and at one tuned search setting. Also measured: export throughput (images/s) of
scripts/export.py on the digits written as PNGs, with the trained tower.

    python scripts/bench/bench_index.py [--n 1000000] [--threads 2] [--data isotropic|tower|uniform]
    python scripts/bench/bench_index.py --n 200000 --factory IVF256,PQ32x6 OPQ16,IVF256,PQ16x8   # other layouts
    python scripts/bench/bench_index.py --data tower --factory IVF1024,PQ16 --nprobe 64 128 256
"""
from __future__ import annotations

import argparse
import contextlib
import io
import tempfile
import time
from pathlib import Path

import faiss
import numpy as np
from omegaconf import OmegaConf

from common import compose_config, machine_header, write_digits_pngs
from siamese.export import export
from siamese.index import FlatIndex, HNSWIndex, IVFFlatIndex, IVFPQIndex, recall_at_k
from siamese.index_store import gallery_labels, load_index
from siamese.pipeline import train

ROOT = Path(__file__).resolve().parents[2]


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def clustered(n: int, dim: int, sigma: float, spectrum: np.ndarray | None = None,
              per_identity: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """``(x (n, dim), queries (1000, dim))``: identity centres plus noise of total variance ``dim · sigma²``.

    ``spectrum`` (``(dim,)`` variances, any scale): the noise's variance along each axis of a random
    orthonormal basis, rescaled to that total; ``None``: ``sigma²`` along every axis.
    """
    if spectrum is not None and len(spectrum) != dim:
        raise ValueError(f"the spectrum has {len(spectrum)} values, the vectors {dim} dimensions")
    basis, _ = np.linalg.qr(np.random.default_rng(2).normal(size=(dim, dim)))

    def noise(rng: np.random.Generator, count: int) -> np.ndarray:
        if spectrum is None:
            return sigma * rng.normal(size=(count, dim))
        return (rng.normal(size=(count, dim)) * np.sqrt(spectrum / spectrum.sum() * dim * sigma ** 2)) @ basis.T

    rng = np.random.default_rng(0)
    centres = unit(rng.normal(size=(max(1, n // per_identity), dim)))
    x = unit(centres[rng.integers(0, len(centres), n)] + noise(rng, n))
    q_rng = np.random.default_rng(1)
    q = unit(centres[q_rng.integers(0, len(centres), 1000)] + noise(q_rng, 1000))
    return x, q


def within_class_spectrum(run_dir: Path) -> np.ndarray:
    """Eigenvalues, largest first, of the pooled within-class covariance of a run's gallery index."""
    index, meta = load_index(run_dir)
    x, y = index.reconstruct_n(0, index.ntotal), np.asarray(gallery_labels(run_dir, meta))
    residuals = np.concatenate([x[y == c] - x[y == c].mean(axis=0) for c in np.unique(y)])
    return np.sort(np.linalg.eigvalsh(np.cov(residuals.T)))[::-1].clip(min=0.0)


class FactoryIndex:
    """A FAISS ``index_factory`` string, trained on all vectors, searched at ``nprobe`` first."""

    def __init__(self, factory: str, nprobe: int = 16):
        self.factory, self.params = factory, {"nprobe": nprobe}

    def build(self, x: np.ndarray):
        index = faiss.index_factory(x.shape[1], self.factory)
        index.train(x)
        index.add(x)
        faiss.ParameterSpace().set_index_parameter(index, "nprobe", self.params["nprobe"])
        return index


def qps(index, q: np.ndarray, k: int = 10) -> tuple[float, np.ndarray]:
    start = time.perf_counter()
    _, ids = index.search(q, k)
    return len(q) / (time.perf_counter() - start), ids


def train_default(run_dir: Path) -> Path:
    """Train the default recipe (``loss=dcontrastive`` on the digits) into ``run_dir``, quietly.

    With ``model.embedding=last``: a 64-dimensional model embedding (the last stage), the
    dimension of this benchmark's vectors (the default ``concat`` would give 3 × 64).
    """
    cfg = compose_config("train", ["loss=dcontrastive", "model.embedding=last", f"run_dir={run_dir}",
                                   "trainer.enable_progress_bar=false"])
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        train(cfg)
    (run_dir / ".hydra").mkdir(exist_ok=True)
    (run_dir / ".hydra" / "config.yaml").write_text(OmegaConf.to_yaml(cfg))
    return run_dir


def export_throughput(run_dir: Path, tmp: Path) -> str:
    """Write the digits as PNGs, export them with the run's tower; return the export's own report line."""
    write_digits_pngs(tmp / "png")
    ecfg = compose_config("export", [f"run_dir={run_dir}", f"images={tmp}/png", f"out={tmp}/exported",
                                     "num_workers=2"])
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        export(ecfg)
    return buffer.getvalue().strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--sigma", type=float, default=0.1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--data", choices=("isotropic", "tower", "uniform"), default="isotropic",
                        help="the shape of the within-identity noise (see the module docstring)")
    parser.add_argument("--factory", nargs="+", help="instead of conf/index's types: FAISS index_factory "
                        "strings, each searched at every --nprobe, beside exact Flat")
    parser.add_argument("--nprobe", type=int, nargs="+", default=[16, 64], help="with --factory: nprobe values")
    args = parser.parse_args()
    faiss.omp_set_num_threads(args.threads)
    print(machine_header())
    print(f"faiss threads: {args.threads}")
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = train_default(Path(tmp) / "run") if args.data == "tower" or not args.factory else None
        if args.data == "uniform":
            x = unit(np.random.default_rng(0).normal(size=(args.n, args.dim)))
            q = unit(np.random.default_rng(1).normal(size=(1000, args.dim)))
            data = "uniform on the sphere"
        else:
            spectrum = within_class_spectrum(run_dir) if args.data == "tower" else None
            x, q = clustered(args.n, args.dim, args.sigma, spectrum)
            data = f"{args.data} noise, {args.n // 200} identities, sigma {args.sigma}"
            if spectrum is not None:
                share = np.cumsum(spectrum) / spectrum.sum()
                data += (f"; the trained tower's within-class variance: 50 % in {np.searchsorted(share, 0.5) + 1}, "
                         f"90 % in {np.searchsorted(share, 0.9) + 1} of {args.dim} directions")
        print(f"data: {args.n} x {args.dim} ({data}), 1000 queries, k = 10\n")
        export_line = export_throughput(run_dir, Path(tmp)) if not args.factory else None

    # (name, spec, search knob, tuned values of that knob); the last row is a tuned *build*:
    # 12-bit codes (24 B code + 8 B id, plus 1 B of codebooks: just over 1/8 of Flat's 256 B)
    cases = [("flat", FlatIndex(), None, []),
             ("ivf", IVFFlatIndex(), "nprobe", [64]),
             ("hnsw", HNSWIndex(), "efSearch", [128]),
             ("ivfpq", IVFPQIndex(), "nprobe", [64]),
             ("ivfpq 12-bit", IVFPQIndex(nbits=12), "nprobe", [64])]
    if args.factory:
        cases = [cases[0]] + [(f, FactoryIndex(f, args.nprobe[0]), "nprobe", args.nprobe[1:]) for f in args.factory]
    rows, flat_qps, truth = [], None, None
    for name, spec, knob, tuned in cases:
        start = time.perf_counter()
        index = spec.build(x)
        build = time.perf_counter() - start
        size = faiss.serialize_index(index).nbytes / args.n
        params = {k: v for k, v in spec.params.items() if k not in ("metric", "train_size")}
        settings = [None] + tuned
        if name.endswith("12-bit"):
            params = {"tuned build": params}
        for value in settings:
            if value is not None:
                faiss.ParameterSpace().set_index_parameter(index, knob, value)
            speed, ids = qps(index, q)
            if name == "flat":
                flat_qps, truth = speed, ids
            label = params if value is None else {knob: value}
            rows.append(f"| {name} | {'default ' if value is None else 'tuned '}{label} | "
                        f"{build if value is None else float('nan'):.1f} | {speed:,.0f} | {speed / flat_qps:.1f}× "
                        f"| {recall_at_k(ids, truth):.4f} | {size:.1f} |")
    print("| index | setting | build s | QPS | vs Flat | recall@10 | bytes / vector |")
    print("|---|---|---|---|---|---|---|")
    print("\n".join(rows).replace("| nan |", "| (same build) |"))
    if export_line:
        print(f"\nexport on digits (1797 PNGs, the trained tower, batch 256, 2 workers): {export_line}")


if __name__ == "__main__":
    main()
