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
compare("60 glyph characters (40 training a fold, rule: off), seeds 0-2 x 3 folds", [f"{here}/g60.jsonl"])
# ten glyph characters A-J (P 6, K 16): fresh seeds 3-5, and with the sixteenth round's seeds 0-2
compare("glyphs A-J, fresh seeds 3-5 x 3 folds", [f"{here}/g10_fresh.jsonl"], with_raw=True)
compare("glyphs A-J, seeds 0-5 x 3 folds (0-2: the sixteenth round's runs)",
        [f"{here}/../round16/g10_a.jsonl", f"{here}/../round16/g10_b.jsonl", f"{here}/g10_fresh.jsonl"],
        with_raw=True)
PY
