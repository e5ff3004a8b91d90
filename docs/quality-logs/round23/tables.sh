# The twenty-third round's tables (docs/benchmarks.md), rebuilt from the logged runs without training:
#   bash docs/quality-logs/round23/tables.sh      (with the project's venv active)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../report.sh"    # BENCH on PYTHONPATH, TMP

# Each probe run (probe_whiten.py) trains once and evaluates every way from the same weights: the tables
# give each way minus the plain evaluation, run by run; then, for information, the goal reading with the
# learned whitening (lw1) against the peer's plain runs of round 22 on this machine.
python - "$HERE" <<'PY'
import json
import os
import sys
from bench_quality import print_mean_rows, print_paired_rows, read_runs
os.chdir(sys.argv[1])      # the logs' paths are relative to this folder
WAYS = ("lw0.1", "lw1", "pca0.1", "pca1", "pca3")
PEER = "PML ContrastiveLoss (defaults), P×K, model.embedding=concat, no weight decay, model.pool_grid=2, "
D_PEER = PEER + "optimizer.lr=0.0001, optimizer.head_lr_mult=1"
G_PEER = PEER + "optimizer.head_lr_mult=0.1, data.p=32, data.k=2"


def way(path, name):
    """One way's figures of a probe log as benchmark rows (seed, fold and the figures)."""
    runs = [json.loads(line) for line in open(path)]
    return [{"seed": r["seed"], "fold": r["fold"], **r[name]} for r in runs if name in r]


DATA = (("digits", "d"), ("glyphs 16 px", "g"), ("Fashion-MNIST 16 px", "f"), ("MNIST 16 px", "m"))
for title, logs in (("exploration, seed 0 x 3 folds", ("explore2", "explore")), ("confirmation, seeds 1-2 x 3 folds",
                                                                                  ("confirm",))):
    print(f"## {title}: each way minus the plain evaluation of the same run")
    rows = []
    for data, p in DATA:
        path = next((f"{p}_{log}.jsonl" for log in logs if os.path.exists(f"{p}_{log}.jsonl")), None)
        if path:
            rows += [(f"{data}: {w}", way(path, w), way(path, "plain")) for w in WAYS if way(path, w)]
    print_paired_rows("data: way", rows)

print("## the plain evaluation against the logged runs of round 22 on this machine (the check)")
print_paired_rows("data", [("digits, seed 0", way("d_explore.jsonl", "plain"), read_runs("../round22/d_check.jsonl")),
                           ("glyphs, seed 0", way("g_explore.jsonl", "plain"), read_runs("../round22/g_check.jsonl")),
                           ("Fashion-MNIST, seed 0", way("f_explore.jsonl", "plain"),
                            read_runs("../round22/f_default.jsonl", seeds=(0,)))])

# the goal reading, seeds 0-2 x 3 folds: ours whitened (lw1) and plain against the peer, plain (round 22's runs)
for data, p, peer_log, variant in (("digits", "d", "../round22/d_peer.jsonl", D_PEER),
                                   ("glyphs 16 px", "g", "../round22/g_peer.jsonl", G_PEER)):
    ours = {w: way(f"{p}_explore.jsonl", w) + way(f"{p}_confirm.jsonl", w) for w in ("plain", "lw1")}
    peer = read_runs(peer_log, variant=variant, seeds=(0, 1, 2))
    print(f"## the goal reading, {data}, seeds 0-2 x 3 folds")
    print_mean_rows("variant", [("ours, plain", ours["plain"]), ("ours, lw1", ours["lw1"]), ("the peer", peer)],
                    spread=True)
    print_paired_rows("comparison", [("ours plain − the peer", ours["plain"], peer),
                                     ("ours lw1 − the peer", ours["lw1"], peer)])
PY
