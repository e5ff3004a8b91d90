# The twenty-second round's tables (docs/benchmarks.md), rebuilt from the logged runs without training:
#   bash docs/quality-logs/round22/tables.sh      (with the project's venv active)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../report.sh"    # BENCH on PYTHONPATH, TMP

# The check (the default on this machine against its logged runs, seed 0; it failed, so the default was
# rerun here on seeds 1-2), then the screen of the loss's per-layer margins and its squared hinge (seeds 0-2
# x 3 folds), run by run against the default's runs on this machine; then the goal reading on this machine
# (the default minus the peer at its better setting, from this machine's runs and from the logged ones:
# digits rounds 16 and 18, glyphs 16 px round 19, Fashion-MNIST 16 px round 21)
python - "$HERE" <<'PY'
import os
import statistics
import sys
from bench_quality import print_mean_rows, print_paired_rows, read_runs
os.chdir(sys.argv[1])      # the logs' paths are relative to this folder
OURS = "ours (dcontrastive)"                                           # the default's runs on this machine
ROT = "ours (dcontrastive, data.rotated_classes=[90,180,270])"       # the digits default's runs (round 16)
V32 = "ours (dcontrastive, data.p=32 data.k=2)"                       # the glyphs default's runs (round 19)
PEER = "PML ContrastiveLoss (defaults), P×K, model.embedding=concat, no weight decay, model.pool_grid=2, "
D_PEER = PEER + "optimizer.lr=0.0001, optimizer.head_lr_mult=1"
G_PEER = PEER + "optimizer.head_lr_mult=0.1, data.p=32, data.k=2"
KNOBS = ("loss.m2=[0.6,0.8,1.0]", "loss.m1=[0.4,0.3,0.2]", "loss.hinge=squared")


def here_and_logged(title, runs, extra=()):
    """The means of ``runs`` (the default and the peer, here and logged) and the default minus the peer run by
    run on each machine's runs, then any ``extra`` comparisons."""
    print(f"## {title}: the default and the peer, here and logged")
    print_mean_rows("variant", list(runs.items()), spread=True)
    print_paired_rows("comparison", [
        ("here: the default − the peer", runs["the default here"], runs["the peer here"]),
        ("logged: the default − the peer", runs["the default logged"], runs["the peer logged"]), *extra])


d_logged = read_runs("../round16/d_rot.jsonl", variant=ROT, seeds=(0, 1, 2))
g_logged = read_runs("../round19/g_p32k2.jsonl", variant=V32, seeds=(0, 1, 2))
d_ref = read_runs("d_check.jsonl") + read_runs("d_default.jsonl", seeds=(1, 2))   # (seeds 3-5 are the addition's)
g_ref = read_runs("g_check.jsonl") + read_runs("g_default.jsonl", seeds=(1, 2))
print("## the default at 7eec05c on this machine minus its logged runs (seed 0: the check; seeds 0-2)")
print_paired_rows("data", [("digits, seed 0", read_runs("d_check.jsonl"), [r for r in d_logged if r["seed"] == 0]),
                           ("glyphs, seed 0", read_runs("g_check.jsonl"), [r for r in g_logged if r["seed"] == 0]),
                           ("digits, seeds 0-2", d_ref, d_logged), ("glyphs, seeds 0-2", g_ref, g_logged)])
means, pairs = [("digits: the default here", d_ref), ("glyphs: the default here", g_ref)], []
for knob in KNOBS:
    v = f"ours (dcontrastive, {knob})"
    for data, path, ref in (("digits", "d_screen.jsonl", d_ref), ("glyphs", "g_screen.jsonl", g_ref)):
        means.append((f"{data}: {knob}", read_runs(path, variant=v)))
        pairs.append((f"{data}: {knob} − the default", read_runs(path, variant=v), ref))
print("## the screen, seeds 0-2 x 3 folds: means, and run by run")
print_mean_rows("variant", means, spread=True)
print_paired_rows("comparison", pairs)
print("train s a fold: " + ", ".join(f"{name} {statistics.mean(r['train_s'] for r in runs):.1f}"
                                     for name, runs in means))

# the goal reading: the logs of the default and the peer, here and logged, per data set
LOGS = {"digits": ((("d_check.jsonl", "d_default.jsonl"), OURS), (("d_peer.jsonl",), D_PEER),
                   (("../round16/d_rot.jsonl", "../round16/d_rot_fresh_a.jsonl"), ROT),
                   (("../round18/d_peer_rot.jsonl",), D_PEER)),
        "glyphs": ((("g_check.jsonl", "g_default.jsonl"), OURS), (("g_peer.jsonl",), G_PEER),
                   (("../round19/g_p32k2.jsonl", "../round19/g_p32k2_fresh.jsonl"), V32),
                   (("../round19/g_peer_p32k2.jsonl",), G_PEER))}
NAMES = ("the default here", "the peer here", "the default logged", "the peer logged")
for data, logs in LOGS.items():
    for seeds, label in ((range(3), "seeds 0-2"), (range(6), "seeds 0-5")):
        runs = {name: read_runs(*paths, variant=variant, seeds=seeds) for name, (paths, variant) in zip(NAMES, logs)}
        here_and_logged(f"{data} 16 px, {label} x 3 folds", runs)
        here_s = [statistics.mean(r["train_s"] for r in runs[k]) for k in NAMES[:2]]
        print(f"training time here, the default / the peer: {here_s[0] / here_s[1]:.2f}x")

# the photos on this machine (the last addition): Fashion-MNIST at 16 px, seeds 0-2, the peer at digits' setting
runs = {name: read_runs(path, variant=variant, seeds=range(3)) for name, path, variant in zip(
    NAMES, ("f_default.jsonl", "f_peer.jsonl", "../round21/f_ours.jsonl", "../round21/f_peer_d.jsonl"),
    (OURS, D_PEER, OURS, D_PEER))}
here_and_logged("Fashion-MNIST 16 px, seeds 0-2 x 3 folds", runs,
                [("the default: here − logged", runs["the default here"], runs["the default logged"])])
PY
