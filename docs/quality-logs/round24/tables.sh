# The twenty-fourth round's tables (docs/benchmarks.md), rebuilt from the logged runs without training:
#   bash docs/quality-logs/round24/tables.sh      (with the project's venv active)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../report.sh"    # BENCH on PYTHONPATH, TMP

# The check (the default against round 22's runs on this machine), the training screens (each variant run
# by run against the default's runs of round 22 on this machine, seeds 0-2 x 3 folds), then the test-time
# shifts probe (probe_tta.py: every way from the same weights, minus the plain evaluation).
python - "$HERE" <<'PY'
import json
import os
import sys
from bench_quality import print_paired_rows, read_runs
os.chdir(sys.argv[1])      # the logs' paths are relative to this folder
SEEDS = (0, 1, 2)
VARIANTS = {"screen": ("model.head_norm=batch",),
            "erase": ("augment=erase", "augment=erase augment.scale=[0.02,0.1]"),
            "nodecay": ("optimizer.decay_biases_and_norms=false",)}


def way(path, name):
    """One way's figures of a probe log as benchmark rows (seed, fold and the figures)."""
    return [{"seed": r["seed"], "fold": r["fold"], **r[name]} for r in map(json.loads, open(path))]


reference = {p: read_runs(f"../round22/{p}_check.jsonl", f"../round22/{p}_default.jsonl", seeds=SEEDS) for p in "dg"}
print("## the default at this round's commit, seed 0, minus round 22's runs on this machine (the check)")
print_paired_rows("data", [(data, read_runs(f"{p}_check.jsonl"), read_runs(f"../round22/{p}_check.jsonl"))
                           for data, p in (("digits", "d"), ("glyphs 16 px", "g"))])
print("## the training screens: each variant minus the default, seeds 0-2 x 3 folds")
rows = []
for log, knobs in VARIANTS.items():
    for knob in knobs:
        for data, p in (("digits", "d"), ("glyphs 16 px", "g")):
            if os.path.exists(f"{p}_{log}.jsonl"):
                rows.append((f"{knob}: {data}", read_runs(f"{p}_{log}.jsonl", variant=f"ours (dcontrastive, {knob})"),
                             reference[p]))
print_paired_rows("variant: data", rows)
print("## test-time shifts (seed 0 x 3 folds): each way minus the plain evaluation of the same run")
print_paired_rows("way: data", [(f"{w}: {data}", way(f"{p}_explore.jsonl", w), way(f"{p}_explore.jsonl", "plain"))
                                for w in ("s5", "s9", "s5x2") for data, p in (("digits", "d"), ("glyphs 16 px", "g"))])
print("## the probe's plain evaluation minus round 22's runs (the same weights as the check)")
print_paired_rows("data", [(data, way(f"{p}_explore.jsonl", "plain"), read_runs(f"../round22/{p}_check.jsonl"))
                           for data, p in (("digits", "d"), ("glyphs 16 px", "g"))])

# The fourth question's confirmation: the variant on fresh seeds and on the two folders, run by run against the
# default's runs on this machine (round 22; MNIST: round 23's plain figures, the default trained there), then the
# goal reading with it (its runs on seeds 0-5) against round 22's peer runs on this machine.
NODECAY = "ours (dcontrastive, optimizer.decay_biases_and_norms=false)"
mnist_default = way("../round23/m_explore.jsonl", "plain") + way("../round23/m_confirm.jsonl", "plain")
confirmations = [("digits, seeds 3-5", "d_confirm.jsonl", read_runs("../round22/d_default.jsonl", seeds=(3, 4, 5))),
                 ("glyphs 16 px, seeds 3-5", "g_confirm.jsonl", read_runs("../round22/g_default.jsonl", seeds=(3, 4, 5))),
                 ("Fashion-MNIST 16 px, seeds 0-2", "f_confirm.jsonl", read_runs("../round22/f_default.jsonl")),
                 ("MNIST 16 px, seeds 0-2", "m_confirm.jsonl", mnist_default)]
if any(os.path.exists(log) for _, log, _ in confirmations):
    print("## the confirmation: optimizer.decay_biases_and_norms=false minus the default")
    print_paired_rows("data", [(data, read_runs(log, variant=NODECAY), ref) for data, log, ref in confirmations
                               if os.path.exists(log)])
PEER = "PML ContrastiveLoss (defaults), P×K, model.embedding=concat, no weight decay, model.pool_grid=2, "
PEERS = {"d": PEER + "optimizer.lr=0.0001, optimizer.head_lr_mult=1",
         "g": PEER + "optimizer.head_lr_mult=0.1, data.p=32, data.k=2", "f": PEER + "optimizer.lr=0.0001, optimizer.head_lr_mult=1"}
if os.path.exists("d_confirm.jsonl") and os.path.exists("g_confirm.jsonl"):
    print("## the goal reading: ours (the default, and with optimizer.decay_biases_and_norms=false) minus the peer")
    rows = []
    for data, p, seeds in (("digits, seeds 0-5", "d", range(6)), ("glyphs 16 px, seeds 0-5", "g", range(6)),
                           ("Fashion-MNIST 16 px, seeds 0-2", "f", range(3))):
        if not os.path.exists(f"{p}_confirm.jsonl"):
            continue
        peer = read_runs(f"../round22/{p}_peer.jsonl", variant=PEERS[p], seeds=tuple(seeds))
        default = (read_runs(f"../round22/{p}_default.jsonl") if p == "f" else
                   read_runs(f"../round22/{p}_check.jsonl", f"../round22/{p}_default.jsonl"))
        nodecay = read_runs(f"{p}_confirm.jsonl", variant=NODECAY) + (
            [] if p == "f" else read_runs(f"{p}_nodecay.jsonl", variant=NODECAY))
        rows += [(f"{data}: the default", default, peer), (f"{data}: no decay on biases and norms", nodecay, peer)]
    print_paired_rows("data: ours", rows)
PY
