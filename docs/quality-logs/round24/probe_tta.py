"""Twenty-fourth-round probe: does averaging each image's embedding over small shifts of it help unseen classes?

Test-time augmentation by translation: each evaluated image x is also shifted by whole pixels (its edge
rows and columns repeated into the space it leaves), every view goes through the trained tower, and each
stage's unit embeddings are averaged over the views and normalised again:

    e_l(x) = normalize( (1/V) Σ_{s ∈ S} e_l(shift_s(x)) )          e_l: (B, D_l), S: V offsets (dy, dx)

then the model embedding is made from the e_l as always (``combine_stages``). The tower is trained
without augmentation (the default), so the views are ones it never saw shifted; the average is smoother
in the position of the strokes than one view. Ways, from the same trained weights:

    plain      one view (what the project reports; equals bench_quality.py's run)
    s5         the image and its four 1-pixel shifts (up, down, left, right): V = 5
    s9         every offset in {-1, 0, 1}²: V = 9
    s5x2       the image and its four 2-pixel shifts: V = 5

Run from scripts/bench (PYTHONPATH=<repo>:<repo>/scripts/bench), one JSON line per run appended to LOG:

    python probe_tta.py DATA SEEDS FOLDS LOG ours         # DATA: d | g16 | a folder's root; SEEDS/FOLDS: 0,1,2
"""
import sys

import torch
import torch.nn.functional as F

import bench_quality

WAYS = {"s5": [(0, 0), (-1, 0), (1, 0), (0, -1), (0, 1)],
        "s9": [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)],
        "s5x2": [(0, 0), (-2, 0), (2, 0), (0, -2), (0, 2)]}


def shifted(x: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """``x (B, C, H, W)`` moved by ``dy`` rows and ``dx`` columns, the edge repeated into the space it leaves."""
    p = max(abs(dy), abs(dx))
    if p == 0:
        return x
    padded = F.pad(x, (p, p, p, p), mode="replicate")
    h, w = x.shape[2], x.shape[3]
    return padded[:, :, p - dy:p - dy + h, p - dx:p - dx + w]


def ways(net, datamodule) -> dict:
    """Each way's stand-in for the tower's ``forward`` (``bench_quality.probe_ways``): every stage's unit
    embeddings averaged over the shifted views of the image, normalised again."""
    one_view = type(net).forward

    def averaged(offsets):
        def forward(self, x):
            views = [one_view(self, shifted(x, dy, dx)) for dy, dx in offsets]      # V × [e_l (B, D_l)]
            return [F.normalize(torch.stack(per_stage).mean(0), dim=1) for per_stage in zip(*views)]
        return forward

    return {way: ("forward", averaged(offsets)) for way, offsets in WAYS.items()}


if __name__ == "__main__":
    bench_quality.probe_ways(sys.argv[1:], {"ours": ["loss=dcontrastive"]}, ways)
