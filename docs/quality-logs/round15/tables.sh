# The fifteenth round's tables (docs/benchmarks.md), rebuilt from the logged runs without training:
#   bash docs/quality-logs/round15/tables.sh      (with the project's venv active)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../report.sh"    # R11, BENCH, TMP, DEF, PEER_D, PEER_G, report()

# the screen: five single changes to the default on digits, seeds 0-2, against the eleventh round's default runs
NARROW="dcontrastive model.channels=[16,32,64]"
report "screen: digits, seeds 0-2, against the default" \
  "$R11/d012.jsonl d_grid422.jsonl d_narrow.jsonl d_wd01.jsonl d_emb32.jsonl d_m2_15.jsonl" \
  --seeds 0 1 2 --variants "ours (" --losses "$DEF" "dcontrastive model.pool_grid=[4,2,2]" "$NARROW" \
  "dcontrastive optimizer.weight_decay=0.01" "dcontrastive model.embedding_dim=32" "dcontrastive loss.m2=1.5" \
  --against "m1=0.2 optimizer"
report "the narrow tower on glyphs 16 px, seeds 0-2, against the default" \
  "$R11/g012.jsonl g_narrow.jsonl" --seeds 0 1 2 --glyphs --data-set data.source.image_size=16 \
  --variants "ours (" --losses "$DEF" "$NARROW" --against "m1=0.2 optimizer"

# today's code reproduces the eleventh round's default runs (seed 0, three folds, digits and glyphs 16 px)
python - "$HERE" "$R11" <<'PY'
import sys
from bench_quality import print_paired_rows, read_log
here, r11 = sys.argv[1:]
old = "ours (dcontrastive, loss.m1=0.2 optimizer.weight_decay=0.001)"
print("## the default rerun today minus its logged runs")
print_paired_rows("data", [(data, read_log(f"{here}/{now}.jsonl"), [r for r in read_log(f"{r11}/{then}.jsonl")
                                                                   if r["variant"] == old])
                           for data, now, then in (("digits", "d_check", "d012"), ("glyphs 16 px", "g_check", "g012"))])
PY

# the number of training classes: digits dealt into 2, 3 and 5 folds (5, 6-7 and 8 training classes), seeds 0-2
python - "$HERE" "$R11" <<'PY'
import sys
from bench_quality import HIGHER_IS_BETTER, mean_std, print_paired_rows, read_log
here, r11 = sys.argv[1:]
old = "ours (dcontrastive, loss.m1=0.2 optimizer.weight_decay=0.001)"
runs = {2: read_log(f"{here}/d_folds2.jsonl"), 5: read_log(f"{here}/d_folds5.jsonl"),
        3: [{**r, "variant": "ours (dcontrastive)" if r["variant"] == old else r["variant"]}
            for f in ("d012", "d012_peer") for r in read_log(f"{r11}/{f}.jsonl") if r["variant"] in (old, "raw pixels")]}
pick = lambda folds, name: [r for r in runs[folds] if r["variant"] == name]
print("## digits, the classes dealt into F folds: each variant's means, and the default minus raw pixels run by run")
print("| folds | training classes | variant | runs | " + " | ".join(HIGHER_IS_BETTER) + " |\n|---|---|---|---|---|---|---|---|")
for folds, train in ((2, "5"), (3, "6-7"), (5, "8")):
    for name in ("ours (dcontrastive)", "raw pixels"):
        rows = pick(folds, name)
        print(f"| {folds} | {train} | {name} | {len(rows)} | "
              + " | ".join(f"{mean_std([r[k] for r in rows])[0]:.4f}" for k in HIGHER_IS_BETTER) + " |")
print_paired_rows("default − raw pixels", [(f"{folds} folds", pick(folds, "ours (dcontrastive)"), pick(folds, "raw pixels"))
                                           for folds in (2, 3, 5)])
PY

# transfer: a tower trained on glyphs without the digit characters (one a seed), on the digits folds of its seed
# as it is (0 epochs) and as the start of the default recipe (model.weights=<its best.ckpt>)
python - "$HERE" "$R11" <<'PY'
import json, sys
from bench_quality import HIGHER_IS_BETTER, mean_std, print_paired_rows, read_log
here, r11 = sys.argv[1:]
print("## the glyph towers on their own held-out classes (the Greek letters), from each run's report.json")
for seed in range(6):
    report = json.load(open(f"{here}/glyph_tower_s{seed}.report.json"))
    print(f"seed {seed}: AUC {report['verification']['auc']:.4f}, MAP@R {report['retrieval']['map_at_r']:.4f}, "
          f"P@1 {report['retrieval']['p_at_1']:.4f}, 5-way one-shot {report['one_shot']['accuracy']:.4f}, "
          f"trained {report['training']['seconds']:.0f} s")
old = "ours (dcontrastive, loss.m1=0.2 optimizer.weight_decay=0.001)"
logged = lambda names, keep: [r for f in names for r in read_log(f"{r11}/{f}.jsonl") if r["variant"] == keep]
rows = {"the glyph tower as it is": read_log(f"{here}/d_transfer0.jsonl"),
        "the glyph tower, then the default recipe": read_log(f"{here}/d_transfer.jsonl"),
        "the default from scratch": logged(("d012", "d2"), old),
        "raw pixels": logged(("d012_peer", "d_peer"), "raw pixels")}
for seeds in ({0, 1, 2}, {3, 4, 5}, set(range(6))):
    start, tuned, scratch, raw = ([r for r in runs if r["seed"] in seeds] for runs in rows.values())
    print(f"## digits, seeds {','.join(map(str, sorted(seeds)))} x 3 folds: means, and run by run")
    print("| variant | runs | " + " | ".join(HIGHER_IS_BETTER) + " |\n|---|---|---|---|---|---|")
    for name, runs in zip(rows, (start, tuned, scratch, raw)):
        print(f"| {name} | {len(runs)} | "
              + " | ".join(f"{mean_std([r[k] for r in runs])[0]:.4f}" for k in HIGHER_IS_BETTER) + " |")
    print_paired_rows("comparison", [("glyph start − from scratch", tuned, scratch),
                                     ("glyph start − raw pixels", tuned, raw),
                                     ("glyph tower as it is − raw pixels", start, raw),
                                     ("glyph start − the glyph tower as it is", tuned, start),
                                     ("from scratch − raw pixels", scratch, raw)])
PY

# the 2-fold runs' P x K confound: the default at 3 folds with P 5 (as at 2 folds) against P 6; and the peer at
# its digits best at 5 folds (8 training classes) against the default and raw pixels
python - "$HERE" "$R11" <<'PY'
import sys
from bench_quality import HIGHER_IS_BETTER, mean_std, print_paired_rows, read_log
here, r11 = sys.argv[1:]
old = "ours (dcontrastive, loss.m1=0.2 optimizer.weight_decay=0.001)"
p6 = [r for r in read_log(f"{r11}/d012.jsonl") if r["variant"] == old]
p5 = read_log(f"{here}/d_p5.jsonl")
folds5 = read_log(f"{here}/d_folds5.jsonl")
default5, raw5 = ([r for r in folds5 if r["variant"] == name] for name in ("ours (dcontrastive)", "raw pixels"))
peer5 = read_log(f"{here}/d_folds5_peer.jsonl")
print("## digits: means")
print("| variant | runs | " + " | ".join(HIGHER_IS_BETTER) + " |\n|---|---|---|---|---|---|")
for name, runs in (("3 folds, P 5", p5), ("3 folds, P 6 (the default)", p6), ("5 folds, the peer", peer5),
                   ("5 folds, the default", default5), ("5 folds, raw pixels", raw5)):
    print(f"| {name} | {len(runs)} | " + " | ".join(f"{mean_std([r[k] for r in runs])[0]:.4f}" for k in HIGHER_IS_BETTER) + " |")
print_paired_rows("comparison", [("3 folds: P 5 − P 6", p5, p6), ("5 folds: default − the peer", default5, peer5),
                                 ("5 folds: the peer − raw pixels", peer5, raw5)])
PY
