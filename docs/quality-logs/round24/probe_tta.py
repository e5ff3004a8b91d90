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
import types

import torch
import torch.nn.functional as F

import bench_quality
import siamese.pipeline as pipeline

evaluate_plain = pipeline.evaluate_model
figures = {}     # way -> the run's figures, filled by evaluate_every_way
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


def evaluate_every_way(net, datamodule, settings, **kw):
    """Stands in for the pipeline's evaluate: records every way's figures, returns the plain evaluation."""
    net.eval()
    plain = evaluate_plain(net, datamodule, settings, **kw)
    figures["plain"] = bench_quality.figures(plain.report, 0)
    one_view = type(net).forward
    rebuild = {k: v for k, v in kw.items() if k != "index"}        # a fresh gallery index for each
    for way, offsets in WAYS.items():
        def averaged(self, x, offsets=offsets):
            views = [one_view(self, shifted(x, dy, dx)) for dy, dx in offsets]      # V × [e_l (B, D_l)]
            return [F.normalize(torch.stack(per_stage).mean(0), dim=1) for per_stage in zip(*views)]
        net.forward = types.MethodType(averaged, net)
        figures[way] = bench_quality.figures(evaluate_plain(net, datamodule, settings, **rebuild).report, 0)
        del net.forward
    return plain


def main() -> None:
    data, seeds, folds, log, *names = sys.argv[1:]
    folder = ["data=folder", f"data.source.root={data}", "data.source.image_size=16", "data.source.cache=memory",
              "data.num_workers=0", "data.p=6", "data.k=16", "data.rotated_classes=auto"]      # round 21's folders
    base = ["data.split=classes"] + (folder if data.startswith("/") else
                                     ["data=glyphs", f"data.source.image_size={data[1:]}"] if data != "d" else [])
    pipeline.evaluate_model = evaluate_every_way

    def run_one(name: str, at: list[str], tmp: str) -> dict:
        bench_quality.run({"ours": ["loss=dcontrastive"]}[name] + ["trainer.max_epochs=10"], at, tmp)
        return figures

    bench_quality.probe_runs(data, seeds, folds, log, names, base, run_one)


if __name__ == "__main__":
    main()
