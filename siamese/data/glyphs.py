"""Glyphs: a built-in data set of many classes for one-shot work, rendered from fonts (no download).

Each class is one character; its images are the character rendered in every font that has it (by
default the 16 text fonts that ship with matplotlib: DejaVu Sans, Sans Mono and Serif, and STIX General,
each regular, bold, italic and bold italic; ``font_dir`` adds the ``.ttf`` / ``.otf`` files of a folder),
``renderings`` times per font with a small seeded affine jitter (rotation ±``jitter_degrees``, scale
±10 %, shift ±1/16 of the image). White on black, in ``[0, 1]``.

Characters: Latin capitals and small letters, digits and Cyrillic letters train; the Greek letters are
the source's held-out classes (``data.split=source``), so training and test characters are disjoint by
construction (a Greek capital may look like a Latin one: the data says so, it is not removed). The same
seed gives the same images.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont
from torch import Tensor

from siamese.checks import at_least, image_channels

TRAIN_CHARACTERS = ("ABCDEFGHIJKLMNOPQRSTUVWXYZ" "abcdefghijklmnopqrstuvwxyz" "0123456789"
                    + "".join(chr(c) for c in range(0x0410, 0x0450)))               # А..я, Cyrillic
HELDOUT_CHARACTERS = "".join(chr(c) for c in range(0x0391, 0x03AA) if c != 0x03A2) + \
    "".join(chr(c) for c in range(0x03B1, 0x03CA) if c != 0x03C2)                    # Α..Ω, α..ω (no final ς)
MATPLOTLIB_TEXT_FONTS = ("DejaVuSans", "DejaVuSans-Bold", "DejaVuSans-Oblique", "DejaVuSans-BoldOblique",
                         "DejaVuSansMono", "DejaVuSansMono-Bold", "DejaVuSansMono-Oblique",
                         "DejaVuSansMono-BoldOblique", "DejaVuSerif", "DejaVuSerif-Bold", "DejaVuSerif-Italic",
                         "DejaVuSerif-BoldItalic", "STIXGeneral", "STIXGeneralBol", "STIXGeneralItalic",
                         "STIXGeneralBolIta")


def font_files(font_dir: str | None) -> list[Path]:
    """matplotlib's text fonts, plus every ``.ttf`` / ``.otf`` of ``font_dir``."""
    import matplotlib

    shipped = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    files = [shipped / f"{name}.ttf" for name in MATPLOTLIB_TEXT_FONTS]
    if font_dir:
        folder = Path(font_dir).expanduser()
        if not folder.is_dir():
            raise FileNotFoundError(f"data.source.font_dir={str(folder)!r} is not a folder of .ttf / .otf fonts")
        files += sorted(p for p in folder.iterdir() if p.suffix.lower() in (".ttf", ".otf"))
    return files


def has_glyph(font: ImageFont.FreeTypeFont, character: str) -> bool:
    """Whether the font draws ``character`` itself, not its 'missing glyph' box."""
    mask = font.getmask(character)
    return mask.getbbox() is not None and bytes(mask) != bytes(font.getmask("\U000F0000"))


def render(character: str, font: ImageFont.FreeTypeFont, size: int, rng: np.random.Generator,
           jitter_degrees: float) -> np.ndarray:
    """``(size, size)`` uint8: the character centred, rotated, scaled and shifted by a seeded jitter."""
    canvas = Image.new("L", (4 * size, 4 * size), 0)
    ImageDraw.Draw(canvas).text((2 * size, 2 * size), character, fill=255, font=font, anchor="mm")
    shift = rng.uniform(-size / 16, size / 16, 2) * 4
    canvas = canvas.rotate(rng.uniform(-jitter_degrees, jitter_degrees), resample=Image.BILINEAR,
                           translate=tuple(shift))
    half = 2 * size * rng.uniform(0.9, 1.1)                          # a crop of ±10 %: the scale jitter
    box = (round(2 * size - half), round(2 * size - half), round(2 * size + half), round(2 * size + half))
    return np.asarray(canvas.crop(box).resize((size, size), Image.BILINEAR), dtype=np.uint8)


def excluded_characters(exclude: str | Sequence[str]) -> set[str]:
    """The characters of ``data.source.exclude``: a string, or a list of single characters."""
    if isinstance(exclude, str):
        return set(exclude)
    if isinstance(exclude, Sequence) and all(isinstance(c, (str, int)) and len(str(c)) == 1 for c in exclude):
        return {str(c) for c in exclude}
    raise ValueError(f"data.source.exclude must be a string of characters or a list of single characters, got "
                     f"{exclude!r} (digits on the command line: quote them, 'data.source.exclude=\"0123456789\"')")


class GlyphImages:
    """The glyph data set in memory (see the module docstring); a source like ``DigitsImages``.

    ``heldout_classes``: the Greek letters, for ``data.split=source``. ``exclude``: characters left out
    of both sets (a string, or a list of single characters), e.g. ``"0123456789"`` for a tower that will
    meet digits only as unseen classes.
    """

    def __init__(self, image_size: int = 32, channels: int = 1, renderings: int = 2, jitter_degrees: float = 10.0,
                 font_dir: str | None = None, seed: int = 0, exclude: str | Sequence[str] = ""):
        image_channels("data.source.channels", channels)
        left_out = excluded_characters(exclude)
        self.image_size, self.channels = at_least("data.source.image_size", image_size, 8), int(channels)
        renderings = at_least("data.source.renderings", renderings)
        rng = np.random.default_rng([int(seed), 11])
        fonts = [ImageFont.truetype(str(f), int(image_size * 2.4)) for f in font_files(font_dir)]
        images, labels, self.classes, self.heldout_classes = [], [], [], []
        for character in (c for c in TRAIN_CHARACTERS + HELDOUT_CHARACTERS if c not in left_out):
            drawn = [render(character, font, self.image_size, rng, float(jitter_degrees))
                     for font in fonts if has_glyph(font, character) for _ in range(renderings)]
            if len(drawn) < 2:
                continue                                              # a class needs two images
            if character in HELDOUT_CHARACTERS:
                self.heldout_classes.append(len(self.classes))
            labels += [len(self.classes)] * len(drawn)
            images += drawn
            self.classes.append(character)
        x = torch.from_numpy(np.stack(images)).float().div(255.0).unsqueeze(1)          # (N, 1, S, S)
        self.images = x.repeat(1, self.channels, 1, 1).contiguous()
        self.labels = np.asarray(labels, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> Tensor:
        return self.images[i]
