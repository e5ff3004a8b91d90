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

screen() {  # screen TITLE NAME VARIANT...: digits (d_NAME.jsonl) and glyphs 16 px (g_NAME.jsonl), seeds 0-2,
            # each variant against the eleventh round's runs of the default
  local title=$1 name=$2; shift 2
  report "$title: digits, seeds 0-2, against the default" "$R11/d012.jsonl d_$name.jsonl" \
    --seeds 0 1 2 --variants "ours (" --losses "$DEF" "$@" --against "m1=0.2 optimizer"
  report "$title: glyphs 16 px, seeds 0-2, against the default" "$R11/g012.jsonl g_$name.jsonl" \
    --seeds 0 1 2 --glyphs --data-set data.source.image_size=16 --variants "ours (" --losses "$DEF" "$@" \
    --against "m1=0.2 optimizer"
}

# the default plus an identification term
screen "screen" id "dcontrastive identification=softmax" "dcontrastive identification=cosface" \
  "dcontrastive identification=softmax identification.weight=1"
# the evaluated weights: the last epoch's, or the best val MAP@R among the training classes' images
screen "evaluated weights" ckpt "dcontrastive callbacks.checkpoint.monitor=null" \
  "dcontrastive callbacks.checkpoint.monitor=val/map_at_r"
# dropout on the pooled features before each head (the knob model.dropout of commit daf460d, removed after this screen)
screen "dropout" drop "dcontrastive model.dropout=0.1" "dcontrastive model.dropout=0.3"
# the stages' weights in the concat model embedding
screen "stage weights" sw "dcontrastive model.stage_weights=[2,1,1]" "dcontrastive model.stage_weights=[1,1,2]"

# the diagnostic: the stage weights on ten glyph characters (A-J, P 6 x K 16), seeds 0-2, against the
# sixteenth round's runs of the default there
python - "$HERE" <<'PY'
import sys
from bench_quality import print_mean_rows, print_paired_rows, read_log
here = sys.argv[1]
default = [r for r in read_log(f"{here}/../round16/g10_a.jsonl") if r["variant"] == "ours (dcontrastive)"]
rows = {w: read_log(f"{here}/g10_sw_{n}.jsonl") for n, w in ((1, "[2,1,1]"), (2, "[1,1,2]"))}
print("## glyphs A-J at 16 px, P 6 x K 16, seeds 0-2 x 3 folds: means, and run by run")
print_mean_rows("variant", [("the default", default)] + [(f"stage_weights={w}", runs) for w, runs in rows.items()])
print_paired_rows("comparison", [(f"stage_weights={w} − the default", runs, default) for w, runs in rows.items()])
PY
