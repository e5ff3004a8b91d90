"""Time per training step: SiameseModule under Lightning vs a plain PyTorch loop, side by side.

Same model (conf defaults, loss=dcontrastive), same data, same number of steps; the two are
interleaved over several rounds and the median of each is reported, since the machine is shared.

    python scripts/bench/bench_train.py [--steps 80] [--rounds 3]
"""
from __future__ import annotations

import argparse
import statistics
import time

import pytorch_lightning as pl

from common import compose_config, machine_header
from siamese.pipeline import build


def fresh_run(steps: int, seed: int = 0):
    """Module and data of the default config; one epoch of training pairs holds exactly ``steps`` batches."""
    cfg = compose_config("train", ["loss=dcontrastive", "run_dir=/tmp/bench_train", "scheduler=none"])
    cfg.data.train_pairs = steps * cfg.data.batch_size
    pl.seed_everything(seed, verbose=False)
    return build(cfg)


def plain_loop(steps: int) -> float:
    """Seconds per step of a hand-written loop over the same batches and optimizer."""
    module, dm = fresh_run(steps)
    optimizer = module.configure_optimizers()
    module.train()
    batches = iter(dm.train_dataloader())
    start = time.perf_counter()
    for _ in range(steps):
        batch = next(batches)
        optimizer.zero_grad(set_to_none=True)
        e1, e2 = module(batch["x1"], batch["x2"])
        module.loss(e1, e2, batch)["loss"].backward()
        optimizer.step()
    return (time.perf_counter() - start) / steps


class StepClock(pl.Callback):
    """Wall time from the first training step's start to the last one's end (batch 0 already loaded)."""

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if batch_idx == 0:
            self.start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.end = time.perf_counter()


def lightning_loop(steps: int) -> float:
    """Seconds per step of Trainer.fit (logging on, as in a real run; no validation, no checkpoints)."""
    module, dm = fresh_run(steps)
    clock = StepClock()
    trainer = pl.Trainer(max_steps=steps, accelerator="cpu", limit_val_batches=0, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, callbacks=[clock], log_every_n_steps=10)
    trainer.fit(module, datamodule=dm)
    return (clock.end - clock.start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=80, help="training steps per measurement")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    steps = args.steps
    print(machine_header())
    plain, lightning = [], []
    for r in range(args.rounds):
        plain.append(plain_loop(steps))
        lightning.append(lightning_loop(steps))
        print(f"round {r + 1}: plain {plain[-1] * 1e3:.1f} ms/step, Lightning {lightning[-1] * 1e3:.1f} ms/step")
    p, lt = statistics.median(plain), statistics.median(lightning)
    print(f"\nmedian over {args.rounds} rounds of {steps} steps (batch 128 pairs = 256 images 16x16, dcontrastive):")
    print(f"  plain PyTorch loop  {p * 1e3:.1f} ms/step")
    print(f"  Lightning           {lt * 1e3:.1f} ms/step")
    print(f"  Lightning overhead  {100 * (lt / p - 1):+.1f} %")


if __name__ == "__main__":
    main()
