# What the rounds' tables.sh scripts share, sourced by each after it sets HERE (its own folder):
# the eleventh round's logs, the benchmark (importable by the scripts' inline Python), a temporary
# folder removed on exit, the default and the peer's settings as the eleventh round named them, and
# report().
R11=$HERE/../round11
BENCH=$HERE/../../../scripts/bench/bench_quality.py
export PYTHONPATH="$(dirname "$BENCH")${PYTHONPATH:+:$PYTHONPATH}"   # inline blocks: import bench_quality
TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT
DEF="dcontrastive loss.m1=0.2 optimizer.weight_decay=0.001"    # today's default, as the eleventh round named it
PEER_D=(--peer-set model.pool_grid=2 optimizer.lr=0.0001 optimizer.head_lr_mult=1)
PEER_G=(--peer-set model.pool_grid=2 optimizer.head_lr_mult=0.1)

report() {  # report TITLE "LOG ..." ARGS...: one bench_quality.py --report-only over the logs joined
  local title=$1 logs=$2; shift 2
  (cd "$HERE" && cat $logs) > "$TMP/log.jsonl"
  echo "## $title"
  python "$BENCH" --report-only --folds 3 --log "$TMP/log.jsonl" "$@" | grep -E '^(\| |Paired)'
}
