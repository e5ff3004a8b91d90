"""Pair-list files (LFW pairs.txt, CSV): parsing, folds, and malformed input named with file and line."""
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
