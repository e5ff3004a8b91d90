# The eighteenth round's tables (docs/benchmarks.md), rebuilt from the logged runs without training:
#   bash docs/quality-logs/round18/tables.sh      (with the project's venv active)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../report.sh"    # BENCH on PYTHONPATH, TMP

python - "$HERE" <<'PY'
import sys
from bench_quality import print_mean_rows, print_paired_rows, read_log
here = sys.argv[1]
ROT = "ours (dcontrastive, data.rotated_classes=[90,180,270])"
take = lambda path, variant: [r for r in read_log(path) if r["variant"] == variant]


def compare(title, logs, with_raw=False):
    """Means of the default, [90,180,270] (and raw pixels), and each run by run against the default."""
    rows = {"the default": [], "rotated_classes=[90,180,270]": [], "raw pixels": []}
    for path in logs:
        rows["the default"] += take(path, "ours (dcontrastive)")
        rows["rotated_classes=[90,180,270]"] += take(path, ROT)
        rows["raw pixels"] += take(path, "raw pixels")
    if not with_raw:
        del rows["raw pixels"]
    print(f"## {title}: means, and run by run")
    print_mean_rows("variant", list(rows.items()))
    pairs = [("[90,180,270] − the default", rows["rotated_classes=[90,180,270]"], rows["the default"])]
    if with_raw:
        pairs += [("[90,180,270] − raw pixels", rows["rotated_classes=[90,180,270]"], rows["raw pixels"]),
                  ("the default − raw pixels", rows["the default"], rows["raw pixels"])]
    print_paired_rows("comparison", pairs)


# the rule's bar (fewer than 2 x P training classes), on glyph subsets with the glyphs batch (P 16, K 4)
compare("30 glyph characters (20 training a fold, rule: on), seeds 0-2 x 3 folds", [f"{here}/g30.jsonl"])
compare("45 glyph characters (30 training a fold, rule: on; the last addition), seeds 0-2 x 3 folds",
        [f"{here}/g45.jsonl"])
compare("60 glyph characters (40 training a fold, rule: off), seeds 0-2 x 3 folds", [f"{here}/g60.jsonl"])
# ten glyph characters A-J (P 6, K 16): fresh seeds 3-5, and with the sixteenth round's seeds 0-2
compare("glyphs A-J, fresh seeds 3-5 x 3 folds", [f"{here}/g10_fresh.jsonl"], with_raw=True)
compare("glyphs A-J, seeds 0-5 x 3 folds (0-2: the sixteenth round's runs)",
        [f"{here}/../round16/g10_a.jsonl", f"{here}/../round16/g10_b.jsonl", f"{here}/g10_fresh.jsonl"],
        with_raw=True)
PY

# the default with auto on digits (six or seven training classes: all three turns) against the issue's
# floors and peer, run by run: ours = the sixteenth round's [90,180,270] runs (auto reproduces them: d_check),
# raw pixels and the peer as logged (the eleventh and fourteenth rounds), the peer also rerun with auto
python - "$HERE" <<'PY'
import sys
from bench_quality import print_mean_rows, print_paired_rows, read_log
here = sys.argv[1]
logs = f"{here}/.."
take = lambda path, variant: [r for r in read_log(f"{logs}/{path}") if r["variant"] == variant]
ROT = "ours (dcontrastive, data.rotated_classes=[90,180,270])"
OLD = "ours (dcontrastive, loss.m1=0.2 optimizer.weight_decay=0.001)"      # the default before, as round 11 named it
PEER = ("PML ContrastiveLoss (defaults), P×K, model.embedding=concat, no weight decay, model.pool_grid=2, "
        "optimizer.lr=0.0001, optimizer.head_lr_mult=1")
check = read_log(f"{here}/d_check.jsonl")
print("## auto on digits seed 0 minus the sixteenth round's [90,180,270] runs")
print_paired_rows("data", [("digits", check, [r for r in take("round16/d_rot.jsonl", ROT) if r["seed"] == 0])])
ours = take("round16/d_rot.jsonl", ROT) + take("round16/d_rot_fresh_a.jsonl", ROT) + take("round16/d_rot_fresh_b.jsonl", ROT)
before = take("round11/d012.jsonl", OLD) + take("round11/d2.jsonl", OLD) + take("round14/d16g.jsonl", "ours (dcontrastive)")
raw = (take("round11/d012_peer.jsonl", "raw pixels") + take("round11/d_peer.jsonl", "raw pixels")
       + take("round14/d16g.jsonl", "raw pixels"))
peer = take("round11/d012_peer.jsonl", PEER) + take("round11/d_peer.jsonl", PEER)
peer_rot = read_log(f"{here}/d_peer_rot.jsonl")
seeds = lambda runs, chosen: [r for r in runs if r["seed"] in chosen]
for chosen, label in ((range(9), "seeds 0-8"), (range(6), "seeds 0-5"), (range(3, 9), "fresh seeds 3-8")):
    print(f"## digits, {label} x 3 folds: means, and the default (auto) run by run")
    rows = [("the default (auto: [90,180,270])", seeds(ours, chosen)), ("the default before (none)", seeds(before, chosen)),
            ("raw pixels", seeds(raw, chosen))]
    if max(chosen) < 6:
        rows += [("the peer, rotated classes (auto)", seeds(peer_rot, chosen)), ("the peer, none", seeds(peer, chosen))]
    print_mean_rows("variant", rows)
    print_paired_rows("comparison", [(f"the default − {name}", rows[0][1], runs) for name, runs in rows[1:]])
PY

# the peer's rate with the rotated classes (the rules' last addition): digits, seeds 0-2, its three rates
python - "$HERE" <<'PY'
import sys
from bench_quality import print_mean_rows, print_paired_rows, read_log
here = sys.argv[1]
peer = lambda lr: ("PML ContrastiveLoss (defaults), P×K, model.embedding=concat, no weight decay, model.pool_grid=2, "
                   f"optimizer.lr={lr}, optimizer.head_lr_mult=1")
runs = read_log(f"{here}/d_peer_rot.jsonl") + read_log(f"{here}/d_peer_rot_lr.jsonl")
rows = [(f"the peer with auto, Adam {lr}", [r for r in runs if r["variant"] == peer(lr) and r["seed"] < 3])
        for lr in ("0.0001", "0.0003", "0.001")]
ROT = "ours (dcontrastive, data.rotated_classes=[90,180,270])"
ours = [r for r in read_log(f"{here}/../round16/d_rot.jsonl") if r["variant"] == ROT]
print("## digits, seeds 0-2 x 3 folds: the peer with the rotated classes at three rates; the default run by run")
print_mean_rows("variant", [("the default (auto)", ours), *rows])
print_paired_rows("comparison", [(f"the default − {name}", ours, runs_) for name, runs_ in rows])
PY

# the digits batch's classes with the rotated classes (the rules' last addition): P 12 x K 8 and P 24 x K 4
# against P 6 x K 16, all with all three turns; digits and glyphs A-J, run by run
python - "$HERE" <<'PY'
import os
import sys
from bench_quality import print_mean_rows, print_paired_rows, read_log
here = sys.argv[1]
r16 = f"{here}/../round16"
ROT = "ours (dcontrastive, data.rotated_classes=[90,180,270])"
take = lambda path, variant: [r for r in read_log(path) if r["variant"] == variant] if os.path.exists(path) else []
batches = ("data.p=12 data.k=8", "data.p=24 data.k=4")
sets = {
    "digits": (take(f"{r16}/d_rot.jsonl", ROT) + take(f"{r16}/d_rot_fresh_a.jsonl", ROT),
               lambda pk: take(f"{here}/d_pk.jsonl", f"ours (dcontrastive, {pk})")),
    "glyphs A-J": (take(f"{r16}/g10_b.jsonl", ROT) + take(f"{here}/g10_fresh.jsonl", ROT),
                   lambda pk: take(f"{here}/g10_pk.jsonl", f"ours (dcontrastive, {pk} data.rotated_classes=[90,180,270])")),
}
for seeds, label in (({0, 1, 2}, "seeds 0-2"), ({3, 4, 5}, "fresh seeds 3-5")):
    for name, (base, variant) in sets.items():
        rows = [(pk, [r for r in variant(pk) if r["seed"] in seeds]) for pk in batches]
        rows = [(pk, runs) for pk, runs in rows if runs]
        if not rows:
            continue
        keyed = {(r["seed"], r["fold"]): r for r in base}
        print(f"## {name}, {label} x 3 folds, all three turns: the batch's shape, run by run against P 6 x K 16")
        print_mean_rows("batch", [("data.p=6 data.k=16", [r for r in base if r["seed"] in seeds]), *rows])
        print_paired_rows("comparison", [(f"{pk} − P 6 x K 16", runs, [keyed[r["seed"], r["fold"]] for r in runs])
                                         for pk, runs in rows])
PY
