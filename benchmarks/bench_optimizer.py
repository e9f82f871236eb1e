"""AdamW's step on the tiny model's parameters: torch's default (per-tensor loop on CPU) against `foreach`
and `fused`, side by side in one run.

On CPU torch picks the per-tensor implementation, which launches a dozen small kernels per parameter
tensor; the tiny Qwen2.5-VL has 105 of them, so the optimiser step costs a fifth of a training step
(measured with cProfile on 30 instruct steps). The variants compute the same update; this prints how
long one step takes with each and the ratio to the default, interleaved over rounds on one core.

    .venv/bin/python benchmarks/bench_optimizer.py              # needs models/base (run `dvc repro` first)
    .venv/bin/python benchmarks/bench_optimizer.py --steps 50 --repeat 5
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import median, section, single_core, spread  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
VARIANTS = {"default": {}, "foreach": {"foreach": True}, "fused": {"fused": True}}


def seconds_per_step(model, options: dict, steps: int) -> float:
    import torch

    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-4, **options)
    generator = torch.Generator().manual_seed(0)
    for p in params:
        p.grad = torch.randn(p.shape, generator=generator)
    optimizer.step()  # state allocated outside the timing
    start = time.perf_counter()
    for _ in range(steps):
        optimizer.step()
    return (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", default="base", help="stage whose checkpoint (models/<name>) supplies the parameters")
    parser.add_argument("--steps", type=int, default=30, help="optimiser steps timed per variant and round")
    parser.add_argument("--repeat", type=int, default=5, help="interleaved rounds")
    args = parser.parse_args()
    single_core()
    from lingshu.checkpoints import checkpoint_path
    from lingshu.model.factory import load_model

    model = load_model(checkpoint_path(REPO, args.checkpoint))
    times: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for _ in range(args.repeat):
        for name, options in VARIANTS.items():
            times[name].append(seconds_per_step(model, options, args.steps))
    section(f"AdamW step on models/{args.checkpoint} "
            f"({sum(p.numel() for p in model.parameters()) / 1e6:.1f}M parameters in "
            f"{sum(1 for _ in model.parameters())} tensors), 1 core")
    for name, values in times.items():
        ratios = [d / v for d, v in zip(times["default"], values)]
        print(f"{name:8s} {1000 * median(values):7.1f} ms/step (range {spread([1000 * v for v in values])})  "
              f"default/{name} x{median(ratios):.2f} (range {spread(ratios)})")


if __name__ == "__main__":
    main()
