"""Pair-list files (LFW pairs.txt, CSV): parsing, folds, and malformed input named with file and line."""
from pathlib import Path

import pytest

from helpers import PAIRS, make_csv_pairs
from helpers import make_lfw_tree as lfw_tree
from siamese.data.pair_files import read_csv_pairs, read_lfw_pairs


def test_pairs_folds_labels_and_paths(tmp_path):
    root = lfw_tree(tmp_path / "lfw")
    (tmp_path / "pairs.txt").write_text(PAIRS)
    pairs = read_lfw_pairs(tmp_path / "pairs.txt", root)
    assert len(pairs) == 8
    assert pairs.y.tolist() == [1, 1, 0, 0, 1, 1, 0, 0]
    assert pairs.fold.tolist() == [0, 0, 0, 0, 1, 1, 1, 1]
    assert pairs.paths1[0] == root / "Ann_A" / "Ann_A_0001.jpg"
    assert pairs.paths2[3] == root / "Cy_C" / "Cy_C_0001.jpg"


def test_single_number_header_is_one_fold(tmp_path):
    root = lfw_tree(tmp_path / "lfw")
    (tmp_path / "pairs.txt").write_text("1\nAnn_A 1 2\nAnn_A 1 Bob_B 1\n")
    pairs = read_lfw_pairs(tmp_path / "pairs.txt", root)
    assert pairs.y.tolist() == [1, 0] and pairs.fold.tolist() == [0, 0]


@pytest.mark.parametrize("text,match", [
    ("ten\n", r"pairs\.txt:1: expected '<folds> <pairs per fold>'"),
    ("0 0\n", r"pairs\.txt:1: expected '<folds> <pairs per fold>' or '<pairs per fold>' \(positive integers\), "
               r"got '0 0'"),
    ("1 2\nAnn_A 1 2\n", r"promises 1 fold\(s\) × 2 × 2 pairs = 4 lines, the file has 1"),
    ("1\nAnn_A 1 Bob_B 1\nAnn_A 1 Bob_B 2\n", r"pairs\.txt:2: 'Ann_A 1 Bob_B 1': expected a same pair"),
    ("1\nAnn_A 1 x\nAnn_A 1 Bob_B 1\n", r"pairs\.txt:2: 'Ann_A 1 x': image number 'x' is not an integer"),
])
def test_malformed_lines_are_named(tmp_path, text, match):
    root = lfw_tree(tmp_path / "lfw")
    (tmp_path / "pairs.txt").write_text(text)
    with pytest.raises(ValueError, match=match):
        read_lfw_pairs(tmp_path / "pairs.txt", root)


def test_missing_image_and_missing_root_are_named(tmp_path):
    root = lfw_tree(tmp_path / "lfw")
    (tmp_path / "pairs.txt").write_text("1\nAnn_A 1 9\nAnn_A 1 Bob_B 1\n")
    with pytest.raises(FileNotFoundError, match=r"pairs\.txt:2: 'Ann_A 1 9': image '.*Ann_A_0009\.jpg' not found"):
        read_lfw_pairs(tmp_path / "pairs.txt", root)
    with pytest.raises(FileNotFoundError, match=r"(?s)is not a folder.*root/<name>/<name>_0001\.jpg"):
        read_lfw_pairs(tmp_path / "pairs.txt", tmp_path / "nope")


def test_csv_pairs_with_and_without_header(tmp_path):
    for header in (True, False):
        root = tmp_path / f"h{header}"
        pairs = read_csv_pairs(make_csv_pairs(root, n_pairs=6, header=header), root)
        assert pairs.y.tolist() == [1, 0, 1, 0, 1, 0] and pairs.fold.tolist() == [0, 0, 1, 1, 0, 0]
        assert pairs.paths1[0] == root / "cat" / "0.png"


@pytest.mark.parametrize("line,match", [
    ("cat/0.png,cat/1.png", r"pairs\.csv:2: 'cat/0\.png,cat/1\.png': expected 3 or 4 fields, got 2"),
    ("cat/0.png,cat/1.png,yes", r"pairs\.csv:2: .*label must be 1 \(same\) or 0 \(different\), got 'yes'"),
    ("cat/0.png,cat/99.png,1", r"pairs\.csv:2: .*image '.*cat/99\.png' not found"),
    ("cat/0.png,cat/1.png,1,x", r"fold must be an integer, got 'x'"),
])
def test_malformed_csv_lines_are_named(tmp_path, line, match):
    make_csv_pairs(tmp_path, n_pairs=2)
    (tmp_path / "pairs.csv").write_text("path1,path2,label\n" + line + "\n")
    with pytest.raises((ValueError, FileNotFoundError), match=match):
        read_csv_pairs(tmp_path / "pairs.csv", tmp_path)


def test_first_line_is_a_header_only_when_it_is_not_shaped_like_a_pair(tmp_path):
    make_csv_pairs(tmp_path, n_pairs=2)
    (tmp_path / "pairs.csv").write_text("cat/0.png,cat/1.png,yes\ncat/0.png,dog/1.png,0\n")
    with pytest.raises(ValueError, match=r"pairs\.csv:1: 'cat/0\.png,cat/1\.png,yes': label must be 1"):
        read_csv_pairs(tmp_path / "pairs.csv", tmp_path)


def test_a_byte_order_mark_without_header_does_not_break_the_first_path(tmp_path):
    make_csv_pairs(tmp_path, n_pairs=2)
    (tmp_path / "pairs.csv").write_bytes("\ufeffcat/0.png,cat/1.png,1\ncat/0.png,dog/1.png,0\n".encode())
    pairs = read_csv_pairs(tmp_path / "pairs.csv", tmp_path)
    assert pairs.paths1[0] == tmp_path / "cat" / "0.png" and pairs.y.tolist() == [1, 0]


def test_a_file_that_is_not_utf8_is_named_with_its_line_and_the_fix(tmp_path):
    make_csv_pairs(tmp_path, n_pairs=2)
    (tmp_path / "pairs.csv").write_bytes("cat/0.png,cat/1.png,1\ncaf\u00e9/0.png,dog/1.png,0\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"pairs\.csv:2: not UTF-8 text \(byte 0xe9\); save the file as UTF-8"):
        read_csv_pairs(tmp_path / "pairs.csv", tmp_path)


def test_duplicated_pairs_are_kept_once_with_a_warning_and_conflicting_labels_refused(tmp_path):
    make_csv_pairs(tmp_path, n_pairs=2)
    lines = ["cat/0.png,cat/1.png,1", "cat/0.png,dog/1.png,0", "cat/1.png,cat/0.png,1", "cat/0.png,cat/1.png,1"]
    (tmp_path / "pairs.csv").write_text("\n".join(lines) + "\n")
    with pytest.warns(UserWarning, match=r"2 duplicated pair line\(s\) dropped, each pair kept once "
                                         r"\(first: line 3 repeats line 1\)"):
        pairs = read_csv_pairs(tmp_path / "pairs.csv", tmp_path)
    assert pairs.y.tolist() == [1, 0]
    (tmp_path / "pairs.csv").write_text("cat/0.png,cat/1.png,1\ncat/1.png,cat/0.png,0\n")
    with pytest.raises(ValueError, match=r"pairs\.csv:2: .*this pair has label 0 but line 1 gives it 1"):
        read_csv_pairs(tmp_path / "pairs.csv", tmp_path)


def test_each_distinct_image_is_checked_on_disk_once(tmp_path, monkeypatch):
    make_csv_pairs(tmp_path, n_pairs=2)
    lines = [f"cat/{k % 10}.png,dog/{(k * 7) % 10}.png,0" for k in range(100)]
    (tmp_path / "pairs.csv").write_text("\n".join(dict.fromkeys(lines)) + "\n")
    calls = []
    real = Path.is_file
    monkeypatch.setattr(Path, "is_file", lambda self: calls.append(self) or real(self))
    read_csv_pairs(tmp_path / "pairs.csv", tmp_path)
    assert len(calls) <= 20 + 1          # 10 cat + 10 dog images, and the CSV itself
