# The seventeenth round's tables (docs/benchmarks.md), rebuilt from the logged runs without training:
#   bash docs/quality-logs/round17/tables.sh      (with the project's venv active)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../report.sh"    # R11, BENCH, TMP, DEF, PEER_D, PEER_G, report()

# today's code reproduces the eleventh round's default runs (seed 0, three folds, digits)
python - "$HERE" "$R11" <<'PY'
import sys
from bench_quality import print_paired_rows, read_log
here, r11 = sys.argv[1:]
old = "ours (dcontrastive, loss.m1=0.2 optimizer.weight_decay=0.001)"      # the default, as the eleventh round named it
print("## the default rerun today minus its logged runs")
print_paired_rows("data", [("digits", read_log(f"{here}/d_check.jsonl"),
                            [r for r in read_log(f"{r11}/d012.jsonl") if r["variant"] == old])])
PY

# the screen: the default plus an identification term, against the eleventh round's default runs (seeds 0-2)
ID=("dcontrastive identification=softmax" "dcontrastive identification=cosface"
    "dcontrastive identification=softmax identification.weight=1")
report "screen: digits, seeds 0-2, against the default" "$R11/d012.jsonl d_id.jsonl" \
  --seeds 0 1 2 --variants "ours (" --losses "$DEF" "${ID[@]}" --against "m1=0.2 optimizer"
report "screen: glyphs 16 px, seeds 0-2, against the default" "$R11/g012.jsonl g_id.jsonl" \
  --seeds 0 1 2 --glyphs --data-set data.source.image_size=16 --variants "ours (" --losses "$DEF" "${ID[@]}" \
  --against "m1=0.2 optimizer"

# the evaluated weights: the last epoch's, or the best val MAP@R among the training classes' images
CK=("dcontrastive callbacks.checkpoint.monitor=null" "dcontrastive callbacks.checkpoint.monitor=val/map_at_r")
report "evaluated weights: digits, seeds 0-2, against the default" "$R11/d012.jsonl d_ckpt.jsonl" \
  --seeds 0 1 2 --variants "ours (" --losses "$DEF" "${CK[@]}" --against "m1=0.2 optimizer"
report "evaluated weights: glyphs 16 px, seeds 0-2, against the default" "$R11/g012.jsonl g_ckpt.jsonl" \
  --seeds 0 1 2 --glyphs --data-set data.source.image_size=16 --variants "ours (" --losses "$DEF" "${CK[@]}" \
  --against "m1=0.2 optimizer"

# dropout on the pooled features before each head (the knob model.dropout of commit daf460d, removed after this screen)
DR=("dcontrastive model.dropout=0.1" "dcontrastive model.dropout=0.3")
report "dropout: digits, seeds 0-2, against the default" "$R11/d012.jsonl d_drop.jsonl" \
  --seeds 0 1 2 --variants "ours (" --losses "$DEF" "${DR[@]}" --against "m1=0.2 optimizer"
report "dropout: glyphs 16 px, seeds 0-2, against the default" "$R11/g012.jsonl g_drop.jsonl" \
  --seeds 0 1 2 --glyphs --data-set data.source.image_size=16 --variants "ours (" --losses "$DEF" "${DR[@]}" \
  --against "m1=0.2 optimizer"

# the stages' weights in the concat model embedding
SW=("dcontrastive model.stage_weights=[2,1,1]" "dcontrastive model.stage_weights=[1,1,2]")
report "stage weights: digits, seeds 0-2, against the default" "$R11/d012.jsonl d_sw.jsonl" \
  --seeds 0 1 2 --variants "ours (" --losses "$DEF" "${SW[@]}" --against "m1=0.2 optimizer"
report "stage weights: glyphs 16 px, seeds 0-2, against the default" "$R11/g012.jsonl g_sw.jsonl" \
  --seeds 0 1 2 --glyphs --data-set data.source.image_size=16 --variants "ours (" --losses "$DEF" "${SW[@]}" \
  --against "m1=0.2 optimizer"
