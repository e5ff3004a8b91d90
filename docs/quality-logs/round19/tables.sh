# The nineteenth round's tables (docs/benchmarks.md), rebuilt from the logged runs without training:
#   bash docs/quality-logs/round19/tables.sh      (with the project's venv active)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../report.sh"    # BENCH on PYTHONPATH, TMP

python - "$HERE" <<'PY'
import sys
from bench_quality import print_mean_rows, print_paired_rows, read_log
here = sys.argv[1]
take = lambda path, variant, seeds=(0, 1, 2): [r for r in read_log(f"{here}/{path}")
                                               if r["variant"] == variant and r["seed"] in seeds]
ROT = "ours (dcontrastive, data.rotated_classes=[90,180,270])"
OLD = "ours (dcontrastive, loss.m1=0.2 optimizer.weight_decay=0.001)"   # the default, as round 11 named it
DEF = "ours (dcontrastive)"

# the checks: c40be4b reproduces the logged glyph runs; d57cb2c (the memory's commit, the norms summed in
# another order) does not; the mended code (848f914 / f028f3e) does again
logged_d, logged_g = take("../round16/d_rot.jsonl", ROT), take("../round11/g012.jsonl", OLD)
print("## each check minus the logged runs of the default (digits: round 16, glyphs: round 11)")
print_paired_rows("commit, data", [
    ("c40be4b, glyphs seed 0", read_log(f"{here}/g_check_before.jsonl"), take("../round11/g012.jsonl", OLD, (0,))),
    ("848f914 (mended), digits seed 0", read_log(f"{here}/d_mended.jsonl"), take("../round16/d_rot.jsonl", ROT, (0,))),
    ("848f914 (mended), glyphs seed 0", read_log(f"{here}/g_mended.jsonl"), take("../round11/g012.jsonl", OLD, (0,))),
    ("d57cb2c, digits seeds 0-2", take("d_check.jsonl", DEF), logged_d),
    ("d57cb2c, glyphs seeds 0-2", take("g_check.jsonl", DEF), logged_g)])

# the memory screen, against the default at the same commit (d57cb2c)
d_ref, g_ref = take("d_check.jsonl", DEF), take("g_check.jsonl", DEF)
means, pairs = [("digits: the default (d57cb2c)", d_ref), ("glyphs: the default (d57cb2c)", g_ref)], []
for size in (256, 1024):
    v = f"ours (dcontrastive, loss.memory={size})"
    for data, path, ref in (("digits", "d_mem.jsonl", d_ref), ("glyphs", "g_mem.jsonl", g_ref)):
        means.append((f"{data}: loss.memory={size}", take(path, v)))
        pairs.append((f"{data}: loss.memory={size} − the default", take(path, v), ref))
print("## the memory screen, seeds 0-2 x 3 folds: means, and run by run")
print_mean_rows("variant", means)
print_paired_rows("comparison", pairs)
PY

# the glyphs batch: the screen at 16 px (seeds 0-2), the confirmation (16 px fresh seeds 3-5, 24 px seeds 0-2),
# each against the eleventh round's default runs; the peer at P 32 x K 2 against its logged runs at 16 x 4
python - "$HERE" <<'PY'
import sys
from bench_quality import print_mean_rows, print_paired_rows, read_log
here = sys.argv[1]
take = lambda path, variant: [r for r in read_log(f"{here}/{path}") if r["variant"] == variant]
OLD = "ours (dcontrastive, loss.m1=0.2 optimizer.weight_decay=0.001)"   # the default, as round 11 named it
V32, V8 = "ours (dcontrastive, data.p=32 data.k=2)", "ours (dcontrastive, data.p=8 data.k=8)"
screen, fresh, g24 = take("../round11/g012.jsonl", OLD), take("../round11/g2.jsonl", OLD), take("../round11/g24_old.jsonl", OLD)
print("## the glyphs batch, 16 px, seeds 0-2 x 3 folds: means, and run by run")
print_mean_rows("batch", [("P 16 x K 4 (the default before)", screen), ("P 32 x K 2", take("g_p32k2.jsonl", V32)),
                          ("P 8 x K 8", take("g_p8k8.jsonl", V8))], spread=True)
print_paired_rows("comparison", [("P 32 x K 2 − P 16 x K 4", take("g_p32k2.jsonl", V32), screen),
                                 ("P 8 x K 8 − P 16 x K 4", take("g_p8k8.jsonl", V8), screen)])
print("## the confirmation: P 32 x K 2 on glyphs 16 px fresh seeds 3-5 and 24 px seeds 0-2")
print_mean_rows("batch", [("16 px fresh, P 16 x K 4", fresh), ("16 px fresh, P 32 x K 2", take("g_p32k2_fresh.jsonl", V32)),
                          ("24 px, P 16 x K 4", g24), ("24 px, P 32 x K 2", take("g24_p32k2.jsonl", V32))], spread=True)
print_paired_rows("comparison", [("16 px fresh: P 32 x K 2 − P 16 x K 4", take("g_p32k2_fresh.jsonl", V32), fresh),
                                 ("24 px: P 32 x K 2 − P 16 x K 4", take("g24_p32k2.jsonl", V32), g24)])
PY

# the goals on glyphs with the new batch: the default at P 32 x K 2 against the peer at its glyphs best with
# either batch (16 x 4: its logged runs; 32 x 2: this round's), 16 px seeds 0-5 and 24 px seeds 0-2
python - "$HERE" <<'PY'
import statistics
import sys
from bench_quality import print_mean_rows, print_paired_rows, read_log
here = sys.argv[1]
take = lambda path, variant: [r for r in read_log(f"{here}/{path}") if r["variant"] == variant]
V32 = "ours (dcontrastive, data.p=32 data.k=2)"
OLD = "ours (dcontrastive, loss.m1=0.2 optimizer.weight_decay=0.001)"
PEER = ("PML ContrastiveLoss (defaults), P×K, model.embedding=concat, no weight decay, model.pool_grid=2, "
        "optimizer.head_lr_mult=0.1")
LAST = PEER.replace("model.embedding=concat", "model.embedding=last")
PEER32 = PEER + ", data.p=32, data.k=2"
for size, rows in (
        ("16 px, seeds 0-5", [
            ("the default (P 32 x K 2)", take("g_p32k2.jsonl", V32) + take("g_p32k2_fresh.jsonl", V32)),
            ("the default before (P 16 x K 4)", take("../round11/g012.jsonl", OLD) + take("../round11/g2.jsonl", OLD)),
            ("the peer, P 16 x K 4", take("../round11/g012_peer.jsonl", PEER) + take("../round11/g_peer.jsonl", PEER)),
            ("the peer, P 32 x K 2", take("g_peer_p32k2.jsonl", PEER32))]),
        ("24 px, seeds 0-2", [
            ("the default (P 32 x K 2)", take("g24_p32k2.jsonl", V32)),
            ("the default before (P 16 x K 4)", take("../round11/g24_old.jsonl", OLD)),
            ("the peer, P 16 x K 4", take("../round11/g24_peer.jsonl", PEER)),
            ("the peer, P 32 x K 2", take("g24_peer_p32k2.jsonl", PEER32)),
            ("the peer's last stage, P 16 x K 4", take("../round13/g24_peer_last.jsonl", LAST))])):
    print(f"## glyphs {size}: means, and the default run by run")
    print_mean_rows("variant", rows, spread=True)
    print_paired_rows("comparison", [(f"the default − {name}", rows[0][1], runs) for name, runs in rows[1:]])
    print("train s a fold: " + ", ".join(f"{name} {statistics.mean(r['train_s'] for r in runs):.1f}"
                                         for name, runs in rows if "P 32" in name))
PY

# auto's bar with glyphs at P 32: the 60-character subset (40 training a fold), the new default (auto: all three
# turns) against data.rotated_classes=[], and both against the eighteenth round's runs at P 16 x K 4
python - "$HERE" <<'PY'
import sys
from bench_quality import print_mean_rows, print_paired_rows, read_log
here = sys.argv[1]
auto, none = read_log(f"{here}/g60_auto.jsonl"), read_log(f"{here}/g60_none.jsonl")
p16 = read_log(f"{here}/../round18/g60.jsonl")
p16_rot = [r for r in p16 if r["variant"] == "ours (dcontrastive, data.rotated_classes=[90,180,270])"]
p16_none = [r for r in p16 if r["variant"] == "ours (dcontrastive)"]
print("## 60 glyph characters (40 training a fold), 16 px, seeds 0-2 x 3 folds: means, and run by run")
print_mean_rows("batch, rotations", [("P 32 x K 2, auto (all three turns)", auto), ("P 32 x K 2, none", none),
                                     ("P 16 x K 4, all three turns", p16_rot), ("P 16 x K 4, none", p16_none)])
print_paired_rows("comparison", [("P 32 x K 2: auto − none", auto, none),
                                 ("P 16 x K 4: all three turns − none (eighteenth round)", p16_rot, p16_none),
                                 ("P 32 x K 2 auto − P 16 x K 4 none (the new default − the old)", auto, p16_none),
                                 ("none: P 32 x K 2 − P 16 x K 4", none, p16_none)])
PY

# larger glyph batches with two images a class (screen only), against the new default's runs (P 32 x K 2)
python - "$HERE" <<'PY'
import statistics
import sys
from bench_quality import print_mean_rows, print_paired_rows, read_log
here = sys.argv[1]
runs = {name: read_log(f"{here}/g_{name}.jsonl") for name in ("p32k2", "p48k2", "p64k2")}
print("## glyphs 16 px, seeds 0-2 x 3 folds: P 48 x K 2 and P 64 x K 2 against P 32 x K 2")
print_mean_rows("batch", [(name, rows) for name, rows in runs.items()], spread=True)
print_paired_rows("comparison", [(f"{name} − p32k2", runs[name], runs["p32k2"]) for name in ("p48k2", "p64k2")])
print("train s a fold: " + ", ".join(f"{name} {statistics.mean(r['train_s'] for r in rows):.1f}"
                                     for name, rows in runs.items()))
PY
