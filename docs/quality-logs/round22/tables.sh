# The twenty-second round's tables (docs/benchmarks.md), rebuilt from the logged runs without training:
#   bash docs/quality-logs/round22/tables.sh      (with the project's venv active)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../report.sh"    # BENCH on PYTHONPATH, TMP

# The check (the default on this machine against its logged runs, seed 0; it failed, so the default was
# rerun here on seeds 1-2), then the screen of the loss's per-layer margins and its squared hinge (seeds 0-2
# x 3 folds), run by run against the default's runs on this machine
python - "$HERE" <<'PY'
import statistics
import sys
from bench_quality import print_mean_rows, print_paired_rows, read_log
here = sys.argv[1]
ROT = "ours (dcontrastive, data.rotated_classes=[90,180,270])"       # the digits default's runs (round 16)
V32 = "ours (dcontrastive, data.p=32 data.k=2)"                       # the glyphs default's runs (round 19)
KNOBS = ("loss.m2=[0.6,0.8,1.0]", "loss.m1=[0.4,0.3,0.2]", "loss.hinge=squared")


def take(path, variant=None, seeds=None):
    """The runs of one log (relative to this folder), of one variant and of some seeds if given."""
    return [r for r in read_log(f"{here}/{path}")
            if (variant is None or r["variant"] == variant) and (seeds is None or r["seed"] in seeds)]


d_logged = take("../round16/d_rot.jsonl", ROT, (0, 1, 2))
g_logged = take("../round19/g_p32k2.jsonl", V32, (0, 1, 2))
d_ref = take("d_check.jsonl") + take("d_default.jsonl", seeds=(1, 2))       # (seeds 3-5 are the addition's)
g_ref = take("g_check.jsonl") + take("g_default.jsonl", seeds=(1, 2))
print("## the default at 7eec05c on this machine minus its logged runs (seed 0: the check; seeds 0-2)")
print_paired_rows("data", [("digits, seed 0", take("d_check.jsonl"), [r for r in d_logged if r["seed"] == 0]),
                           ("glyphs, seed 0", take("g_check.jsonl"), [r for r in g_logged if r["seed"] == 0]),
                           ("digits, seeds 0-2", d_ref, d_logged), ("glyphs, seeds 0-2", g_ref, g_logged)])
means, pairs = [("digits: the default here", d_ref), ("glyphs: the default here", g_ref)], []
for knob in KNOBS:
    v = f"ours (dcontrastive, {knob})"
    for data, path, ref in (("digits", "d_screen.jsonl", d_ref), ("glyphs", "g_screen.jsonl", g_ref)):
        means.append((f"{data}: {knob}", take(path, v)))
        pairs.append((f"{data}: {knob} − the default", take(path, v), ref))
print("## the screen, seeds 0-2 x 3 folds: means, and run by run")
print_mean_rows("variant", means, spread=True)
print_paired_rows("comparison", pairs)
print("train s a fold: " + ", ".join(f"{name} {statistics.mean(r['train_s'] for r in runs):.1f}"
                                     for name, runs in means))
PY

# The goal reading on this machine: the default minus the peer at its better setting, run by run, from this
# machine's runs and from the logged ones (digits: rounds 16 and 18; glyphs 16 px: round 19)
python - "$HERE" <<'PY'
import statistics
import sys
from bench_quality import print_mean_rows, print_paired_rows, read_log
here = sys.argv[1]
PEER = "PML ContrastiveLoss (defaults), P×K, model.embedding=concat, no weight decay, model.pool_grid=2, "
D_PEER, G_PEER = PEER + "optimizer.lr=0.0001, optimizer.head_lr_mult=1", PEER + "optimizer.head_lr_mult=0.1, data.p=32, data.k=2"


def take(paths, variant, seeds):
    return [r for path in paths for r in read_log(f"{here}/{path}") if r["variant"] == variant and r["seed"] in seeds]


DATA = {"digits": ((("d_check.jsonl", "d_default.jsonl"), "ours (dcontrastive)"), (("d_peer.jsonl",), D_PEER),
                   (("../round16/d_rot.jsonl", "../round16/d_rot_fresh_a.jsonl"),
                    "ours (dcontrastive, data.rotated_classes=[90,180,270])"), (("../round18/d_peer_rot.jsonl",), D_PEER)),
        "glyphs": ((("g_check.jsonl", "g_default.jsonl"), "ours (dcontrastive)"), (("g_peer.jsonl",), G_PEER),
                   (("../round19/g_p32k2.jsonl", "../round19/g_p32k2_fresh.jsonl"), "ours (dcontrastive, data.p=32 data.k=2)"),
                   (("../round19/g_peer_p32k2.jsonl",), G_PEER))}
for data, (ours_here, peer_here, ours_logged, peer_logged) in DATA.items():
    for seeds, label in ((range(3), "seeds 0-2"), (range(6), "seeds 0-5")):
        runs = {name: take(*where, seeds) for name, where in (("the default here", ours_here), ("the peer here", peer_here),
                                                              ("the default logged", ours_logged),
                                                              ("the peer logged", peer_logged))}
        print(f"## {data} 16 px, {label} x 3 folds: the default and the peer, here and logged")
        print_mean_rows("variant", list(runs.items()), spread=True)
        print_paired_rows("comparison", [("here: the default − the peer", runs["the default here"], runs["the peer here"]),
                                         ("logged: the default − the peer", runs["the default logged"],
                                          runs["the peer logged"])])
        here_s = [statistics.mean(r["train_s"] for r in runs[k]) for k in ("the default here", "the peer here")]
        print(f"training time here, the default / the peer: {here_s[0] / here_s[1]:.2f}x")
PY

# The photos on this machine (the last addition): Fashion-MNIST at 16 px, seeds 0-2, the default and the peer at
# its better setting there (digits'), here and in round 21's logged runs
python - "$HERE" <<'PY'
import sys
from bench_quality import print_mean_rows, print_paired_rows, read_log
here = sys.argv[1]
PEER = ("PML ContrastiveLoss (defaults), P×K, model.embedding=concat, no weight decay, model.pool_grid=2, "
        "optimizer.lr=0.0001, optimizer.head_lr_mult=1")


def take(path, variant):
    return [r for r in read_log(f"{here}/{path}") if r["variant"] == variant and r["seed"] in (0, 1, 2)]


runs = {"the default here": take("f_default.jsonl", "ours (dcontrastive)"), "the peer here": take("f_peer.jsonl", PEER),
        "the default logged": take("../round21/f_ours.jsonl", "ours (dcontrastive)"),
        "the peer logged": take("../round21/f_peer_d.jsonl", PEER)}
print("## Fashion-MNIST 16 px, seeds 0-2 x 3 folds: the default and the peer, here and logged")
print_mean_rows("variant", list(runs.items()), spread=True)
print_paired_rows("comparison", [("here: the default − the peer", runs["the default here"], runs["the peer here"]),
                                 ("logged: the default − the peer", runs["the default logged"], runs["the peer logged"]),
                                 ("the default: here − logged", runs["the default here"], runs["the default logged"])])
PY
