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
PY
