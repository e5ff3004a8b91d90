# The thirteenth round's tables (docs/benchmarks.md), rebuilt from the logged runs without training:
#   bash docs/quality-logs/round13/tables.sh      (with the project's venv active)
# Each report pairs the variants it names on the (seed, fold) runs all of them have.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../report.sh"    # R11, BENCH, TMP, DEF, PEER_D, PEER_G, report()

for against in "m1=0.2 optimizer" PML; do
  report "pairs: digits, seeds 3-5, against '$against'" "$R11/d2.jsonl $R11/d_peer.jsonl d_sampled.jsonl" \
    --seeds 3 4 5 --losses "$DEF" "dcontrastive loss.pairs=sampled" \
    --variants "ours (" "concat, no weight decay" "raw pixels" "${PEER_D[@]}" --against "$against"
done
report "pairs: glyphs 16 px, seeds 3-5 (fold 0)" "$R11/g2.jsonl g_sampled.jsonl" --seeds 3 4 5 \
  --glyphs --data-set data.source.image_size=16 --losses "$DEF" "dcontrastive loss.pairs=sampled" \
  --variants "ours (" --against "m1=0.2 optimizer"
# glyphs at 24 px, fold 0 of seeds 0-2: P×K batches and the pooled grid, on ours and on the peer
G24=(--seeds 0 1 2 --glyphs --data-set data.source.image_size=24)
BOTH=(--variants "ours (" "concat, no weight decay")
FOLD0="dcontrastive data.p=8 data.k=8"      # a fold-0-only recipe in the report: its runs are all fold 0
report "glyphs 24 px, ours, against the default (fold 0)" \
  "$R11/g24_old.jsonl g24_p8k8.jsonl g24_p32k2.jsonl g24_grid3.jsonl" "${G24[@]}" --variants "ours (" \
  --losses "$DEF" "$FOLD0" "dcontrastive data.p=32 data.k=2" "dcontrastive model.pool_grid=3" --against "m1=0.2 optimizer"
report "glyphs 24 px, the default against the peer at its best (fold 0)" \
  "$R11/g24_old.jsonl $R11/g24_peer.jsonl g24_p8k8.jsonl" "${G24[@]}" "${BOTH[@]}" --losses "$DEF" "$FOLD0" "${PEER_G[@]}" --against PML
report "glyphs 24 px, P×K 8×8 on both (fold 0)" "g24_p8k8.jsonl g24_peer_p8k8.jsonl" "${G24[@]}" "${BOTH[@]}" \
  --losses "$FOLD0" --peer-set model.pool_grid=2 optimizer.head_lr_mult=0.1 data.p=8 data.k=8 --against PML
report "glyphs 24 px, grid 3 on both (fold 0)" "g24_grid3.jsonl g24_peer_grid3.jsonl" "${G24[@]}" "${BOTH[@]}" \
  --losses "dcontrastive model.pool_grid=3" --peer-set model.pool_grid=3 optimizer.head_lr_mult=0.1 --against PML
# the model embedding from the last stage only (model.embedding=last; training unchanged), against the default
LAST="dcontrastive model.embedding=last"
report "digits, model.embedding=last (fold 0)" "$R11/d2.jsonl d_last.jsonl" --seeds 3 4 5 --losses "$DEF" "$LAST" \
  --variants "ours (" --against "m1=0.2 optimizer"
report "glyphs 16 px, model.embedding=last (fold 0)" "$R11/g2.jsonl g_last.jsonl" --seeds 3 4 5 \
  --glyphs --data-set data.source.image_size=16 --losses "$DEF" "$LAST" --variants "ours (" --against "m1=0.2 optimizer"
# ... and at 24 px against the peer at both of its model embeddings (heads 0.1x, no weight decay)
for against in "m1=0.2 optimizer" "concat, no weight decay" "last, no weight decay"; do
  report "glyphs 24 px, model.embedding=last, against '$against'" \
    "$R11/g24_old.jsonl $R11/g24_peer.jsonl g24_last.jsonl g24_peer_last.jsonl" "${G24[@]}" --losses "$DEF" "$LAST" \
    --variants "ours (" "no weight decay" "${PEER_G[@]}" --against "$against"
done
# 20 epochs instead of 10, ours (today's default) and the peer at its best, both at 20 (equal images seen)
for split in "digits:3 4 5:d:PEER_D" "glyphs 16 px:3 4 5:g:PEER_G" "glyphs 24 px:0 1 2:g24:PEER_G"; do
  IFS=: read -r name seeds prefix peer <<< "$split"
  data=(); [ "$prefix" = d ] || data=(--glyphs --data-set data.source.image_size=$([ "$prefix" = g ] && echo 16 || echo 24))
  peer_set="$peer[@]"
  report "$name, 20 epochs, seeds $seeds, against the peer" "${prefix}_e20.jsonl ${prefix}_peer_e20.jsonl" --epochs 20 \
    --seeds $seeds "${data[@]}" --losses dcontrastive --variants "ours (" "concat, no weight decay" "${!peer_set}" --against PML
done
# ... and each at 20 epochs minus its own run at 10 (same seed and fold; the 10-epoch runs are the eleventh round's)
echo "## 20 epochs minus 10, run by run"
python - "$HERE" "$R11" <<'PY'
import sys
from bench_quality import print_paired_rows, read_log    # the benchmark's own paired differences
here, r11 = sys.argv[1:]

ours10 = "ours (dcontrastive, loss.m1=0.2 optimizer.weight_decay=0.001)"
peer = "PML ContrastiveLoss (defaults), P×K, model.embedding=concat, no weight decay, model.pool_grid=2, "
peers = {"d": peer + "optimizer.lr=0.0001, optimizer.head_lr_mult=1", "g": peer + "optimizer.head_lr_mult=0.1"}
comparisons = []
for split, logs10, seeds in (("d", ("d2", "d_peer"), {3, 4, 5}), ("g", ("g2", "g_peer"), {3, 4, 5}),
                             ("g24", ("g24_old", "g24_peer"), {0, 1, 2})):
    rows10 = [r for f in logs10 for r in read_log(f"{r11}/{f}.jsonl")]
    for who, name10, log20 in (("ours", ours10, f"{split}_e20"), ("peer", peers[split[0]], f"{split}_peer_e20")):
        at10 = [r for r in rows10 if r["variant"] == name10 and r["epochs"] == 10]
        at20 = [r for r in read_log(f"{here}/{log20}.jsonl") if r["seed"] in seeds]
        comparisons.append((f"{who}, {split}", at20, at10))
print_paired_rows("20 − 10 epochs", comparisons)
PY
# glyphs at 24 px on fresh class folds (seeds 3-5, fold 0): the default, the last stage, and the peer at both embeddings
for against in "ours (dcontrastive)" "concat, no weight decay" "last, no weight decay"; do
  report "glyphs 24 px, seeds 3-5 (fold 0), against '$against'" \
    "g24f_def.jsonl g24f_last.jsonl g24f_last_eu.jsonl g24f_peer.jsonl" --seeds 3 4 5 \
    --glyphs --data-set data.source.image_size=24 \
    --losses dcontrastive "dcontrastive model.embedding=last" "dcontrastive model.embedding=last loss.distance=euclidean" \
    --variants "ours (" "no weight decay" "${PEER_G[@]}" --against "$against"
done
# ... the default and the peer on folds 0-2 of those seeds (the last stage has fold 0 only)
for against in "concat, no weight decay" "last, no weight decay"; do
  report "glyphs 24 px, seeds 3-5 (folds 0-2), against '$against'" "g24f_def.jsonl g24f_peer.jsonl" --seeds 3 4 5 \
    --glyphs --data-set data.source.image_size=24 --losses dcontrastive \
    --variants "ours (" "no weight decay" "${PEER_G[@]}" --against "$against"
done
# ... and seeds 0-5 together at 24 px (18 runs): the eleventh round names the default differently, so pair here
echo "## glyphs 24 px, seeds 0-5, the default minus the peer, run by run"
python - "$HERE" "$R11" <<'PY'
import sys
from bench_quality import print_paired_rows, read_log
here, r11 = sys.argv[1:]

rows = [r for f in (f"{r11}/g24_old.jsonl", f"{r11}/g24_peer.jsonl", f"{here}/g24_peer_last.jsonl",
                    f"{here}/g24f_def.jsonl", f"{here}/g24f_peer.jsonl") for r in read_log(f)]
ours = [r for r in rows if r["variant"] in ("ours (dcontrastive)", "ours (dcontrastive, loss.m1=0.2 optimizer.weight_decay=0.001)")]
peer = "PML ContrastiveLoss (defaults), P×K, model.embedding={}, no weight decay, model.pool_grid=2, optimizer.head_lr_mult=0.1"
print_paired_rows("default − peer", [(f"peer `{emb}`", ours, [r for r in rows if r["variant"] == peer.format(emb)])
                                     for emb in ("concat", "last")])
PY
