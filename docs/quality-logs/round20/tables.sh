# The twentieth round's tables (docs/benchmarks.md), rebuilt from the logged runs without training:
#   bash docs/quality-logs/round20/tables.sh      (with the project's venv active)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../report.sh"    # BENCH on PYTHONPATH, TMP

# the check (the default at 948c900 against its logged runs), then the screens of seeds 0-2 x 3 folds, each
# variant run by run against the default's logged runs (digits: round 16, glyphs: round 19)
python - "$HERE" <<'PY'
import statistics
import sys
from bench_quality import print_mean_rows, print_paired_rows, read_log
here = sys.argv[1]
take = lambda path, variant=None, seeds=(0, 1, 2): [r for r in read_log(f"{here}/{path}")
                                                    if (variant is None or r["variant"] == variant) and r["seed"] in seeds]
d_ref = take("../round16/d_rot.jsonl", "ours (dcontrastive, data.rotated_classes=[90,180,270])")
g_ref = take("../round19/g_p32k2.jsonl", "ours (dcontrastive, data.p=32 data.k=2)")
print("## the default at 948c900, seed 0, minus its logged runs")
print_paired_rows("data", [("digits", take("d_check.jsonl"), [r for r in d_ref if r["seed"] == 0]),
                           ("glyphs", take("g_check.jsonl"), [r for r in g_ref if r["seed"] == 0])])
screens = [("d_pool.jsonl", "g_pool.jsonl", ("model.pool=max", "model.pool=gem")),
           ("d_s2.jsonl", "g_s2.jsonl", ("optimizer=adamw optimizer.weight_decay=0.1",
                                         "optimizer=adamw optimizer.weight_decay=0.5", "model.channels=[48,96,192]"))]
means, pairs = [("digits: the default", d_ref), ("glyphs: the default", g_ref)], []
for d_log, g_log, variants in screens:
    for knob in variants:
        v = f"ours (dcontrastive, {knob})"
        for data, path, ref in (("digits", d_log, d_ref), ("glyphs", g_log, g_ref)):
            means.append((f"{data}: {knob}", take(path, v)))
            pairs.append((f"{data}: {knob} − the default", take(path, v), ref))
print("## the screens, seeds 0-2 x 3 folds: means, and run by run")
print_mean_rows("variant", means, spread=True)
print_paired_rows("comparison", pairs)
print("train s a fold: " + ", ".join(f"{name} {statistics.mean(r['train_s'] for r in runs):.1f}" for name, runs in means))
PY

# the wider tower on glyph subsets (a screen only): 30 characters (20 training a fold) and 60 (40), P 32 x K 2,
# `auto`'s rotations on for both; references: the default on 30, rerun now; on 60, the nineteenth round's runs
python - "$HERE" <<'PY'
import statistics
import sys
from bench_quality import print_mean_rows, print_paired_rows, read_log
here = sys.argv[1]
wide30 = read_log(f"{here}/g30_wide.jsonl")
default30, wide60, default60 = (read_log(f"{here}/g30_default.jsonl"), read_log(f"{here}/g60_wide.jsonl"),
                                read_log(f"{here}/../round19/g60_auto.jsonl"))
print("## glyph subsets, 16 px, seeds 0-2 x 3 folds: model.channels=[48,96,192] against the default")
print_mean_rows("subset, tower", [("30 characters, the default", default30), ("30 characters, [48,96,192]", wide30),
                                  ("60 characters, the default", default60), ("60 characters, [48,96,192]", wide60)],
                spread=True)
print_paired_rows("comparison", [("30 characters (20 training): [48,96,192] − the default", wide30, default30),
                                 ("60 characters (40 training): [48,96,192] − the default", wide60, default60)])
print("train s a fold: " + ", ".join(f"{statistics.mean(r['train_s'] for r in rows):.1f}"
                                     for rows in (default30, wide30, default60, wide60)))
PY

# the wider tower on fresh digits folds (seeds 3-8, a screen only), against the sixteenth round's runs of the default
python - "$HERE" <<'PY'
import statistics
import sys
from bench_quality import print_mean_rows, print_paired_rows, read_log
here = sys.argv[1]
ROT = "ours (dcontrastive, data.rotated_classes=[90,180,270])"
default = [r for name in ("d_rot_fresh_a", "d_rot_fresh_b") for r in read_log(f"{here}/../round16/{name}.jsonl")
           if r["variant"] == ROT]
wide = read_log(f"{here}/d_wide_fresh.jsonl")
print("## digits, fresh seeds 3-8 x 3 folds: model.channels=[48,96,192] against the default")
print_mean_rows("tower", [("the default", default), ("[48,96,192]", wide)], spread=True)
print_paired_rows("comparison", [("[48,96,192] − the default", wide, default)])
print(f"train s a fold: {statistics.mean(r['train_s'] for r in default):.1f}, {statistics.mean(r['train_s'] for r in wide):.1f}")
PY

# the wider tower's confirmation on glyphs (first half): 16 px fresh seeds 3-5 and 24 px seeds 0-2, against the
# nineteenth round's runs of the default (P 32 x K 2); digits seeds 0-8 together (the screen and the fresh runs)
python - "$HERE" <<'PY'
import statistics
import sys
from bench_quality import print_mean_rows, print_paired_rows, read_log
here = sys.argv[1]
V32, WIDE = "ours (dcontrastive, data.p=32 data.k=2)", "ours (dcontrastive, model.channels=[48,96,192])"
ROT = "ours (dcontrastive, data.rotated_classes=[90,180,270])"
take = lambda path, variant: [r for r in read_log(f"{here}/{path}") if r["variant"] == variant]
fresh, g24 = take("../round19/g_p32k2_fresh.jsonl", V32), take("../round19/g24_p32k2.jsonl", V32)
digits = take("../round16/d_rot.jsonl", ROT) + take("../round16/d_rot_fresh_a.jsonl", ROT) + take("../round16/d_rot_fresh_b.jsonl", ROT)
wide_fresh, wide24 = take("g_wide_fresh.jsonl", WIDE), take("g24_wide.jsonl", WIDE)
wide_digits = take("d_s2.jsonl", WIDE) + take("d_wide_fresh.jsonl", WIDE)
print("## the wider tower's confirmation: means, and run by run")
print_mean_rows("data, tower", [("glyphs 16 px seeds 3-5, the default", fresh), ("glyphs 16 px seeds 3-5, [48,96,192]", wide_fresh),
                                ("glyphs 24 px seeds 0-2, the default", g24), ("glyphs 24 px seeds 0-2, [48,96,192]", wide24),
                                ("digits seeds 0-8, the default", digits), ("digits seeds 0-8, [48,96,192]", wide_digits)],
                spread=True)
print_paired_rows("comparison", [("glyphs 16 px seeds 3-5: [48,96,192] − the default", wide_fresh, fresh),
                                 ("glyphs 24 px seeds 0-2: [48,96,192] − the default", wide24, g24),
                                 ("digits seeds 0-8: [48,96,192] − the default", wide_digits, digits)])
print("train s a fold, 24 px: " + ", ".join(f"{statistics.mean(r['train_s'] for r in rows):.1f}" for rows in (g24, wide24)))
PY
