"""Data: image sources, splits and pair samplers, the pair data module, pair-list files.

Everything a config names (``_target_: siamese.data.PairDataModule``) is importable from here.
"""
from siamese.data.datamodule import ImageDataset, PairDataModule, PairDataset, PairListDataModule
from siamese.data.glyphs import GlyphImages
from siamese.data.pair_files import PairList, read_csv_pairs, read_lfw_pairs
from siamese.data.sampling import SPLITS, check_pairable, sample_pairs, sample_pk_pairs, split_indices
from siamese.data.sources import (
    BAD_IMAGE_POLICIES,
    DigitsImages,
    FolderImages,
    MNISTImages,
    OmniglotImages,
    PathImages,
    load_image,
    verify_image,
)

__all__ = [
    "BAD_IMAGE_POLICIES", "check_pairable", "DigitsImages", "FolderImages", "GlyphImages", "ImageDataset",
    "load_image", "MNISTImages", "OmniglotImages", "PairDataModule", "PairDataset", "PairList",
    "PairListDataModule", "PathImages", "read_csv_pairs", "read_lfw_pairs", "sample_pairs",
    "sample_pk_pairs", "split_indices", "SPLITS", "verify_image",
]
