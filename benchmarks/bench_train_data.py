"""Training data at corpus scale: time and memory from stage start to first batch, and loader workers.

On seeded corpora of N and 10×N rows in the curated schema (benchmarks/_corpus.py, default 100k and 1M),
each run a fresh process that trains the tiny model (models/base) on the whole corpus as the instruct
stage would (every group weight 1, packing on, max_length 512) through `fit_stage`, stopped at the first
batch:
1. **first run** (empty cache: Arrow copies of the tables and the token lengths are made) and **second
   run** (the same cache), per size: seconds from calling `fit_stage` to the data module being set up and
   to the first batch, the process's peak RSS from that moment on (imports excluded, they come first in
   both runs), and the largest peak among its child processes (the length map's workers). Then the ratios
   first/second (time) and 10×N / N (peak memory).
2. **loader workers**: tokens/s of `--steps` training steps with `train.common.num_workers` 0 and 2 on the
   N-row corpus (the length cache warm), the first 3 steps excluded, interleaved over `--repeat` rounds;
   tokens/s counts the wall clock from one step's end to the next one's end, so it includes waiting for
   data, which is also reported (seconds per step between one step's end and the next one's batch), and
   the speed ratio is also given batch by batch (the median over the same batches of both runs). The decoded-image cache
   is turned off, so every sample's image is decoded as in a corpus whose images are all distinct (the
   corpus's pool of 32 images would otherwise be decoded once).

Unlike the one-core benchmarks, nothing is pinned: the length map and the loader workers need the
second core. Run it on a quiet machine; the load average is printed before and after.

    .venv/bin/python benchmarks/bench_train_data.py                      # about 15 minutes on 2 cores
    .venv/bin/python benchmarks/bench_train_data.py --sizes 20000 200000 --steps 20 --repeat 1
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import median, peak_rss_mb, reset_peak_rss, rss_mb, run_json, section, spread  # noqa: E402
from _corpus import GROUPS, write_corpus  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
WARMUP_STEPS = 3


class Reached(Exception):
    """Raised by the first batch to stop the stage there."""


def _stage(root: Path, steps: int):
    from lingshu.model.config import Trainable
    from lingshu.train.config import LearningRates, StageConfig

    return StageConfig(init_from="base", checkpoint_dir=str(root / "checkpoints"), groups={g: 1 for g, _, _ in GROUPS},
                       tasks=[], require_images=False, trainable=Trainable.everything(),
                       lr=LearningRates(vision=2e-4, projector=5e-4, language_model=1e-3), epochs=1, batch_size=2,
                       packing=True, max_length=512, max_steps=steps, warmup_steps=0, checkpoint_every=10**6,
                       evaluate_vqa=False, metrics_file=str(root / "metrics.json"), plots_file=str(root / "loss.csv"))


def first_batch(root: Path) -> dict:
    import resource

    import datasets  # noqa: F401  (imported by every stage; its import is not part of the data's cost)
    import pytorch_lightning as pl

    from lingshu.train.config import CommonTrainConfig
    from lingshu.train.run import fit_stage

    marks: dict = {}

    class FirstBatch(pl.Callback):
        def setup(self, trainer, pl_module, stage):
            marks["data_ready_s"] = time.perf_counter() - start

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            marks["first_batch_s"] = time.perf_counter() - start
            marks["peak_rss_mb"] = peak_rss_mb()
            marks["stats"] = dict(trainer.datamodule.stats)
            raise Reached

    reset_peak_rss()
    marks["start_rss_mb"] = rss_mb()
    start = time.perf_counter()
    try:
        fit_stage(CommonTrainConfig(synthetic_dir="", accelerator="cpu", devices="1"), _stage(root, 1), root,
                  root / "out", progress=False, callbacks=[FirstBatch()])
    except Reached:
        pass
    marks["children_peak_rss_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return marks


def throughput(root: Path, workers: int, steps: int) -> dict:
    import pytorch_lightning as pl

    import lingshu.train.datamodule
    from lingshu.train.chat import FittedImages
    from lingshu.train.config import CommonTrainConfig
    from lingshu.train.run import fit_stage

    lingshu.train.datamodule.FittedImages = lambda store, image_processor, maxsize: FittedImages(store, image_processor, 0)
    timed = {"tokens": [], "waiting_s": [], "step_s": []}  # per timed step; waiting: since the previous step ended
    marks: dict = {}

    class Steps(pl.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            marks["start"] = time.perf_counter()
            if batch_idx >= WARMUP_STEPS:
                timed["tokens"].append(batch["n_tokens"])
                timed["waiting_s"].append(marks["start"] - marks["end"])

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            marks["end"] = time.perf_counter()
            if batch_idx >= WARMUP_STEPS:
                timed["step_s"].append(marks["end"] - marks["start"])

    shutil.rmtree(root / "checkpoints", ignore_errors=True)
    fit_stage(CommonTrainConfig(synthetic_dir="", accelerator="cpu", devices="1", num_workers=workers),
              _stage(root, steps + WARMUP_STEPS), root, root / "out", progress=False, callbacks=[Steps()])
    seconds = sum(timed["waiting_s"]) + sum(timed["step_s"])
    return {"tokens_per_s": sum(timed["tokens"]) / seconds, "waiting_s_per_step": sum(timed["waiting_s"]) / steps, **timed}


def corpus(workdir: Path, rows: int, seed: int) -> Path:
    root = write_corpus(workdir / f"corpus-{rows}", rows, seed, REPO / "data/images")
    (root / "models").mkdir(exist_ok=True)
    if not (root / "models/base").exists():
        (root / "models/base").symlink_to(REPO / "models/base")
    return root


def _worker(args, *extra: str) -> dict:
    return run_json([sys.executable, __file__, "--workdir", str(args.workdir), "--seed", str(args.seed),
                     "--steps", str(args.steps), "--worker", *extra])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs=2, default=[100_000, 1_000_000], help="corpus rows, small and large")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/lingshu-bench-train-data"),
                        help="where the corpora and their caches are written (kept between runs)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=40, help="timed training steps per loader-workers run")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved rounds of the loader-workers runs")
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.worker:
        mode, rows, *rest = args.worker
        root = corpus(args.workdir, int(rows), args.seed)
        result = first_batch(root) if mode == "first" else throughput(root, int(rest[0]), args.steps)
        print(json.dumps(result))
        return

    print(f"load average before: {os.getloadavg()}", flush=True)
    runs: dict[tuple[int, str], dict] = {}
    for rows in args.sizes:
        root = corpus(args.workdir, rows, args.seed)
        shutil.rmtree(root / ".cache", ignore_errors=True)  # the first run starts from nothing
        for run in ("first", "second"):
            runs[(rows, run)] = _worker(args, "first", str(rows))
            print(f"{rows} rows, {run} run done", flush=True)
    section("stage start to first batch (instruct-like mixture of every row, packing on, max_length 512)")
    for (rows, run), r in runs.items():
        stats = r["stats"]
        print(f"{rows:>9} rows, {run:6s} run: data ready {r['data_ready_s']:7.2f} s, first batch {r['first_batch_s']:7.2f} s, "
              f"peak RSS {r['peak_rss_mb']:6.0f} MB (at start {r['start_rss_mb']:.0f} MB), children's peak "
              f"{r['children_peak_rss_mb']:.0f} MB; {stats['kept']} samples kept, {stats.get('skipped_too_long', 0)} "
              f"skipped, {stats['rows']} packed rows")
    small, large = args.sizes
    for rows in args.sizes:
        speedup = runs[(rows, "first")]["first_batch_s"] / runs[(rows, "second")]["first_batch_s"]
        print(f"{rows} rows: first run / second run (time to first batch) x{speedup:.1f}")
    for run in ("first", "second"):
        growth = runs[(large, run)]["peak_rss_mb"] / runs[(small, run)]["peak_rss_mb"]
        print(f"{run} run: peak RSS {large} / {small} rows x{growth:.2f}")

    speeds: dict[int, list[dict]] = {0: [], 2: []}
    for round_ in range(args.repeat):
        for workers in (0, 2) if round_ % 2 == 0 else (2, 0):
            speeds[workers].append(_worker(args, "throughput", str(small), str(workers)))
        print(f"round {round_ + 1}/{args.repeat} done", flush=True)
    section(f"training tokens/s, tiny model, {small}-row corpus, {args.steps} steps after {WARMUP_STEPS}")
    for workers, results in speeds.items():
        values = [r["tokens_per_s"] for r in results]
        waits = [r["waiting_s_per_step"] for r in results]
        print(f"num_workers={workers}: {median(values):7.0f} tokens/s (range {spread(values)}), waiting for data "
              f"{median(waits):.3f} s per step (range {spread(waits)})")
    ratios = [b["tokens_per_s"] / a["tokens_per_s"] for a, b in zip(speeds[0], speeds[2])]
    print(f"num_workers 2 / 0: tokens/s x{median(ratios):.2f} (range {spread(ratios)})")
    # both runs of a round train the same batches in the same order: compare them batch by batch, which
    # a slow moment of another process on the machine moves less than a whole run's total
    paired = [(a["waiting_s"][i] + a["step_s"][i]) / (b["waiting_s"][i] + b["step_s"][i])
              for a, b in zip(speeds[0], speeds[2]) for i in range(args.steps)]
    print(f"num_workers 2 / 0: median over the same batches of the speed ratio x{median(paired):.2f}")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
