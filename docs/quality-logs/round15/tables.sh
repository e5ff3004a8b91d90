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

# the inline figures: the default rerun; the number of training classes; the glyph towers; the batch and the peer
python - "$HERE" "$R11" <<'PY'
import json, sys
from bench_quality import print_mean_rows, print_paired_rows, read_log
here, r11 = sys.argv[1:]
old = "ours (dcontrastive, loss.m1=0.2 optimizer.weight_decay=0.001)"      # the default, as the eleventh round named it
logged = lambda names, keep: [r for f in names for r in read_log(f"{r11}/{f}.jsonl") if r["variant"] == keep]
here_log = lambda name, keep=None: [r for r in read_log(f"{here}/{name}.jsonl") if keep in (None, r["variant"])]

# today's code reproduces the eleventh round's default runs (seed 0, three folds, digits and glyphs 16 px)
print("## the default rerun today minus its logged runs")
print_paired_rows("data", [(data, here_log(now), logged((then,), old))
                           for data, now, then in (("digits", "d_check", "d012"), ("glyphs 16 px", "g_check", "g012"))])

# the number of training classes: digits dealt into 2, 3 and 5 folds (5, 6-7 and 8 training classes), seeds 0-2
runs = {(2, "ours"): here_log("d_folds2", "ours (dcontrastive)"), (2, "raw"): here_log("d_folds2", "raw pixels"),
        (3, "ours"): logged(("d012",), old), (3, "raw"): logged(("d012_peer",), "raw pixels"),
        (5, "ours"): here_log("d_folds5", "ours (dcontrastive)"), (5, "raw"): here_log("d_folds5", "raw pixels")}
print("## digits, the classes dealt into F folds: each variant's means, and the default minus raw pixels run by run")
print_mean_rows("folds | training classes | variant",
                [(f"{folds} | {train} | {name}", runs[folds, who]) for folds, train in ((2, "5"), (3, "6-7"), (5, "8"))
                 for who, name in (("ours", "ours (dcontrastive)"), ("raw", "raw pixels"))])
print_paired_rows("default − raw pixels", [(f"{folds} folds", runs[folds, "ours"], runs[folds, "raw"])
                                           for folds in (2, 3, 5)])

# transfer: a tower trained on glyphs without the digit characters (one a seed), on the digits folds of its seed
# as it is (0 epochs) and as the start of the default recipe (model.weights=<its best.ckpt>)
print("## the glyph towers on their own held-out classes (the Greek letters), from each run's report.json")
for seed in range(6):
    report = json.load(open(f"{here}/glyph_tower_s{seed}.report.json"))
    print(f"seed {seed}: AUC {report['verification']['auc']:.4f}, MAP@R {report['retrieval']['map_at_r']:.4f}, "
          f"P@1 {report['retrieval']['p_at_1']:.4f}, 5-way one-shot {report['one_shot']['accuracy']:.4f}, "
          f"trained {report['training']['seconds']:.0f} s")
rows = {"the glyph tower as it is": here_log("d_transfer0"),
        "the glyph tower, then the default recipe": here_log("d_transfer"),
        "the default from scratch": logged(("d012", "d2"), old),
        "raw pixels": logged(("d012_peer", "d_peer"), "raw pixels")}
for seeds in ({0, 1, 2}, {3, 4, 5}, set(range(6))):
    start, tuned, scratch, raw = ([r for r in runs if r["seed"] in seeds] for runs in rows.values())
    print(f"## digits, seeds {','.join(map(str, sorted(seeds)))} x 3 folds: means, and run by run")
    print_mean_rows("variant", list(zip(rows, (start, tuned, scratch, raw))))
    print_paired_rows("comparison", [("glyph start − from scratch", tuned, scratch),
                                     ("glyph start − raw pixels", tuned, raw),
                                     ("glyph tower as it is − raw pixels", start, raw),
                                     ("glyph start − the glyph tower as it is", tuned, start),
                                     ("from scratch − raw pixels", scratch, raw)])

# the 2-fold runs' P x K confound: the default at 3 folds with P 5 (as at 2 folds) against P 6; and the peer at
# its digits best at 5 folds (8 training classes) against the default and raw pixels
p5, p6, peer5 = here_log("d_p5"), runs[3, "ours"], here_log("d_folds5_peer")
print("## digits: means")
print_mean_rows("variant", [("3 folds, P 5", p5), ("3 folds, P 6 (the default)", p6), ("5 folds, the peer", peer5),
                            ("5 folds, the default", runs[5, "ours"]), ("5 folds, raw pixels", runs[5, "raw"])])
print_paired_rows("comparison", [("3 folds: P 5 − P 6", p5, p6), ("5 folds: default − the peer", runs[5, "ours"], peer5),
                                 ("5 folds: the peer − raw pixels", peer5, runs[5, "raw"])])
PY
