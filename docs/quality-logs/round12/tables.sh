# The twelfth round's tables (docs/benchmarks.md), rebuilt from the logged runs without training:
#   bash docs/quality-logs/round12/tables.sh      (with the project's venv active)
# Each report pairs the variants it names on the (seed, fold) runs all of them have.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../report.sh"    # R11, BENCH, TMP, DEF, PEER_D, PEER_G, report()
EU="dcontrastive loss.distance=euclidean"
PUSH="dcontrastive loss.distance=push_euclidean"
PULL="dcontrastive loss.distance=pull_euclidean loss.m1=0.4472"
EU45="dcontrastive loss.distance=euclidean loss.m1=0.4472"

ALL_D="d_loss_reducer_mean.jsonl d_optimizer_weight_decay_0.jsonl d_loss_m1_0_05.jsonl d_h0.1.jsonl d_h1.0.jsonl d_eu.jsonl"
ALL_G="g_loss_reducer_mean.jsonl g_optimizer_weight_decay_0.jsonl g_loss_m1_0_05.jsonl g_h0.1.jsonl g_h1.0.jsonl g_eu.jsonl"
FULL=("$DEF" "dcontrastive loss/reducer=mean" "dcontrastive optimizer.weight_decay=0" "dcontrastive loss.m1=0.05"
      "dcontrastive optimizer.head_lr_mult=0.1" "dcontrastive optimizer.head_lr_mult=1.0" "$EU")
for against in "m1=0.2 optimizer" PML; do
  report "digits, seeds 3-5, against '$against'" "$R11/d2.jsonl $R11/d_peer.jsonl $ALL_D" --seeds 3 4 5 \
    --losses "${FULL[@]}" --variants "ours (" "concat, no weight decay" "raw pixels" "${PEER_D[@]}" --against "$against"
  report "glyphs 16 px, seeds 3-5, against '$against'" "$R11/g2.jsonl $R11/g_peer.jsonl $ALL_G" --seeds 3 4 5 \
    --losses "${FULL[@]}" --variants "ours (" "concat, no weight decay" "${PEER_G[@]}" --against "$against"
  report "glyphs 24 px, seeds 0-2, against '$against'" \
    "$R11/g24_old.jsonl $R11/g24_peer.jsonl g24_h0.1.jsonl g24_h1.0.jsonl g24_eu.jsonl" --seeds 0 1 2 \
    --losses "$DEF" "dcontrastive optimizer.head_lr_mult=0.1" "dcontrastive optimizer.head_lr_mult=1.0" "$EU" \
    --variants "ours (" "concat, no weight decay" "${PEER_G[@]}" --against "$against"
  report "Euclidean margin, digits, seeds 0-5, against '$against'" \
    "$R11/d2.jsonl $R11/d012.jsonl $R11/d_peer.jsonl $R11/d012_peer.jsonl d_eu.jsonl" --seeds 0 1 2 3 4 5 \
    --losses "$DEF" "$EU" --variants "ours (" "concat, no weight decay" "${PEER_D[@]}" --against "$against"
  report "Euclidean margin, glyphs 16 px, seeds 0-5, against '$against'" \
    "$R11/g2.jsonl $R11/g012.jsonl $R11/g_peer.jsonl $R11/g012_peer.jsonl g_eu.jsonl" --seeds 0 1 2 3 4 5 \
    --losses "$DEF" "$EU" --variants "ours (" "concat, no weight decay" "${PEER_G[@]}" --against "$against"
done
for pair in "d:$R11/d2.jsonl:3 4 5:push pull eu45" "g:$R11/g2.jsonl:3 4 5:push pull eu45" \
            "g24:$R11/g24_old.jsonl:0 1 2:push pull eu45"; do    # the runs stopped early, each against the default
  IFS=: read -r split default seeds variants <<< "$pair"
  for v in $variants; do
    case $v in push) recipe=$PUSH ;; pull) recipe=$PULL ;; eu45) recipe=$EU45 ;; esac
    report "$split, $v (stopped early)" "$default ${split}_$v.jsonl" --seeds $seeds --losses "$DEF" "$recipe" \
      --variants "ours (" --against "m1=0.2 optimizer"
  done
done
