# The twentieth round's tables (docs/benchmarks.md), rebuilt from the logged runs without training:
#   bash docs/quality-logs/round20/tables.sh      (with the project's venv active)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../report.sh"    # BENCH on PYTHONPATH, TMP

python - "$HERE" <<'PY'
import os
import statistics
import sys
from bench_quality import print_mean_rows, print_paired_rows, read_runs
os.chdir(sys.argv[1])      # the logs' paths are relative to this folder
ROT = "ours (dcontrastive, data.rotated_classes=[90,180,270])"       # the digits default's runs (round 16)
V32 = "ours (dcontrastive, data.p=32 data.k=2)"                       # the glyphs default's runs (round 19)
WIDE = "ours (dcontrastive, model.channels=[48,96,192])"


def train_s(rows):
    return f"{statistics.mean(r['train_s'] for r in rows):.1f}"


# the check (the default at 948c900 against its logged runs), then the screens of seeds 0-2 x 3 folds, each
# variant run by run against the default's logged runs (digits: round 16, glyphs: round 19)
d_ref = read_runs("../round16/d_rot.jsonl", variant=ROT, seeds=(0, 1, 2))
g_ref = read_runs("../round19/g_p32k2.jsonl", variant=V32, seeds=(0, 1, 2))
print("## the default at 948c900, seed 0, minus its logged runs")
print_paired_rows("data", [("digits", read_runs("d_check.jsonl"), [r for r in d_ref if r["seed"] == 0]),
                           ("glyphs", read_runs("g_check.jsonl"), [r for r in g_ref if r["seed"] == 0])])
screens = [("d_pool.jsonl", "g_pool.jsonl", ("model.pool=max", "model.pool=gem")),
           ("d_s2.jsonl", "g_s2.jsonl", ("optimizer=adamw optimizer.weight_decay=0.1",
                                         "optimizer=adamw optimizer.weight_decay=0.5", "model.channels=[48,96,192]"))]
means, pairs = [("digits: the default", d_ref), ("glyphs: the default", g_ref)], []
for d_log, g_log, variants in screens:
    for knob in variants:
        v = f"ours (dcontrastive, {knob})"
        for data, path, ref in (("digits", d_log, d_ref), ("glyphs", g_log, g_ref)):
            means.append((f"{data}: {knob}", read_runs(path, variant=v, seeds=(0, 1, 2))))
            pairs.append((f"{data}: {knob} − the default", read_runs(path, variant=v, seeds=(0, 1, 2)), ref))
print("## the screens, seeds 0-2 x 3 folds: means, and run by run")
print_mean_rows("variant", means, spread=True)
print_paired_rows("comparison", pairs)
print("train s a fold: " + ", ".join(f"{name} {train_s(runs)}" for name, runs in means))

# the wider tower on glyph subsets (a screen only): 30 characters (20 training a fold) and 60 (40), P 32 x K 2,
# `auto`'s rotations on for both; references: the default on 30, rerun now; on 60, the nineteenth round's runs
default30, wide30 = read_runs("g30_default.jsonl"), read_runs("g30_wide.jsonl")
default60, wide60 = read_runs("../round19/g60_auto.jsonl"), read_runs("g60_wide.jsonl")
print("## glyph subsets, 16 px, seeds 0-2 x 3 folds: model.channels=[48,96,192] against the default")
print_mean_rows("subset, tower", [("30 characters, the default", default30), ("30 characters, [48,96,192]", wide30),
                                  ("60 characters, the default", default60), ("60 characters, [48,96,192]", wide60)],
                spread=True)
print_paired_rows("comparison", [("30 characters (20 training): [48,96,192] − the default", wide30, default30),
                                 ("60 characters (40 training): [48,96,192] − the default", wide60, default60)])
print("train s a fold: " + ", ".join(train_s(rows) for rows in (default30, wide30, default60, wide60)))

# the wider tower on fresh digits folds (seeds 3-8, a screen only), against the sixteenth round's runs of the default
d_fresh = read_runs("../round16/d_rot_fresh_a.jsonl", "../round16/d_rot_fresh_b.jsonl", variant=ROT)
wide_d_fresh = read_runs("d_wide_fresh.jsonl", variant=WIDE)
print("## digits, fresh seeds 3-8 x 3 folds: model.channels=[48,96,192] against the default")
print_mean_rows("tower", [("the default", d_fresh), ("[48,96,192]", wide_d_fresh)], spread=True)
print_paired_rows("comparison", [("[48,96,192] − the default", wide_d_fresh, d_fresh)])
print(f"train s a fold: {train_s(d_fresh)}, {train_s(wide_d_fresh)}")

# the wider tower's confirmation on glyphs: 16 px fresh seeds 3-5 and 24 px seeds 0-2, against the nineteenth
# round's runs of the default (P 32 x K 2); digits seeds 0-8 together (the screen and the fresh runs)
fresh = read_runs("../round19/g_p32k2_fresh.jsonl", variant=V32)
g24 = read_runs("../round19/g24_p32k2.jsonl", variant=V32)
digits = read_runs("../round16/d_rot.jsonl", variant=ROT) + d_fresh
wide_fresh, wide24 = read_runs("g_wide_fresh.jsonl", variant=WIDE), read_runs("g24_wide.jsonl", variant=WIDE)
wide_digits = read_runs("d_s2.jsonl", variant=WIDE) + wide_d_fresh
print("## the wider tower's confirmation: means, and run by run")
print_mean_rows("data, tower", [("glyphs 16 px seeds 3-5, the default", fresh), ("glyphs 16 px seeds 3-5, [48,96,192]", wide_fresh),
                                ("glyphs 24 px seeds 0-2, the default", g24), ("glyphs 24 px seeds 0-2, [48,96,192]", wide24),
                                ("digits seeds 0-8, the default", digits), ("digits seeds 0-8, [48,96,192]", wide_digits)],
                spread=True)
print_paired_rows("comparison", [("glyphs 16 px seeds 3-5: [48,96,192] − the default", wide_fresh, fresh),
                                 ("glyphs 24 px seeds 0-2: [48,96,192] − the default", wide24, g24),
                                 ("digits seeds 0-8: [48,96,192] − the default", wide_digits, digits)])
print(f"train s a fold, 24 px: {train_s(g24)}, {train_s(wide24)}")
PY
