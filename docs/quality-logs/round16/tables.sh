# The sixteenth round's tables (docs/benchmarks.md), rebuilt from the logged runs without training:
#   bash docs/quality-logs/round16/tables.sh      (with the project's venv active)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../report.sh"    # R11, BENCH, TMP, DEF, PEER_D, PEER_G, report()

# the screen: each training class rotated as new classes, against the eleventh round's default runs (seeds 0-2)
ROT=("dcontrastive data.rotated_classes=[90]" "dcontrastive data.rotated_classes=[90,270]"
     "dcontrastive data.rotated_classes=[90,180,270]")
report "screen: digits, seeds 0-2, against the default" "$R11/d012.jsonl d_rot.jsonl" \
  --seeds 0 1 2 --variants "ours (" --losses "$DEF" "${ROT[@]}" --against "m1=0.2 optimizer"
report "screen: glyphs 16 px, seeds 0-2, against the default" "$R11/g012.jsonl g_rot.jsonl" \
  --seeds 0 1 2 --glyphs --data-set data.source.image_size=16 --variants "ours (" --losses "$DEF" "${ROT[@]}" \
  --against "m1=0.2 optimizer"

python - "$HERE" "$R11" <<'PY'
import sys
import numpy as np
from bench_quality import print_paired_rows, read_log
from siamese.data.sampling import class_folds
here, r11 = sys.argv[1:]
old = "ours (dcontrastive, loss.m1=0.2 optimizer.weight_decay=0.001)"      # the default, as the eleventh round named it
logged = lambda name, keep: [r for r in read_log(f"{r11}/{name}.jsonl") if r["variant"] == keep]
default, raw = logged("d012", old), logged("d012_peer", "raw pixels")

# today's code reproduces the eleventh round's default runs (seed 0, three folds, digits)
print("## the default rerun today minus its logged runs")
print_paired_rows("data", [("digits", read_log(f"{here}/d_check.jsonl"), default)])

# every rotation against raw pixels (the default's own row for comparison), digits seeds 0-2
rotated = {angles: [r for r in read_log(f"{here}/d_rot.jsonl") if r["variant"].endswith(f"={angles})")]
           for angles in ("[90]", "[90,270]", "[90,180,270]")}
print("## digits, seeds 0-2: minus raw pixels run by run")
print_paired_rows("variant − raw pixels", [("the default", default, raw)] +
                  [(f"rotated_classes={angles}", runs, raw) for angles, runs in rotated.items()])

# a 180-degree turn makes a 6 of a 9: the folds that hold out one of the two and train on the other
print("## digits, seeds 0-2: rotated_classes=[90,180,270] minus the default, by whether 6 and 9 are split")
base = {(r["seed"], r["fold"]): r for r in default}
split = lambda r: (6 in held(r)) != (9 in held(r))
held = lambda r: class_folds(np.arange(10), 3, r["seed"])[r["fold"]].tolist()
for r in rotated["[90,180,270]"]:
    print(f"seed {r['seed']} fold {r['fold']} held out {held(r)}{' (6 / 9 split)' if split(r) else ''}: "
          f"Δ AUC {r['auc'] - base[r['seed'], r['fold']]['auc']:+.4f}, "
          f"Δ MAP@R {r['map_at_r'] - base[r['seed'], r['fold']]['map_at_r']:+.4f}")
print_paired_rows("folds", [(name, [r for r in rotated["[90,180,270]"] if split(r) == want],
                             [base[r["seed"], r["fold"]] for r in rotated["[90,180,270]"] if split(r) == want])
                            for name, want in (("6 / 9 split", True), ("6 and 9 on one side", False))])
PY

# information only (the rules' addition): all three quarter turns on fresh digits seeds 3-8, run by run
python - "$HERE" "$R11" <<'PY'
import sys
import numpy as np
from bench_quality import print_mean_rows, print_paired_rows, read_log
from siamese.data.sampling import class_folds
here, r11 = sys.argv[1:]
old = "ours (dcontrastive, loss.m1=0.2 optimizer.weight_decay=0.001)"
take = lambda path, keep: [r for r in read_log(path) if r["variant"] == keep]
turns = read_log(f"{here}/d_rot_fresh_a.jsonl") + read_log(f"{here}/d_rot_fresh_b.jsonl")
default = take(f"{r11}/d2.jsonl", old) + take(f"{here}/../round14/d16g.jsonl", "ours (dcontrastive)")
raw = take(f"{r11}/d_peer.jsonl", "raw pixels") + take(f"{here}/../round14/d16g.jsonl", "raw pixels")
print("## digits, fresh seeds 3-8 x 3 folds: means, and run by run")
print_mean_rows("variant", [("rotated_classes=[90,180,270]", turns), ("the default", default), ("raw pixels", raw)])
split = lambda r: (6 in held(r)) != (9 in held(r))
held = lambda r: class_folds(np.arange(10), 3, r["seed"])[r["fold"]].tolist()
base = {(r["seed"], r["fold"]): r for r in default}
print_paired_rows("comparison", [("[90,180,270] − the default", turns, default),
                                 ("[90,180,270] − raw pixels", turns, raw),
                                 ("the default − raw pixels", default, raw),
                                 ("[90,180,270] − the default, 6 / 9 split", [r for r in turns if split(r)],
                                  [base[r["seed"], r["fold"]] for r in turns if split(r)]),
                                 ("[90,180,270] − the default, 6 and 9 on one side", [r for r in turns if not split(r)],
                                  [base[r["seed"], r["fold"]] for r in turns if not split(r)])])
PY

# the diagnostic on ten glyph characters (A-J), seeds 0-2: means, and run by run
python - "$HERE" <<'PY'
import sys
from bench_quality import print_mean_rows, print_paired_rows, read_log
here = sys.argv[1]
logged = read_log(f"{here}/g10_a.jsonl") + read_log(f"{here}/g10_b.jsonl")
rows = {name: [r for r in logged if r["variant"] == variant] for name, variant in (
    ("the default", "ours (dcontrastive)"), ("rotated_classes=[90]", "ours (dcontrastive, data.rotated_classes=[90])"),
    ("rotated_classes=[90,180,270]", "ours (dcontrastive, data.rotated_classes=[90,180,270])"),
    ("raw pixels", "raw pixels"))}
print("## glyphs A-J at 16 px, P 6 x K 16, seeds 0-2 x 3 folds: means, and run by run")
print_mean_rows("variant", list(rows.items()))
print_paired_rows("comparison", [(f"{name} − the default", rows[name], rows["the default"])
                                 for name in ("rotated_classes=[90]", "rotated_classes=[90,180,270]")] +
                  [("the default − raw pixels", rows["the default"], rows["raw pixels"])])
PY
