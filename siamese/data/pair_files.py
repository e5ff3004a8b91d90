"""LFW's ``pairs.txt``: verification pairs with their folds, read from a local copy.

Format (Huang et al. 2007, "Labeled Faces in the Wild")::

    10 300                      first line: "<folds> <pairs per fold>", or "<pairs per fold>" (one fold)
    Abel_Pacheco 1 4            a same pair: name, image number, image number
    ...                         (pairs-per-fold such lines)
    Abdel_Madi 1 Dean_Barker 1  a different pair: name, number, name, number
    ...                         (pairs-per-fold such lines), then the next fold

Image ``n`` of ``name`` is ``root/<name>/<name>_<n:04d>.jpg``.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from siamese.imaging import IMAGE_SUFFIXES

LFW_LAYOUT = """expected layout:
    root/<name>/<name>_0001.jpg
    root/<name>/<name>_0002.jpg
    ..."""


@dataclass
class PairList:
    """Pairs of image paths with labels ``y`` (1 same, 0 different), fold ids, and where they came from."""

    paths1: list[Path]
    paths2: list[Path]
    y: np.ndarray
    fold: np.ndarray
    origin: str

    def __len__(self) -> int:
        return len(self.y)


def _image(root: Path, name: str, number: str, where: str) -> Path:
    try:
        n = int(number)
    except ValueError:
        raise ValueError(f"{where}: image number {number!r} is not an integer") from None
    return root / name / f"{name}_{n:04d}.jpg"


class ExistingFiles:
    """Checks that image files exist, each distinct path once (a pair list names an image many times)."""

    def __init__(self):
        self.seen: set[Path] = set()

    def require(self, where: str, paths, hint: str = "") -> None:
        for path in paths:
            if path in self.seen:
                continue
            if not path.is_file():
                raise FileNotFoundError(f"{where}: image {str(path)!r} not found{hint}")
            self.seen.add(path)


def read_text_lines(path: Path) -> list[str]:
    """The lines of a UTF-8 text file (a byte-order mark is ignored); a file in another encoding is
    refused naming the line and the fix."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig").splitlines()
    except UnicodeDecodeError as err:
        line = data[:err.start].count(b"\n") + 1
        raise ValueError(f"{path}:{line}: not UTF-8 text (byte {data[err.start]:#04x}); save the file as "
                         "UTF-8, e.g. iconv -f latin1 -t utf-8 old.csv > new.csv") from None


def read_lfw_pairs(pairs_file: str | Path, root: str | Path) -> PairList:
    """Parse ``pairs_file`` and check that every image it names exists under ``root``."""
    pairs_file, root = Path(pairs_file).expanduser(), Path(root).expanduser()
    if not pairs_file.is_file():
        raise FileNotFoundError(f"pairs file {str(pairs_file)!r} not found")
    if not root.is_dir():
        raise FileNotFoundError(f"image root {str(root)!r} is not a folder; {LFW_LAYOUT}")
    lines = read_text_lines(pairs_file)
    header = lines[0].split() if lines else []
    if not 1 <= len(header) <= 2 or not all(h.isdigit() and int(h) > 0 for h in header):
        raise ValueError(f"{pairs_file}:1: expected '<folds> <pairs per fold>' or '<pairs per fold>' "
                         f"(positive integers), got {lines[0] if lines else ''!r}")
    folds, per_fold = (int(header[0]), int(header[1])) if len(header) == 2 else (1, int(header[0]))
    body = [(k + 2, line) for k, line in enumerate(lines[1:]) if line.strip()]
    if len(body) != 2 * folds * per_fold:
        raise ValueError(f"{pairs_file}: the header promises {folds} fold(s) × 2 × {per_fold} pairs = "
                         f"{2 * folds * per_fold} lines, the file has {len(body)}")
    paths1, paths2, y, fold = [], [], [], []
    files = ExistingFiles()
    for k, (lineno, line) in enumerate(body):
        where = f"{pairs_file}:{lineno}: {line.strip()!r}"
        fields = line.split()
        same = (k % (2 * per_fold)) < per_fold
        if same and len(fields) == 3:
            a, b = _image(root, fields[0], fields[1], where), _image(root, fields[0], fields[2], where)
        elif not same and len(fields) == 4:
            a, b = _image(root, fields[0], fields[1], where), _image(root, fields[2], fields[3], where)
        else:
            kind = "a same pair 'name n1 n2'" if same else "a different pair 'name1 n1 name2 n2'"
            raise ValueError(f"{where}: expected {kind} here")
        files.require(where, (a, b), f"; {LFW_LAYOUT}")
        paths1.append(a)
        paths2.append(b)
        y.append(int(same))
        fold.append(k // (2 * per_fold))
    return PairList(paths1, paths2, np.asarray(y, dtype=np.int64), np.asarray(fold, dtype=np.int64),
                    origin=str(pairs_file))


CSV_LAYOUT = """expected: one pair a line, 'path1,path2,label[,fold]' (label 1 = same, 0 = different;
paths relative to root; an optional header line such as 'path1,path2,label,fold')"""


def _is_image_path(field: str) -> bool:
    return Path(field.strip()).suffix.lower() in IMAGE_SUFFIXES


def read_csv_pairs(csv_file: str | Path, root: str | Path) -> PairList:
    """Parse a CSV of pairs; every named image must exist under ``root``. Without a fold column,
    every pair is in fold 0.

    The first line is a header only when it is not shaped like a pair (its first two fields are
    not image paths and its label is not 0/1); a pair line with a bad label is an error, quoted.
    A pair listed twice (in either order) is kept once, with a warning giving the count; the same
    pair with both labels is an error naming both lines.
    """
    import csv

    csv_file, root = Path(csv_file).expanduser(), Path(root).expanduser()
    if not csv_file.is_file():
        raise FileNotFoundError(f"pairs file {str(csv_file)!r} not found")
    if not root.is_dir():
        raise FileNotFoundError(f"image root {str(root)!r} is not a folder")
    paths1, paths2, y, fold = [], [], [], []
    files = ExistingFiles()
    first_line: dict[tuple[str, str], tuple[int, int]] = {}       # pair (names, sorted) -> (line, label)
    path_of: dict[str, Path] = {}                                  # one Path per distinct name
    duplicates = []
    for lineno, row in enumerate(csv.reader(read_text_lines(csv_file)), start=1):
        if not row or not "".join(row).strip():
            continue
        where = f"{csv_file}:{lineno}: {','.join(row)!r}"
        if len(row) not in (3, 4):
            raise ValueError(f"{where}: expected 3 or 4 fields, got {len(row)}; {CSV_LAYOUT}")
        label = row[2].strip()
        if lineno == 1 and label not in ("0", "1") and not (_is_image_path(row[0]) and _is_image_path(row[1])):
            continue  # a header
        if label not in ("0", "1"):
            raise ValueError(f"{where}: label must be 1 (same) or 0 (different), got {label!r}")
        if len(row) == 4 and not row[3].strip().lstrip("-").isdigit():
            raise ValueError(f"{where}: fold must be an integer, got {row[3].strip()!r}")
        name_a, name_b = row[0].strip(), row[1].strip()
        key = (name_a, name_b) if name_a <= name_b else (name_b, name_a)
        if key in first_line:
            earlier, earlier_label = first_line[key]
            if earlier_label != int(label):
                raise ValueError(f"{where}: this pair has label {label} but line {earlier} gives it "
                                 f"{earlier_label}; a pair must have one label")
            duplicates.append((lineno, earlier))
            continue
        first_line[key] = (lineno, int(label))
        for name in (name_a, name_b):
            if name not in path_of:
                path_of[name] = root / name
                files.require(where, (path_of[name],))
        a, b = path_of[name_a], path_of[name_b]
        paths1.append(a)
        paths2.append(b)
        y.append(int(label))
        fold.append(int(row[3]) if len(row) == 4 else 0)
    if not y:
        raise ValueError(f"{csv_file}: no pairs; {CSV_LAYOUT}")
    if duplicates:
        line, earlier = duplicates[0]
        warnings.warn(f"{csv_file}: {len(duplicates)} duplicated pair line(s) dropped, each pair kept once "
                      f"(first: line {line} repeats line {earlier})", stacklevel=2)
    return PairList(paths1, paths2, np.asarray(y, dtype=np.int64), np.asarray(fold, dtype=np.int64),
                    origin=str(csv_file))
