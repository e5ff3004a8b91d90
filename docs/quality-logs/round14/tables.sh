# The fourteenth round's tables (docs/benchmarks.md), rebuilt from the logged runs without training:
#   bash docs/quality-logs/round14/tables.sh      (with the project's venv active)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../report.sh"    # R11, BENCH, TMP, DEF, PEER_D, PEER_G, report()

python - "$HERE" "$R11" <<'PY'
import sys
from bench_quality import HIGHER_IS_BETTER, mean_std, paired_cells, print_mean_rows, print_paired_rows
from bench_quality import read_log as rows
here, r11 = sys.argv[1:]

# probe_center.py: each run evaluated plain and centred from the same weights
for data, log in (("digits, seeds 0-2, folds 0-2", "d_center"), ("glyphs 16 px, seeds 0-2, fold 0", "g_center")):
    print(f"## centring on the training images' mean, {data}: plain, and centred minus plain run by run")
    print("| variant | centring | runs | " + " | ".join(HIGHER_IS_BETTER) + " |\n|---|---|---|---|---|---|---|")
    runs = rows(f"{here}/{log}.jsonl")
    for name in ("ours", "peer", "raw"):
        mine = [r for r in runs if r["variant"] == name]
        plain = [{"seed": r["seed"], "fold": r["fold"], **r["plain"]} for r in mine]
        means = [f"{mean_std([p[k] for p in plain])[0]:.4f}" for k in HIGHER_IS_BETTER]
        print(f"| {name} | plain | {len(plain)} | " + " | ".join(means) + " |")
        for how in ("stage", "model"):
            n, cells = paired_cells([{"seed": r["seed"], "fold": r["fold"], **r[how]} for r in mine], plain)
            print(f"| {name} | {how} − plain | {n} | " + " | ".join(cells) + " |")

# digits at 24 px (fold 0 of seeds 0-2) and 32 px (seeds 0-2 and, fresh, 3-5 and 6-8; the peer at 32 px on 3-5), paired
# with the 16-px runs of the same seed and fold (the eleventh round's; seeds 6-8 this round's)
ours16 = "ours (dcontrastive, loss.m1=0.2 optimizer.weight_decay=0.001)"
peer = ("PML ContrastiveLoss (defaults), P×K, model.embedding=concat, no weight decay, model.pool_grid=2, "
        "optimizer.lr=0.0001, optimizer.head_lr_mult=1")
at16 = [r for f in ("d012", "d2", "d012_peer", "d_peer") for r in rows(f"{r11}/{f}.jsonl") if r["epochs"] in (0, 10)]
at16 += [{**r, "variant": ours16 if r["variant"] == "ours (dcontrastive)" else r["variant"]}   # seeds 6-8, this
         for r in rows(f"{here}/d16g.jsonl")]                                                   # round, same recipe
at32 = [r for f in ("d32", "d32f", "d32f_peer", "d32g") for r in rows(f"{here}/{f}.jsonl")]
pick = lambda runs, name, seeds: [r for r in runs if r["variant"] == name and r["seed"] in seeds]
for seeds in ({0, 1, 2}, {3, 4, 5}, {6, 7, 8}, {3, 4, 5, 6, 7, 8}, set(range(9))):
    s32 = {name: pick(at32, name, seeds) for name in ("ours (dcontrastive)", "raw pixels", peer)}
    s16 = {name: pick(at16, name, seeds) for name in (ours16, "raw pixels", peer)}
    label = "seeds " + ",".join(map(str, sorted(seeds)))
    print(f"## digits at 32 px (data.source.image_size=32), {label}: each at 32 px, and paired run by run")
    print_mean_rows("variant at 32 px", list(s32.items()), spread=True)
    print_paired_rows("comparison", [
        ("default at 32 − at 16 px", s32["ours (dcontrastive)"], s16[ours16]),
        ("the peer at 32 − at 16 px", s32[peer], s16[peer]),
        ("raw pixels at 32 − at 16 px", s32["raw pixels"], s16["raw pixels"]),
        ("default − raw pixels, both at 32", s32["ours (dcontrastive)"], s32["raw pixels"]),
        ("default − raw pixels, both at 16", s16[ours16], s16["raw pixels"]),
        ("default − the peer, both at 32", s32["ours (dcontrastive)"], s32[peer]),
        ("default − the peer, both at 16", s16[ours16], s16[peer])])
d24 = {name: pick(rows(f"{here}/d24.jsonl"), name, {0, 1, 2}) for name in ("ours (dcontrastive)", "raw pixels")}
print("## digits at 24 px, fold 0 of seeds 0-2, run by run")
print_paired_rows("comparison", [("default at 24 − at 16 px", d24["ours (dcontrastive)"], pick(at16, ours16, {0, 1, 2})),
                                 ("default − raw pixels, both at 24", d24["ours (dcontrastive)"], d24["raw pixels"])])
PY
