"""Pair sampling, splits and sources: label semantics, reproducibility, every input error."""
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from siamese.data import DigitsImages, FolderImages, PairDataModule, sample_pairs, split_indices
from siamese.data.rotated_classes import resolved_rotations


@pytest.fixture(scope="module")
def digits():
    return DigitsImages(image_size=8)


def make_module(source, **kwargs):
    defaults = dict(train_pairs=400, val_pairs=200, test_pairs=200, batch_size=50, seed=0)
    return PairDataModule(source, **{**defaults, **kwargs})


def test_pair_labels_mean_same_class(digits):
    dm = make_module(digits)
    for name in ("train", "val", "test"):
        p = dm.pairs(name)
        labels = digits.labels
        assert np.array_equal(p[:, 2] == 1, labels[p[:, 0]] == labels[p[:, 1]])
    batch = next(iter(dm.train_dataloader()))
    assert set(batch) == {"x1", "x2", "y", "c1", "c2", "i1", "i2", "k"}
    assert torch.equal(batch["y"] == 1, batch["c1"] == batch["c2"])
    assert batch["x1"].shape == (50, 1, 8, 8) and batch["y"].dtype == torch.float32


@pytest.mark.parametrize("fraction", [0.2, 0.5, 0.8])
def test_positive_fraction(digits, fraction):
    p = make_module(digits, positive_fraction=fraction, train_pairs=1000).pairs("train")
    assert p[:, 2].mean() == pytest.approx(fraction, abs=1e-3)


def test_pairs_stay_inside_their_split_and_never_pair_an_image_with_itself(digits):
    dm = make_module(digits)
    for name in ("train", "val", "test"):
        p = dm.pairs(name)
        assert np.isin(p[:, :2], dm.indices[name]).all()
        assert (p[:, 0] != p[:, 1]).all()


def test_val_test_fixed_train_resampled_and_seeded(digits):
    a, b = make_module(digits), make_module(digits)
    assert np.array_equal(a.fixed_pairs["val"], b.fixed_pairs["val"])
    assert np.array_equal(a.fixed_pairs["test"], b.fixed_pairs["test"])
    assert np.array_equal(a.pairs("train", epoch=3), b.pairs("train", epoch=3))
    assert not np.array_equal(a.pairs("train", epoch=0), a.pairs("train", epoch=1))
    c = make_module(digits, seed=1)
    assert not np.array_equal(a.fixed_pairs["val"], c.fixed_pairs["val"])


def test_sample_split_holds_out_a_share_of_every_class(digits):
    idx = split_indices(digits.labels, "samples", holdout=0.2, holdout_classes=0.3, seed=0)
    all_idx = np.concatenate(list(idx.values()))
    assert len(all_idx) == len(digits.labels) == len(np.unique(all_idx))
    for c in range(10):
        n = (digits.labels == c).sum()
        held = np.isin(np.flatnonzero(digits.labels == c), np.concatenate([idx["val"], idx["test"]])).sum()
        assert held == round(0.2 * n)


def test_class_split_trains_on_0_to_6_and_evaluates_on_7_to_9(digits):
    dm = make_module(digits, split="classes")
    assert set(digits.labels[dm.indices["train"]]) == set(range(7))
    assert set(digits.labels[dm.indices["enrol"]]) == set(digits.labels[dm.indices["test"]]) == {7, 8, 9}
    assert dm.retrieval_splits == ("enrol", "test")
    # val picks the checkpoint, the early stop and the threshold: never from a held-out class
    assert set(digits.labels[dm.indices["val"]]) == set(range(7))
    assert set(np.concatenate(list(dm.indices.values())).tolist()) == set(range(len(digits.labels)))
    for c in range(7):
        n = (digits.labels == c).sum()
        assert np.isin(np.flatnonzero(digits.labels == c), dm.indices["val"]).sum() == round(0.1 * n)


def test_validation_classes_are_held_out_whole_and_leave_the_test_images_alone(digits):
    default, dm = make_module(digits, split="classes"), make_module(digits, split="classes", val_classes=0.3)
    val, train = set(digits.labels[dm.indices["val"]]), set(digits.labels[dm.indices["train"]])
    assert len(val) == 2 and not val & train and val | train == set(range(7))     # round(0.3 · 7) classes
    assert np.isin(np.flatnonzero(np.isin(digits.labels, list(val))), dm.indices["val"]).all()   # all their images
    for part in ("enrol", "test"):
        assert np.array_equal(dm.indices[part], default.indices[part])
    with pytest.raises(ValueError, match=r"data\.val_classes=0\.3 holds out .* it needs data\.split=classes or source"):
        PairDataModule.check_settings(split="samples", val_classes=0.3)
    with pytest.raises(ValueError, match=r"data\.val_classes must be in \(0, 1\), got 1\.5"):
        PairDataModule.check_settings(split="classes", val_classes=1.5)
    with pytest.raises(ValueError, match=r"data\.val_classes=0\.9 holds out 6 of the 7 training classes"):
        make_module(digits, split="classes", val_classes=0.9)


def test_single_image_class_pairs_with_itself_and_warns_naming_it():
    labels = np.array([0, 0, 0, 1, 1, 2])
    p = sample_pairs(labels, 600, 0.5, np.random.default_rng(0))
    self_pairs = p[p[:, 0] == p[:, 1]]
    assert (self_pairs[:, 2] == 1).all() and set(self_pairs[:, 0]) == {5}

    class Tiny:
        channels = 1
        classes = ["a", "b", "lonely"]

        def __init__(self):
            self.labels = np.array([0] * 8 + [1] * 8 + [2])

        def __len__(self):
            return len(self.labels)

        def __getitem__(self, i):
            return torch.zeros(1, 4, 4)

    with pytest.warns(UserWarning, match=r"\['lonely'\] have a single image"):
        make_module(Tiny(), holdout=0.5)


def folder_tree(root, classes=("cat", "dog"), per_class=3, size=10, mode="L"):
    for ci, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for k in range(per_class):
            value = (ci * 80 + k * 20) % 256
            Image.new(mode, (size, size), color=value if mode == "L" else (value, 0, 0)).save(root / name / f"{k}.png")
    return root


def test_folder_source_reads_classes_and_ignores_junk(tmp_path):
    root = folder_tree(tmp_path / "imgs")
    (root / "cat" / ".DS_Store").write_bytes(b"junk")
    (root / "cat" / "notes.txt").write_text("not an image")
    (root / "dog" / "link.png").symlink_to(root / "dog" / "0.png")
    src = FolderImages(str(root), image_size=6, channels=3)
    assert src.classes == ["cat", "dog"] and len(src) == 6
    assert src[0].shape == (3, 6, 6) and 0.0 <= src[0].min() and src[0].max() <= 1.0
    assert list(src.labels) == [0, 0, 0, 1, 1, 1]


def test_folder_missing_root_shows_expected_layout(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"(?s)is not a folder.*root/\s+<class_a>/<image>"):
        FolderImages(str(tmp_path / "nope"))


def test_folder_unreadable_image_is_named(tmp_path):
    root = folder_tree(tmp_path / "imgs")
    (root / "dog" / "broken.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(ValueError, match=r"unreadable image '.*dog/broken\.png'"):
        FolderImages(str(root))


def test_folder_with_one_class_is_refused(tmp_path):
    root = folder_tree(tmp_path / "imgs", classes=("only",))
    with pytest.raises(ValueError, match=r"1 class\(es\); at least 2 are needed"):
        make_module(FolderImages(str(root)))


def test_split_leaving_no_positive_pair_is_refused(tmp_path):
    root = folder_tree(tmp_path / "imgs", classes=("a", "b", "c", "d"), per_class=10)
    # 20 % of 10 images held out per class: val and test get one image per class
    with pytest.raises(ValueError, match=r"every class of the val split has a single image"):
        make_module(FolderImages(str(root)))
    few = folder_tree(tmp_path / "few", classes=("a", "b", "c", "d"), per_class=3)
    # split=classes: val takes two images of each training class of 4 or more; these have 3
    with pytest.raises(ValueError, match=r"the val split is empty: .*training classes of 4 or more"):
        make_module(FolderImages(str(few)), split="classes", holdout_classes=0.5)


def test_empty_split_is_refused(tmp_path):
    root = folder_tree(tmp_path / "imgs", per_class=3)  # 20 % of 3 images rounds to 1: val gets none
    with pytest.raises(ValueError, match=r"the val split is empty"):
        make_module(FolderImages(str(root)))


def test_split_leaving_one_class_is_refused(digits):
    with pytest.raises(ValueError, match=r"the test split has 1 class\(es\)"):
        make_module(digits, split="classes", holdout_classes=0.1)


@pytest.mark.parametrize("kwargs,match", [
    ({"split": "random"}, r"data\.split must be one of \['samples', 'classes', 'source'\], got 'random'"),
    ({"positive_fraction": 1.0}, r"data\.positive_fraction must be in \(0, 1\), got 1\.0"),
    ({"holdout": 0.0}, r"data\.holdout must be in \(0, 1\)"),
    ({"batch_size": 0}, r"data\.batch_size must be >= 1, got 0"),
])
def test_bad_data_values_are_named(digits, kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_module(digits, **kwargs)


def test_digits_channels_and_size():
    src = DigitsImages(image_size=12, channels=3)
    assert src[0].shape == (3, 12, 12) and len(src) == 1797 and src.classes[0] == "0"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match=r"data\.source\.channels must be one of \[1, 3\], got 2"):
            DigitsImages(channels=2)


def test_empty_class_folders_are_ignored_with_a_warning(tmp_path):
    root = folder_tree(tmp_path / "imgs")
    (root / "empty").mkdir()
    with pytest.warns(UserWarning, match=r"class folder\(s\) \['empty'\] hold no image and are ignored"):
        src = FolderImages(str(root))
    assert src.classes == ["cat", "dog"]


def test_class_folds_partition_the_classes_and_hold_each_out_once():
    from siamese.data.sampling import class_folds

    labels = np.repeat(np.arange(10), 5)
    held_out = []
    for fold in range(4):
        parts = split_indices(labels, "classes", 0.2, 0.3, seed=3, class_fold=fold, n_class_folds=4)
        train, test = set(labels[parts["train"]]) | set(labels[parts["val"]]), set(labels[parts["enrol"]]) | set(
            labels[parts["test"]])
        assert not train & test and train | test == set(range(10))
        held_out += sorted(test)
    assert sorted(held_out) == list(range(10))                          # every class held out exactly once
    folds = class_folds(np.arange(10), 4, seed=3)
    assert sorted(np.concatenate(folds).tolist()) == list(range(10)) and {len(f) for f in folds} == {2, 3}
    assert [f.tolist() for f in class_folds(np.arange(10), 4, seed=4)] != [f.tolist() for f in folds]   # seeded
    with pytest.raises(ValueError, match=r"data\.class_folds=3 deals classes into folds: it needs data\.split=classes"):
        PairDataModule.check_settings(split="samples", class_folds=3)
    with pytest.raises(ValueError, match=r"data\.class_fold must be in 0\.\.2, got 3"):
        PairDataModule.check_settings(split="classes", class_folds=3, class_fold=3)


def test_rotated_classes_train_on_each_class_turned_as_a_new_class_and_change_nothing_else(digits):
    folds = dict(split="classes", class_folds=3, class_fold=1, sampler="pk", p=4, k=4)
    plain, rotated = make_module(digits, **folds), make_module(digits, **folds, rotated_classes=[90, 270])
    n, n_classes, source = len(digits.labels), len(digits.classes), rotated.training_source
    pairs = rotated.pairs("train", epoch=1)
    assert len(pairs) == len(plain.pairs("train", epoch=1))                  # the same batches an epoch
    train_images = set(plain.indices["train"].tolist())
    for position in np.unique(pairs[:, :2])[::29]:
        turn, i = divmod(int(position), n)
        assert i in train_images and source.labels[position] == digits.labels[i] + turn * n_classes
        assert torch.equal(source[position], torch.rot90(digits[i], k=(0, 1, 3)[turn], dims=(1, 2)))
    train_classes = set(digits.labels[plain.indices["train"]].tolist())
    drawn = set(source.labels[pairs[:, 0]].tolist())
    assert drawn == {c + turn * n_classes for c in train_classes for turn in range(3)}
    assert rotated.training_classes[n_classes + 3] == "3 rotated 90" and len(rotated.training_classes) == 3 * n_classes
    batch = next(iter(rotated.train_dataloader()))
    assert torch.equal(batch["y"] == 1, batch["c1"] == batch["c2"])
    for name in plain.indices:                                                 # val, test, enrol: the source's own
        assert np.array_equal(rotated.indices[name], plain.indices[name])
    for name in ("val", "test"):
        assert np.array_equal(rotated.fixed_pairs[name], plain.fixed_pairs[name])
    assert plain.training_classes == digits.classes


@pytest.mark.parametrize("angles", [[45], [90, 90], [0], ["ninety"], "automatic"])
def test_rotated_classes_other_than_quarter_turns_are_refused(angles):
    with pytest.raises(ValueError, match=r"data\.rotated_classes must be 'auto' or list distinct angles among "
                                         r"\[90, 180, 270\]"):
        PairDataModule.check_settings(rotated_classes=angles)


@pytest.mark.parametrize("p, split, expected", [(5, "classes", (90, 180, 270)),     # 6 training digits < 1.5 x 5
                                                (4, "classes", ()),                 # 6 training digits, not < 1.5 x 4
                                                (6, "samples", ())])                # no class held out
def test_auto_rotates_only_where_classes_are_held_out_and_few_against_the_batch(digits, p, split, expected, caplog):
    settings = dict(split=split, sampler="pk", p=p, k=4, **(dict(class_folds=3, class_fold=0) if split == "classes"
                                                              else {}))
    auto = make_module(digits, **settings, rotated_classes="auto")
    explicit = make_module(digits, **settings, rotated_classes=list(expected))
    assert auto.rotation_angles == expected
    assert auto.training_classes == explicit.training_classes
    assert np.array_equal(auto.pairs("train", epoch=2), explicit.pairs("train", epoch=2))
    assert "data.rotated_classes=auto" in caplog.text


def test_auto_leaves_many_training_classes_unrotated():
    """The rule's bar, 1.5·P: where all three turns were measured to gain (digits and ten glyph characters,
    six or seven with P = 6; 20 glyph characters with P = 16) they are on, where they lost (30, 40 and 116
    glyph characters with P = 16) off."""
    for n_training, p, rotated in ((7, 6, True), (20, 16, True), (30, 16, False), (40, 16, False), (116, 16, False)):
        angles = resolved_rotations("auto", n_training_classes=n_training, p=p, held_out_classes=True)
        assert angles == ((90, 180, 270) if rotated else ()), (n_training, p)
    assert resolved_rotations([90], n_training_classes=116, p=16, held_out_classes=True) == (90,)
