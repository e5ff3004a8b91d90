"""The fault table: each fault is really caused, and what the program did is checked, not assumed.

Faults: a SIGKILL mid-epoch then `ckpt_path=last`; NaN injected into a tower head; a corrupt image
in a folder data set (training, then export with on_bad_image=skip); a full disk under
scripts/evaluate.py and under scripts/export.py (a 16 MiB tmpfs, needs root and mount, else reported
as not run); a second training into a busy run directory; a checkpoint replaced under an export;
bad pair files, bad images and bad configs, each refused with the message quoted.

    python scripts/bench/bench_faults.py
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from PIL import Image

from common import machine_header, write_digits_pngs
from siamese.index_store import index_file

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
    """The line of stderr that says what went wrong (the last naming an error, else the first)."""
    noise = ("full_key", "object_type")
    lines = [line.strip() for line in proc.stderr.splitlines()
             if line.strip() and "HYDRA_FULL_ERROR" not in line and not line.strip().startswith(noise)]
    errors = [line for line in lines if "Error" in line or "error" in line]
    return (errors[-1] if errors else lines[0] if lines else "").replace("|", "/")[:260]


def figures(run: Path) -> dict:
    report = json.loads((run / "report.json").read_text())
    return {k: report[k] for k in ("verification", "retrieval", "one_shot")}


def kill_and_resume(tmp: Path) -> tuple[str, str]:
    straight, killed = tmp / "straight", tmp / "killed"
    script("train.py", f"hydra.run.dir={straight}", *SHORT)
    first = script("train.py", f"hydra.run.dir={killed}", *SHORT, FAULT, "+callbacks.fault.kill_at_step=7")
    resumed = script("train.py", f"hydra.run.dir={killed}", *SHORT, "ckpt_path=last")
    logged = (killed / "logs" / "metrics.csv").read_text().splitlines()
    same = resumed.returncode == 0 and figures(killed) == figures(straight) and \
        index_file(killed, json.loads((killed / "index.json").read_text())).read_bytes() == \
        index_file(straight, json.loads((straight / "index.json").read_text())).read_bytes()
    return (f"killed (exit {first.returncode}); `ckpt_path=last` resumed from the epoch-2 checkpoint and "
            f"finished (exit {resumed.returncode})",
            f"nothing: report and index identical to an uninterrupted run; logs/metrics.csv holds "
            f"{len(logged) - 1} rows, the killed run's included" if same else "RESULT DIFFERS")


def nan_injection(tmp: Path) -> tuple[str, str]:
    proc = script("train.py", f"hydra.run.dir={tmp / 'nan'}", *SHORT, FAULT, "+callbacks.fault.nan_at_step=4",
                  "+callbacks.fault.nan_stage=2")
    written = [n for n in ("index.json", "report.json") if (tmp / "nan" / n).exists()]
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


NO_TMPFS = ("not run: mounting a small tmpfs needs root", "—")


@contextlib.contextmanager
def small_disk(folder: Path, size: str = "16m"):
    """A tmpfs of ``size`` mounted at ``folder`` for the block (``None`` where mounting is not allowed)."""
    folder.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                                           capture_output=True).returncode != 0:
        yield None
        return
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], capture_output=True)


def fill(disk: Path, leave: int) -> None:
    """Fill ``disk`` up to ``leave`` free bytes."""
    (disk / "filler").write_bytes(b"\0" * max(shutil.disk_usage(disk).free - leave, 0))


def files_of(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file() and p.name != ".lock"}


def full_disk(tmp: Path) -> tuple[str, str]:
    with small_disk(tmp / "disk") as disk:
        if disk is None:
            return NO_TMPFS
        run = disk / "run"
        shutil.copytree(tmp / "straight", run, ignore=shutil.ignore_patterns("*.ckpt", "logs"))
        (run / "checkpoints").mkdir(exist_ok=True)
        shutil.copy(tmp / "straight" / "checkpoints" / "best.ckpt", run / "checkpoints" / "best.ckpt")
        before = files_of(run)
        fill(disk, 16 * 1024)
        proc = script("evaluate.py", f"run_dir={run}")
        after = files_of(run)
        leftovers = [n for n in after if n.endswith(".tmp")]
        intact = before == after and not leftovers
        return (f"evaluate.py failed (exit {proc.returncode}): {last_error(proc)}",
                "nothing: every report file as before, no temporary file left" if intact else f"CHANGED {leftovers}")


def full_disk_export(tmp: Path) -> tuple[str, str]:
    with small_disk(tmp / "disk2") as disk:
        if disk is None:
            return NO_TMPFS
        images = write_digits_pngs(tmp / "digits_png")
        out = disk / "export"
        first = script("export.py", f"run_dir={tmp / 'straight'}", f"images={images / '0'}", f"out={out}")
        before = files_of(out)
        fill(disk, 64 * 1024)
        proc = script("export.py", f"run_dir={tmp / 'straight'}", f"images={images}", f"out={out}")
        after = files_of(out)
        intact = first.returncode == 0 and before == after
        return (f"export.py of all 1797 digits failed (exit {proc.returncode}): {last_error(proc)}",
                "nothing: the previous index and index.json as they were, no temporary file left" if intact
                else f"CHANGED {sorted(set(after) ^ set(before))}")


def busy_run_dir(tmp: Path) -> tuple[str, str]:
    run = tmp / "busy"
    first = subprocess.Popen([sys.executable, str(ROOT / "scripts" / "train.py"), f"hydra.run.dir={run}", *SHORT],
                             cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not (run / ".lock").exists() and time.time() < deadline:
        time.sleep(0.2)
    second = script("train.py", f"hydra.run.dir={run}", *SHORT)
    first.wait()
    ok = first.returncode == 0 and (run / "report.json").is_file()
    return (f"the second run refused at once (exit {second.returncode}): {last_error(second)}",
            "nothing: the first run finished alone" if ok else "THE FIRST RUN FAILED")


def replaced_checkpoint(tmp: Path) -> tuple[str, str]:
    run = tmp / "replaced"
    shutil.copytree(tmp / "straight", run, ignore=shutil.ignore_patterns(".lock"))
    shutil.copy(tmp / "clean" / "checkpoints" / "best.ckpt", run / "checkpoints" / "best.ckpt")
    proc = script("match.py", f"index_dir={run}", f"query={tmp / 'images' / 'a' / '0.png'}")
    return (f"match.py refused (exit {proc.returncode}): {last_error(proc)}",
            "nothing: no neighbours from a tower that did not build the index")


def refusal(script_name: str, *args: str) -> Callable[[Path], tuple[str, str]]:
    """A fault that the program must refuse with a clear message: the row quotes the message."""
    def run(tmp: Path) -> tuple[str, str]:
        proc = script(script_name, *(a.format(tmp=tmp) for a in args))
        return f"refused (exit {proc.returncode}): {last_error(proc)}", "nothing"
    return run


def bad_inputs(tmp: Path) -> None:
    """The files the refusal rows point at: pair lists and images with one defect each."""
    root = tmp / "images"
    (tmp / "latin1.csv").write_bytes("a/0.png,a/1.png,1\ncaf\u00e9/0.png,b/1.png,0\n".encode("latin-1"))
    (tmp / "badfirst.csv").write_text("a/0.png,a/1.png,yes\na/0.png,b/1.png,0\n")
    (tmp / "conflict.csv").write_text("a/0.png,a/1.png,1\na/1.png,a/0.png,0\n")
    (tmp / "zero.txt").write_text("0 0\n")
    jpeg = tmp / "jpeg" / "x"
    jpeg.mkdir(parents=True)
    for c in ("x", "y"):
        (tmp / "jpeg" / c).mkdir(exist_ok=True)
        for k in range(6):
            Image.new("RGB", (32, 32), color=(k * 30, 0, 0)).save(tmp / "jpeg" / c / f"{k}.jpg")
    data = (jpeg / "0.jpg").read_bytes()
    (jpeg / "0.jpg").write_bytes(data[: len(data) // 2])
    (tmp / "broken_query.png").write_bytes(b"\x89PNG not really")
    assert root.is_dir()


def bad_config(tmp: Path) -> tuple[str, str]:
    proc = script("train.py", f"hydra.run.dir={tmp / 'bad'}", *SHORT, "loss.m1=2.0")
    started = (tmp / "bad" / "checkpoints").exists()
    return (f"refused at once (exit {proc.returncode}): {last_error(proc)}",
            "nothing: no data read, no checkpoint" if not started else "A RUN STARTED")


def main() -> None:
    print(machine_header())
    rows = []
    pair_list = ["trainer=debug", "loss=dcontrastive"]       # a pair-list data module has no data.*_pairs
    csv = [*pair_list, "data=csv_pairs", "data.root={tmp}/images"]
    faults = (
        ("SIGKILL mid-epoch (step 7 of 12), then resume", kill_and_resume),
        ("NaN injected into stage 2's head at step 4", nan_injection),
        ("corrupt PNG in a class folder", corrupt_image),
        ("disk full while evaluate.py rewrites the reports", full_disk),
        ("disk full while export.py writes a new index over an old one", full_disk_export),
        ("a second training into the run directory of a running one", busy_run_dir),
        ("the checkpoint under an index replaced by another run's", replaced_checkpoint),
        ("bad config: loss.m1=2.0 > loss.m2", bad_config),
        ("bad config: index=ivfpq index.m=5 (does not divide 192)",
         refusal("train.py", "hydra.run.dir={tmp}/c1", *SHORT, "index=ivfpq", "index.m=5")),
        ("bad config: evaluation.n_way=1", refusal("train.py", "hydra.run.dir={tmp}/c2", *SHORT, "evaluation.n_way=1")),
        ("bad config: data.source.image_size=2",
         refusal("train.py", "hydra.run.dir={tmp}/c3", *SHORT, "data.source.image_size=2")),
        ("bad config: trainer.max_epochs=-1",
         refusal("train.py", "hydra.run.dir={tmp}/c4", *SHORT, "trainer.max_epochs=-1")),
        ("truncated JPEG in a class folder", refusal("train.py", "hydra.run.dir={tmp}/j", *SHORT, "data=folder",
                                                     "data.source.root={tmp}/jpeg", "data.source.channels=3")),
        ("Latin-1 CSV of pairs", refusal("train.py", "hydra.run.dir={tmp}/l1", *csv,
                                         "data.pairs_file={tmp}/latin1.csv")),
        ("CSV whose first line has a bad label", refusal("train.py", "hydra.run.dir={tmp}/l2", *csv,
                                                         "data.pairs_file={tmp}/badfirst.csv")),
        ("CSV with one pair given both labels", refusal("train.py", "hydra.run.dir={tmp}/l3", *csv,
                                                        "data.pairs_file={tmp}/conflict.csv")),
        ("LFW pairs.txt with header '0 0'", refusal("train.py", "hydra.run.dir={tmp}/l4", *pair_list, "data=lfw_pairs",
                                                    "data.pairs_file={tmp}/zero.txt", "data.root={tmp}/images")),
        ("match.py k=0", refusal("match.py", "index_dir={tmp}/straight", "query={tmp}/images/a/0.png", "k=0")),
        ("match.py on an unreadable query image",
         refusal("match.py", "index_dir={tmp}/straight", "query={tmp}/broken_query.png")),
        ("match.py with a misspelt key (qeury=)", refusal("match.py", "index_dir={tmp}/straight", "qeury=x.png")),
        ("match.py without arguments", refusal("match.py")),
    )
    with tempfile.TemporaryDirectory() as tmp:
        for name, fault in faults:
            if name.startswith("truncated JPEG"):
                bad_inputs(Path(tmp))
            did, lost = fault(Path(tmp))
            rows.append(f"| {name} | {did} | {lost} |")
    print("\n| fault | what the program did | what was lost |\n|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
