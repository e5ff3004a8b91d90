"""Galleries larger than memory: an index built from shards on disk, its memory, recall, and match latency.

Data: ``--n`` vectors, D = 64, written as ``--shards`` ``.npy`` files (the layout an export writes),
from ``n / 200`` identities — a random unit centre each plus Gaussian noise of standard deviation
``--sigma`` per dimension, L2-normalised; the centres from numpy default_rng(0), shard k's noise and
identity draws from default_rng(100 + k); 1000 queries from default_rng(1). Then, for each
``--build`` (``index=auto`` settings, ``index.max_memory=--max-memory``):

- the build (``AutoIndex.build_on_disk`` + ``save_index``) in a fresh process: wall time, and its
  peak resident memory, sampled every 50 ms from /proc (anonymous pages: what the build holds;
  file pages: shards read and the ``.ivfdata`` being written through a map, which the kernel can
  drop at any time);
- recall@10 of its 1000 queries against exact search, computed by streaming over the shards
  (``siamese.vectors.exact_knn``), and its queries per second (one batch of 1000);
- matching from the memory-mapped index directory in a fresh process (``load_index(mmap=True)``):
  start-up time and resident memory, then single-query latency p50 / p99 over the 1000 queries,
  cold (the index files dropped from the page cache with ``posix_fadvise(DONTNEED)`` first) and warm.

Exact search's queries per second (the Flat baseline) is measured on an in-memory Flat index when
the vectors fit ``--flat-limit``, else by streaming. ``--autofaiss-python PY`` also builds the same
shards with autofaiss (the peer; it needs numpy < 2, so it runs from its own environment PY) under
the same index memory budget (``max_index_memory_usage``; the build itself may use
``--autofaiss-available``, as autofaiss refuses to start below its own estimate), tuned by autofaiss to
the best recall within ``--autofaiss-query-ms`` a query (one build per value), and measures its build,
recall and QPS the same way (its index is one file read whole: no match-start figures).

    python scripts/bench/bench_gallery.py [--n 1000000] [--shards 8] [--build ivf ivfpq auto]
        [--max-memory 1GB] [--threads 2] [--autofaiss-python /path/to/venv/bin/python]
        [--autofaiss-query-ms 10 1] [--workdir DIR]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import faiss
import numpy as np
from peak_memory import PeakMemory

from siamese.index import AutoIndex, parse_bytes, recall_at_k
from siamese.vectors import ShardVectors, exact_knn

DIM, QUERIES, K = 64, 1000, 10


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def write_shards(folder: Path, n: int, shards: int, sigma: float) -> tuple[list[Path], np.ndarray]:
    """The gallery as ``shards`` files ``part-<k>.emb.npy`` (generated a shard at a time) and the queries."""
    centres = unit(np.random.default_rng(0).normal(size=(max(1, n // 200), DIM)))
    paths = []
    for k, size in enumerate(np.diff(np.linspace(0, n, shards + 1).astype(int))):
        rng = np.random.default_rng(100 + k)
        x = unit(centres[rng.integers(0, len(centres), size)] + sigma * rng.normal(size=(size, DIM)))
        paths.append(folder / f"part-{k:05d}.emb.npy")
        np.save(paths[-1], x)
    rng = np.random.default_rng(1)
    queries = unit(centres[rng.integers(0, len(centres), QUERIES)] + sigma * rng.normal(size=(QUERIES, DIM)))
    return paths, queries


def child_build(args) -> None:
    """In a fresh process: build ``args.layout`` from the shards into ``args.out``; print a JSON line."""
    from siamese.index_store import save_index
    faiss.omp_set_num_threads(args.threads)
    paths = sorted(Path(args.shard_dir).glob("part-*.emb.npy"))
    spec = AutoIndex(max_memory=args.max_memory, layout=None if args.layout == "auto" else args.layout,
                     flat_below=100_000, queries=QUERIES)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with PeakMemory() as baseline:
        pass                                          # the interpreter with numpy and FAISS loaded
    with PeakMemory() as memory:
        start = time.perf_counter()
        vectors = ShardVectors(paths)
        ivfdata = out / "index.0123456789ab.ivfdata"
        index = spec.build_on_disk(vectors, ivfdata)
        save_index(out, index, np.zeros(len(vectors), np.int64), ivfdata=ivfdata if ivfdata.is_file() else None)
        seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, **memory.peaks, "baseline": baseline.peaks["RssAnon"],
                      "params": spec.params}))


def child_match(args) -> None:
    """In a fresh process: open the index directory as a matcher does; single-query latencies, cold and warm."""
    from siamese.index_store import data_files, load_index, read_meta
    faiss.omp_set_num_threads(1)
    queries = np.load(args.queries)
    for path in data_files(args.out, read_meta(args.out)).values():          # cold: out of the page cache
        fd = os.open(path, os.O_RDONLY)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        os.close(fd)
    with PeakMemory() as memory:
        start = time.perf_counter()
        index, _ = load_index(args.out, mmap=True)
        if args.nprobe:
            faiss.extract_index_ivf(index).nprobe = args.nprobe
        startup = time.perf_counter() - start
    rss_after_load = memory.peaks["RssAnon"] + memory.peaks["RssFile"]
    rounds = {}
    for name in ("cold", "warm"):
        latencies = []
        for q in queries:
            start = time.perf_counter()
            index.search(q[None], K)
            latencies.append(time.perf_counter() - start)
        rounds[name] = [float(np.percentile(latencies, 50)) * 1e3, float(np.percentile(latencies, 99)) * 1e3]
    print(json.dumps({"startup_s": startup, "rss_after_load": rss_after_load, **rounds}))


def in_child(mode: str, python: str = sys.executable, **options) -> dict:
    argv = [python, __file__, "--child", mode, *[f"--{k.replace('_', '-')}={v}" for k, v in options.items()]]
    proc = subprocess.run(argv, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{mode} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


AUTOFAISS_BUILD = """
import json, sys, threading, time
from pathlib import Path
sys.path.insert(0, {here!r})
from peak_memory import PeakMemory
from autofaiss import build_index
with PeakMemory() as memory:
    start = time.perf_counter()
    _, infos = build_index(embeddings={emb!r}, index_path={index!r}, index_infos_path={infos!r},
                           max_index_memory_usage={budget!r}, current_memory_available={available!r},
                           max_index_query_time_ms={query_ms}, metric_type="l2", nb_cores={threads}, verbose=30)
    seconds = time.perf_counter() - start
print(json.dumps({{"seconds": seconds, **memory.peaks, "infos": infos}}))
"""


def autofaiss_build(python: str, shard_dir: Path, work: Path, budget: str, available: str, threads: int,
                    query_ms: float) -> dict:
    """autofaiss's ``build_index`` over the same shards (its numpy reader takes the folder of .npy files):
    the index held to ``budget`` (``max_index_memory_usage``), the build told it may use ``available``,
    tuned to the best recall within ``query_ms`` a query (``max_index_query_time_ms``)."""
    code = AUTOFAISS_BUILD.format(here=str(Path(__file__).parent), emb=str(shard_dir), index=str(work / "af.index"),
                                  infos=str(work / "af.json"), budget=budget.replace("B", ""),
                                  available=available.replace("B", ""), threads=threads, query_ms=query_ms)
    proc = subprocess.run([python, "-c", code], capture_output=True, text=True)
    if proc.returncode != 0 or not (work / "af.index").exists():
        # autofaiss logs why it declines (e.g. too little current_memory_available) and returns no index
        raise RuntimeError(f"autofaiss wrote no index:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", choices=("build", "match"), help=argparse.SUPPRESS)
    parser.add_argument("--shard-dir", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--layout", help=argparse.SUPPRESS)
    parser.add_argument("--queries", help=argparse.SUPPRESS)
    parser.add_argument("--nprobe", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--sigma", type=float, default=0.1)
    parser.add_argument("--build", nargs="*", default=["auto"], choices=("auto", "ivf", "ivfpq"),
                        help="index=auto with layout chosen (auto) or fixed (ivf, ivfpq); none: the peer alone")
    parser.add_argument("--max-memory", default="1GB")
    parser.add_argument("--flat-limit", default="4GB", help="measure Flat in memory below this size")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--autofaiss-python", help="a python with autofaiss installed: build the peer too")
    parser.add_argument("--autofaiss-available", default="4GB",
                        help="autofaiss's current_memory_available (it declines below its own estimate "
                             "or below 1.11× max_index_memory_usage)")
    parser.add_argument("--autofaiss-query-ms", type=float, nargs="+", default=[10.0],
                        help="autofaiss's max_index_query_time_ms (its default 10): it tunes the index to the best "
                             "recall within this single-query time; one build per value")
    parser.add_argument("--workdir", help="where the shards and indexes go (default: a temporary folder)")
    args = parser.parse_args()
    if args.child == "build":
        return child_build(args)
    if args.child == "match":
        return child_match(args)

    from common import machine_header  # imports torch: kept out of the measured child processes
    faiss.omp_set_num_threads(args.threads)
    print(machine_header())
    print(f"faiss threads: {args.threads}; index.max_memory={args.max_memory}\n")
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        work = Path(tmp)
        (work / "shards").mkdir()
        start = time.perf_counter()
        paths, queries = write_shards(work / "shards", args.n, args.shards, args.sigma)
        np.save(work / "queries.npy", queries)
        print(f"data: {args.n:,} x {DIM} float32 ({args.n * DIM * 4 / 1e9:.2f} GB) in {args.shards} shards, "
              f"{args.n // 200:,} identities, sigma {args.sigma}; written in {time.perf_counter() - start:.0f} s")
        vectors = ShardVectors(paths)
        start = time.perf_counter()
        _, truth = exact_knn(queries, vectors, K, faiss.METRIC_L2)
        exact_seconds = time.perf_counter() - start
        flat_qps, how = QUERIES / exact_seconds, "streamed over the shards"
        if vectors.nbytes <= parse_bytes("--flat-limit", args.flat_limit):
            flat = faiss.IndexFlatL2(DIM)
            for _, chunk in vectors.chunks():
                flat.add(chunk)
            start = time.perf_counter()
            flat.search(queries, K)
            flat_qps, how = QUERIES / (time.perf_counter() - start), "in memory"
            del flat
        print(f"exact search (ground truth): {exact_seconds:.1f} s streamed; Flat {flat_qps:,.1f} QPS ({how})\n")

        rows = []
        for layout in args.build:
            out = work / f"index-{layout}"
            built = in_child("build", shard_dir=work / "shards", out=out, layout=layout, max_memory=args.max_memory,
                             threads=args.threads)
            params = built["params"]
            from siamese.index_store import load_index
            index, _ = load_index(out, mmap=True)
            start = time.perf_counter()
            _, found = index.search(queries, K)
            speed = QUERIES / (time.perf_counter() - start)
            del index
            served = in_child("match", out=out, queries=work / "queries.npy")
            rows.append((f"ours: index=auto layout={layout}", params.get("layout"),
                         f"nlist {params.get('nlist')}, nprobe {params.get('nprobe')}"
                         + (f", PQ{params['m']}x{params['nbits']}" if "m" in params else ""),
                         built, recall_at_k(found, truth), speed, served))
        for query_ms in args.autofaiss_query_ms if args.autofaiss_python else []:
            built = autofaiss_build(args.autofaiss_python, work / "shards", work, args.max_memory,
                                    args.autofaiss_available, args.threads, query_ms)
            index = faiss.read_index(str(work / "af.index"))
            faiss.ParameterSpace().set_index_parameters(index, built["infos"].get("index_param", ""))
            start = time.perf_counter()
            _, found = index.search(queries, K)
            speed = QUERIES / (time.perf_counter() - start)
            rows.append((f"autofaiss build_index, max_index_query_time_ms={query_ms:g}",
                         built["infos"].get("index_key"), built["infos"].get("index_param"), built,
                         recall_at_k(found, truth), speed, None))
        print("| build | layout | parameters | build s | peak RSS anon (before building) / file GB | recall@10 | "
              "QPS (1000 batched) | "
              "vs Flat | match start s / RSS GB | p50 / p99 ms cold | p50 / p99 ms warm |")
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        for name, layout, params, built, recall, speed, served in rows:
            match = (f"{served['startup_s']:.2f} / {served['rss_after_load'] / 1e9:.2f} | "
                     f"{served['cold'][0]:.2f} / {served['cold'][1]:.2f} | {served['warm'][0]:.2f} / "
                     f"{served['warm'][1]:.2f}") if served else "— | — | —"
            before = f" ({built['baseline'] / 1e9:.2f})" if "baseline" in built else ""
            print(f"| {name} | {layout} | {params} | {built['seconds']:.0f} | {built['RssAnon'] / 1e9:.2f}{before} / "
                  f"{built['RssFile'] / 1e9:.2f} | {recall:.4f} | {speed:,.0f} | {speed / flat_qps:,.0f}× | {match} |")


if __name__ == "__main__":
    main()
