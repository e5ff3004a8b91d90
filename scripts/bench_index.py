"""FAISS index types on embedding-like vectors: build time, QPS, recall@10 vs exact, bytes/vector.

Data (generator stated so anyone can rerun it): ``n`` vectors, D = 64, from ``n / 200``
identities of 200 each — a random unit centre per identity plus Gaussian noise of standard
deviation ``--sigma`` per dimension, L2-normalised (numpy default_rng(0)); 1000 queries drawn the
same way from random identities (default_rng(1)). Each index is built once with the project's
default parameters (conf/index) and searched at its default and at one tuned search setting.
``--uniform`` replaces the clusters with uniform points on the sphere (the worst case).
Also measured: export throughput (images/s) of scripts/export.py on the digits written as PNGs.

    python scripts/bench_index.py [--n 1000000] [--threads 2]
    python scripts/bench_index.py --n 200000 --factory IVF256,PQ32x6 OPQ16,IVF256,PQ16x8   # other layouts
"""
from __future__ import annotations

import argparse
import io
import tempfile
import time
from pathlib import Path

import faiss
import numpy as np

from siamese.benchmarking import machine_header, write_digits_pngs
from siamese.index import FlatIndex, HNSWIndex, IVFFlatIndex, IVFPQIndex

ROOT = Path(__file__).resolve().parents[1]


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def clustered(n: int, dim: int, sigma: float, per_identity: int = 200) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    centres = unit(rng.normal(size=(max(1, n // per_identity), dim)))
    x = unit(centres[rng.integers(0, len(centres), n)] + sigma * rng.normal(size=(n, dim)).astype(np.float32))
    q_rng = np.random.default_rng(1)
    q = unit(centres[q_rng.integers(0, len(centres), 1000)] + sigma * q_rng.normal(size=(1000, dim)))
    return x, q


class FactoryIndex:
    """A FAISS ``index_factory`` string, trained on all vectors, searched at nprobe 16 first."""

    def __init__(self, factory: str):
        self.factory, self.params = factory, {"nprobe": 16}

    def build(self, x: np.ndarray):
        index = faiss.index_factory(x.shape[1], self.factory)
        index.train(x)
        index.add(x)
        faiss.ParameterSpace().set_index_parameter(index, "nprobe", 16)
        return index


def qps(index, q: np.ndarray, k: int = 10) -> tuple[float, np.ndarray]:
    start = time.perf_counter()
    _, ids = index.search(q, k)
    return len(q) / (time.perf_counter() - start), ids


def recall(ids: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(a) & set(b)) / truth.shape[1] for a, b in zip(ids.tolist(), truth.tolist())]))


def export_throughput() -> str:
    """Train a debug run, write the digits as PNGs, export them; return the export's own report line."""
    import contextlib

    from hydra import compose, initialize_config_dir

    from siamese.export import export
    from siamese.pipeline import train

    with tempfile.TemporaryDirectory() as tmp:
        write_digits_pngs(Path(tmp) / "png")
        with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
            cfg = compose("train", ["trainer=debug", f"run_dir={tmp}/run"])
            with contextlib.redirect_stdout(io.StringIO()):
                train(cfg)
            (Path(tmp) / "run" / ".hydra").mkdir()
            (Path(tmp) / "run" / ".hydra" / "config.yaml").write_text(__import__("omegaconf").OmegaConf.to_yaml(cfg))
            ecfg = compose("export", [f"run_dir={tmp}/run", f"images={tmp}/png", "num_workers=2"])
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
    parser.add_argument("--uniform", action="store_true")
    parser.add_argument("--factory", nargs="+", help="instead of conf/index's types: FAISS index_factory "
                        "strings, each searched at nprobe 16 and 64, beside exact Flat")
    args = parser.parse_args()
    faiss.omp_set_num_threads(args.threads)
    print(machine_header())
    print(f"faiss threads: {args.threads}")
    if args.uniform:
        rng = np.random.default_rng(0)
        x, q = unit(rng.normal(size=(args.n, args.dim))), unit(np.random.default_rng(1).normal(size=(1000, args.dim)))
    else:
        x, q = clustered(args.n, args.dim, args.sigma)
    data = "uniform on the sphere" if args.uniform else f"clustered, {args.n // 200} identities, sigma {args.sigma}"
    print(f"data: {args.n} x {args.dim} ({data}), 1000 queries, k = 10\n")

    # (name, spec, search knob, tuned values of that knob); the last row is a tuned *build*:
    # 12-bit codes (24 B + 8 B id = 1/8 of Flat's 256 B), the default 8-bit codes losing recall to quantisation
    cases = [("flat", FlatIndex(), None, []),
             ("ivf", IVFFlatIndex(), "nprobe", [64]),
             ("hnsw", HNSWIndex(), "efSearch", [128]),
             ("ivfpq", IVFPQIndex(), "nprobe", [64]),
             ("ivfpq 12-bit", IVFPQIndex(nbits=12), "nprobe", [64])]
    if args.factory:
        cases = [cases[0]] + [(f, FactoryIndex(f), "nprobe", [64]) for f in args.factory]
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
                        f"| {recall(ids, truth):.4f} | {size:.1f} |")
    print("| index | setting | build s | QPS | vs Flat | recall@10 | bytes / vector |")
    print("|---|---|---|---|---|---|---|")
    print("\n".join(rows).replace("| nan |", "| (same build) |"))
    if not args.factory:
        print(f"\nexport on digits (1797 PNGs, default tower, batch 256, 2 workers): {export_throughput()}")


if __name__ == "__main__":
    main()
