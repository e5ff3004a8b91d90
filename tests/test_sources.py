"""Real-data sources on tiny trees made in temp dirs: Omniglot, local MNIST, CSV pair lists, LFW
training folders, bad images, augmentation and in-tower normalisation."""
import numpy as np
import pytest
import torch
from PIL import Image

from helpers import compose_config, make_csv_pairs, make_image_tree, make_lfw_tree, make_mnist_files, make_omniglot_tree
from siamese.data import FolderImages, MNISTImages, OmniglotImages, PairDataModule, PairListDataModule, load_image
from siamese.data.sources import verify_image
from siamese.nets import ConvTower
from siamese.pipeline import build


def test_omniglot_classes_and_background_evaluation_split(tmp_path):
    src = OmniglotImages(str(make_omniglot_tree(tmp_path / "omniglot")), image_size=10)
    assert len(src) == 24 and src.classes[0] == "Greek/character01" and "Runic/character02" in src.classes
    assert [src.classes[c] for c in src.heldout_classes] == ["Runic/character01", "Runic/character02"]
    dm = PairDataModule(src, split="source", train_pairs=20, val_pairs=10, test_pairs=10, batch_size=5)
    train_classes = {src.classes[c].split("/")[0] for c in src.labels[dm.indices["train"]]}
    test_classes = {src.classes[c].split("/")[0] for c in src.labels[dm.indices["test"]]}
    assert train_classes == {"Greek", "Latin"} and test_classes == {"Runic"}


def test_omniglot_wrong_layout_shows_the_expected_one(tmp_path):
    make_image_tree(tmp_path / "flat")
    expected = r"(?s)not an Omniglot folder.*images_background/<alphabet>/<character>"
    with pytest.raises(FileNotFoundError, match=expected):
        OmniglotImages(str(tmp_path / "flat"))


def test_split_source_needs_a_source_that_names_held_out_classes(tmp_path):
    with pytest.raises(ValueError, match=r"data\.split=source needs a source that names its held-out classes"):
        PairDataModule(FolderImages(str(make_image_tree(tmp_path / "i"))), split="source")


@pytest.mark.parametrize("variant,folder", [("mnist", "MNIST"), ("fashion_mnist", "FashionMNIST")])
def test_local_mnist_family_loads_without_download(tmp_path, variant, folder):
    src = MNISTImages(str(make_mnist_files(tmp_path, folder)), variant=variant, image_size=14, channels=3)
    assert len(src) == 40 and src[0].shape == (3, 14, 14) and 0 <= float(src[0].min()) <= float(src[0].max()) <= 1
    assert src.labels[:3].tolist() == [0, 1, 2] and len(src.classes) == 10


def test_missing_mnist_says_where_and_that_nothing_is_downloaded(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"MNIST files not found under .*MNIST/raw.*no download happens"):
        MNISTImages(str(tmp_path))


def test_csv_pair_list_serves_pairs_without_class_ids(tmp_path):
    pairs_file = make_csv_pairs(tmp_path / "sig")
    dm = PairListDataModule(str(pairs_file), str(tmp_path / "sig"), source={"image_size": 8}, batch_size=4)
    batch = next(iter(dm.train_dataloader()))
    assert set(batch) == {"x1", "x2", "y", "i1", "i2", "k"} and batch["x1"].shape == (4, 1, 8, 8)
    assert sum(len(r) for r in dm.rows.values()) == 40 and len(dm.fixed_pairs["test"]) == 8
    assert dm.test_folds is not None and not dm.has_class_ids


def test_bad_image_in_a_pair_list_drops_its_pairs_when_skipping(tmp_path):
    pairs_file = make_csv_pairs(tmp_path / "sig")
    (tmp_path / "sig" / "cat" / "0.png").write_bytes(b"broken")
    with pytest.raises(ValueError, match=r"unreadable image '.*cat/0\.png'"):
        PairListDataModule(str(pairs_file), str(tmp_path / "sig"))
    dm = PairListDataModule(str(pairs_file), str(tmp_path / "sig"), source={"on_bad_image": "skip"})
    assert [s["path"].endswith("cat/0.png") for s in dm.source.skipped] == [True]
    assert sum(len(r) for r in dm.rows.values()) < 40


def test_folder_skip_lists_unreadable_images(tmp_path):
    root = make_image_tree(tmp_path / "i")
    (root / "dog" / "bad.png").write_bytes(b"\x89PNG truncated")
    src = FolderImages(str(root), on_bad_image="skip")
    assert len(src) == 60 and [s["path"].endswith("bad.png") for s in src.skipped] == [True]
    with pytest.raises(ValueError, match=r"on_bad_image must be one of \['raise', 'skip'\], got 'ignore'"):
        FolderImages(str(root), on_bad_image="ignore")


def test_lfw_training_folders_leave_out_the_evaluation_identities(tmp_path):
    root = make_lfw_tree(tmp_path / "lfw", people=("Ann_A", "Bob_B", "Cy_C", "Di_D"))
    (tmp_path / "pairs.txt").write_text("1\nAnn_A 1 2\nAnn_A 1 Bob_B 1\n")
    src = FolderImages(str(root), exclude_pairs=str(tmp_path / "pairs.txt"))
    assert src.classes == ["Cy_C", "Di_D"] and sorted(set(src.labels.tolist())) == [0, 1]


def test_augmentation_touches_training_pairs_only(tmp_path):
    src = FolderImages(str(make_image_tree(tmp_path / "i")), image_size=8)
    dm = PairDataModule(src, train_pairs=20, val_pairs=20, test_pairs=20, batch_size=20,
                        augment=lambda x: x + 100.0)
    assert next(iter(dm.train_dataloader()))["x1"].min() >= 100.0
    assert next(iter(dm.val_dataloader()))["x1"].max() <= 1.0
    assert next(iter(dm.images_dataloader("test")))["x"].max() <= 1.0


def test_tower_normalises_its_input_and_checks_the_channel_count():
    tower = ConvTower(channels=[4], embedding_dim=4, input_mean=[0.5], input_std=[0.25])
    plain = ConvTower(channels=[4], embedding_dim=4)
    plain.load_state_dict({k: v for k, v in tower.state_dict().items() if not k.startswith("input_")}, strict=False)
    x = torch.rand(2, 1, 8, 8)
    assert torch.allclose(tower(x)[0], plain((x - 0.5) / 0.25)[0], atol=1e-6)
    assert "input_mean" in tower.state_dict()   # travels with the checkpoint
    with pytest.raises(ValueError, match=r"model\.input_mean / model\.input_std need 3 value\(s\)"):
        ConvTower(in_channels=3, input_mean=[0.5])


def test_16_bit_images_are_scaled_not_clipped(tmp_path):
    ramp = (np.arange(16 * 16).reshape(16, 16) * 256).astype(np.uint16)      # 0 .. 65280
    Image.fromarray(ramp).save(tmp_path / "deep.png")
    x = load_image(tmp_path / "deep.png", 16, 1)
    assert x.max().item() == pytest.approx(65280 / 65535, abs=1e-4)        # not saturated at 1.0
    np.testing.assert_allclose(x[0].numpy(), ramp / 65535, atol=1e-4)
    assert load_image(tmp_path / "deep.png", 8, 3).shape == (3, 8, 8)


def test_exif_orientation_is_applied(tmp_path):
    upright = np.zeros((8, 12), dtype=np.uint8)
    upright[0, :] = 255                                                     # a bright top row
    exif = Image.Exif()
    exif[0x0112] = 6                                                        # "rotate 90° clockwise to view"
    Image.fromarray(np.rot90(upright, k=1)).save(tmp_path / "phone.png", exif=exif)
    x = load_image(tmp_path / "phone.png", 12, 1)[0].numpy()
    shown = np.asarray(Image.fromarray(upright).resize((12, 12), Image.BILINEAR), dtype=np.float32) / 255
    np.testing.assert_allclose(x, shown, atol=1e-6)


def test_a_truncated_jpeg_is_caught_up_front_naming_the_file(tmp_path):
    root = make_image_tree(tmp_path / "i")
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(root / "dog" / "x.jpg")
    data = (root / "dog" / "x.jpg").read_bytes()
    (root / "dog" / "x.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"unreadable image '.*dog/x\.jpg': OSError: image file is truncated"):
        FolderImages(str(root))
    src = FolderImages(str(root), on_bad_image="skip")
    assert [s["path"].endswith("x.jpg") for s in src.skipped] == [True]


def test_a_decompression_bomb_is_refused_naming_the_file(tmp_path, monkeypatch):
    Image.new("L", (64, 64)).save(tmp_path / "big.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)                   # 64² > 2 × 1000: a "bomb"
    with pytest.raises(ValueError, match=r"unreadable image '.*big\.png': DecompressionBombError"):
        verify_image(tmp_path / "big.png")


def test_excluding_every_identity_says_so(tmp_path):
    root = make_lfw_tree(tmp_path / "lfw", people=("Ann_A", "Bob_B"))
    (tmp_path / "pairs.txt").write_text("1\nAnn_A 1 2\nAnn_A 1 Bob_B 1\n")
    with pytest.raises(ValueError, match=r"every one of the 2 identities under .* is named in "
                                         r"data\.source\.exclude_pairs=.*pairs\.txt: nothing is left"):
        FolderImages(str(root), exclude_pairs=str(tmp_path / "pairs.txt"))


def test_a_missing_folder_prints_the_expected_layout_on_several_lines(tmp_path):
    cfg = compose_config("train", ["data=folder", f"data.source.root={tmp_path / 'nope'}", f"run_dir={tmp_path}"])
    with pytest.raises(FileNotFoundError) as err:
        build(cfg)
    assert "expected layout:\n    root/\n      <class_a>/<image>.png" in str(err.value)


def test_glyphs_hold_out_whole_characters_and_repeat_per_seed():
    from siamese.data import GlyphImages

    glyphs = GlyphImages(image_size=16, renderings=1, seed=0)
    assert len(glyphs.classes) == 174 and len(glyphs.heldout_classes) == 48 and glyphs[0].shape == (1, 16, 16)
    greek = "ΑΒΓΔΕΖΗΘΙΚΛΜΝΞΟΠΡΣΤΥΦΧΨΩαβγδεζηθικλμνξοπρστυφχψω"
    assert {glyphs.classes[c] for c in glyphs.heldout_classes} == set(greek)
    dm = PairDataModule(glyphs, split="source", train_pairs=64, val_pairs=32, test_pairs=32)
    train = set(glyphs.labels[dm.indices["train"]])
    train |= set(glyphs.labels[dm.indices["val"]])
    test = set(glyphs.labels[dm.indices["enrol"]]) | set(glyphs.labels[dm.indices["test"]])
    assert not train & test and test == set(glyphs.heldout_classes)
    assert torch.equal(GlyphImages(image_size=16, renderings=1, seed=0).images, glyphs.images)   # deterministic
    assert not torch.equal(GlyphImages(image_size=16, renderings=1, seed=1).images, glyphs.images)


def test_glyphs_leave_out_the_characters_named_on_the_command_line():
    """data.source.exclude: quoted digits stay a string; a number Hydra reads as an int is refused with the fix."""
    from siamese.config import make

    cfg = compose_config("train", ["data=glyphs", "data.source.image_size=16", "data.source.renderings=1",
                                   'data.source.exclude="0123456789"', "run_dir=x"])
    glyphs = make(cfg.data.source)
    assert len(glyphs.classes) == 164 and not set("0123456789") & set(glyphs.classes)
    assert len(glyphs.heldout_classes) == 48
    bad = compose_config("train", ["data=glyphs", "data.source.exclude=789", "run_dir=x"])      # Hydra: an int
    with pytest.raises(ValueError, match=r"data\.source\.exclude must be .* got 789 .* quote them"):
        make(bad.data.source)


def test_augmentation_strength_scales_the_jitter_and_zero_leaves_images_alone():
    from siamese.data.augment import affine_jitter

    x = torch.rand(1, 16, 16)
    assert torch.equal(affine_jitter(0.0)(x), x)
    torch.manual_seed(0)
    mild = (affine_jitter(0.5)(x) - x).abs().mean()
    torch.manual_seed(0)
    strong = (affine_jitter(2.0)(x) - x).abs().mean()
    assert 0 < mild < strong
    with pytest.raises(ValueError, match=r"augment\.strength must be >= 0.*got -1"):
        affine_jitter(-1)
