"""Training-step cost: Lightning vs a plain PyTorch loop, and packing on vs off.

Each variant runs in its own worker process (so peak memory is its own), pinned to one core with one
thread, on the same checkpoint, data, optimiser (AdamW with the stage's per-module groups) and number
of optimiser steps. Variants are interleaved over `--repeat` rounds and the script prints tokens/s and
peak RSS per variant plus the ratios lightning/plain and packed/unpacked (median of per-round ratios).

    .venv/bin/python benchmarks/bench_train_step.py            # needs models/deep (run `dvc repro` first)
    .venv/bin/python benchmarks/bench_train_step.py --steps 40 --repeat 3 --checkpoint base
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import median, peak_rss_mb, reset_peak_rss, run_json, section, single_core, spread  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
VARIANTS = (("plain", False), ("lightning", False), ("plain", True), ("lightning", True))


def _setup(checkpoint: str, packing: bool, steps: int):
    from dataclasses import replace

    from lingshu.checkpoints import checkpoint_path
    from lingshu.config import load_section
    from lingshu.model.factory import load_model, load_processor
    from lingshu.train.datamodule import MixtureDataModule

    train = load_section("train", REPO / "params.yaml")
    stage = replace(train.instruct, init_from=checkpoint, packing=packing, max_steps=steps, grad_accum=1,
                    epochs=1, warmup_steps=0)
    processor = load_processor(checkpoint_path(REPO, checkpoint))
    data = MixtureDataModule(train.common, stage, processor, REPO)
    data.setup()
    return stage, load_model(checkpoint_path(REPO, checkpoint)), data


def worker(variant: str, packing: bool, checkpoint: str, steps: int) -> dict:
    import pytorch_lightning as pl
    import torch

    from lingshu.train.datamodule import collate
    from lingshu.train.module import StageModule

    torch.manual_seed(0)
    stage, model, data = _setup(checkpoint, packing, steps)
    module = StageModule(model, stage)
    tokenizer, image_id = data.processor.tokenizer, data.processor.image_token_id
    rows = [data.dataset[i] for i in range(min(len(data.dataset), steps * stage.batch_size))]
    batches = [collate(rows[i:i + stage.batch_size], tokenizer.pad_token_id, image_id, packing)
               for i in range(0, len(rows), stage.batch_size)]
    tokens = sum(b["n_tokens"] for b in batches)
    reset_peak_rss()
    start = time.perf_counter()
    if variant == "plain":
        optimizer = torch.optim.AdamW(
            [{"params": [p for p in module.model.parameters() if p.requires_grad]}], lr=stage.lr.language_model)
        module.model.train()
        for batch in batches:
            loss = module(batch).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(module.model.parameters(), stage.gradient_clip)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
    else:
        trainer = pl.Trainer(accelerator="cpu", devices=1, max_steps=len(batches), logger=False,
                             enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                             gradient_clip_val=stage.gradient_clip, num_sanity_val_steps=0)
        loader = torch.utils.data.DataLoader(batches, batch_size=None, shuffle=False)
        trainer.fit(module, train_dataloaders=loader)
    elapsed = time.perf_counter() - start
    return {"tokens_per_s": tokens / elapsed, "peak_rss_mb": peak_rss_mb(), "steps": len(batches), "tokens": tokens}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", default="deep", help="stage whose checkpoint (models/<name>) to train from")
    parser.add_argument("--steps", type=int, default=30, help="optimiser steps per variant")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved rounds")
    parser.add_argument("--worker", nargs=2, metavar=("VARIANT", "PACKING"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        single_core()
        print(json.dumps(worker(args.worker[0], args.worker[1] == "on", args.checkpoint, args.steps)))
        return
    results: dict[tuple[str, bool], list[dict]] = {v: [] for v in VARIANTS}
    for round_ in range(args.repeat):
        for variant, packing in VARIANTS:
            results[(variant, packing)].append(run_json(
                [sys.executable, __file__, "--checkpoint", args.checkpoint, "--steps", str(args.steps),
                 "--worker", variant, "on" if packing else "off"]))
        print(f"round {round_ + 1}/{args.repeat} done", flush=True)
    section(f"instruct mixture, {args.steps} optimiser steps from {args.checkpoint}, 1 core")
    for (variant, packing), runs in results.items():
        speeds = [r["tokens_per_s"] for r in runs]
        print(f"{variant:9s} packing={'on ' if packing else 'off'} {median(speeds):8.0f} tokens/s "
              f"(range {spread(speeds)})  peak RSS {median([r['peak_rss_mb'] for r in runs]):.0f} MB")

    def ratio(a, b, key="tokens_per_s"):
        values = [x[key] / y[key] for x, y in zip(results[a], results[b])]
        return median(values), spread(values)

    for packing in (False, True):
        speed, rng = ratio(("lightning", packing), ("plain", packing))
        memory, _ = ratio(("lightning", packing), ("plain", packing), "peak_rss_mb")
        print(f"lightning/plain (packing {'on' if packing else 'off'}): tokens/s x{speed:.3f} (range {rng}), "
              f"peak memory x{memory:.3f}")
    for variant in ("plain", "lightning"):
        speed, rng = ratio((variant, True), (variant, False))
        print(f"packed/unpacked ({variant}): tokens/s x{speed:.3f} (range {rng})")


if __name__ == "__main__":
    main()
