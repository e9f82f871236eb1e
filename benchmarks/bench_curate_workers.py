"""Curation throughput with 1 and 2 worker processes, on the real default data (params.yaml's curate section).

Why: the curate stage screens records (decoding and hashing images, rendering generated charts,
de-identifying, MinHashing) in `curate.workers` processes on disjoint shards, then decides in one
sequential pass; this measures what a second worker buys on the whole stage, and checks that both runs
make identical decisions. Each run is a fresh subprocess with its own empty image store, the worker counts
alternate within each round (1,2 then 2,1, ...), and every library thread pool is limited to one thread,
so a 1-worker run uses one core and a 2-worker run two while screening. Machines are noisy: the load
average is printed, and the ratio (median of the per-round ratios) carries over better than records/s.
"""

from __future__ import annotations

import os

from _common import THREAD_VARIABLES, median, run_json, section, spread

for _name in THREAD_VARIABLES:  # before numpy is imported; the CPU affinity is left alone: workers need cores
    os.environ[_name] = "1"

import argparse  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from dataclasses import replace  # noqa: E402
from pathlib import Path  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def one_run(workers: int, storage: str, params: str) -> None:
    """Hidden mode: curate once with `workers` in this fresh process; print one JSON line."""
    from lingshu.config import load_section
    from lingshu.data.curate import Curator

    cfg = load_section("curate", params, [f"workers={workers}", f"lsh_storage={storage}"])
    screening = []
    with tempfile.TemporaryDirectory(prefix="bench-curate-") as tmp:
        curator = Curator(replace(cfg, image_store=f"{tmp}/images"), REPO)
        screen = curator.screen

        def timed_screen(*args):
            start = time.perf_counter()
            out = screen(*args)
            screening.append(time.perf_counter() - start)
            return out

        curator.screen = timed_screen
        start = time.perf_counter()
        result = curator.run()
        seconds = time.perf_counter() - start
    decisions = [sorted((g, [s.id for s in samples]) for g, samples in result.kept.items()),
                 [(r.id, r.reason, r.detail) for r in result.rejected]]
    print(json.dumps({"workers": workers, "seconds": seconds, "screen_seconds": screening[0],
                      "records": sum(result.inputs.values()), "kept": sum(map(len, result.kept.values())),
                      "rejected": len(result.rejected),
                      "decisions": hashlib.sha256(json.dumps(decisions).encode()).hexdigest()}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="rounds of (1 worker, 2 workers) (default: 3)")
    parser.add_argument("--storage", choices=("memory", "redis"), default="memory",
                        help="curate.lsh_storage; redis needs the variable named by curate.redis_url_env")
    parser.add_argument("--params", default=str(REPO / "params.yaml"))
    parser.add_argument("--one-run", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one_run:
        return one_run(args.one_run, args.storage, args.params)

    cores = len(os.sched_getaffinity(0))
    print(f"{cores} usable cores, load average {os.getloadavg()[0]:.2f} (1 min) before the runs; "
          f"lsh_storage={args.storage}; {args.repeat} rounds, fresh subprocess per run")
    if cores < 2:
        print("note: fewer than 2 cores: 2 workers cannot run in parallel here")
    runs: dict[int, list[dict]] = {1: [], 2: []}
    command = [sys.executable, __file__, "--storage", args.storage, "--params", args.params, "--one-run"]
    for round_ in range(args.repeat):
        for workers in ((1, 2) if round_ % 2 == 0 else (2, 1)):
            run = run_json(command + [str(workers)])
            runs[workers].append(run)
            print(f"  round {round_ + 1}: {workers} worker(s) {run['seconds']:.1f} s "
                  f"(screening {run['screen_seconds']:.1f} s)", flush=True)

    section("Throughput of the whole curate run (records/s = input records / seconds of Curator.run)")
    first = runs[1][0]
    print(f"{first['records']} records -> {first['kept']} kept, {first['rejected']} rejected")
    print(f"{'workers':>8} {'records/s':>10} {'range':>12} {'seconds':>8} {'screening s':>12}")
    for workers, done in runs.items():
        rates = [r["records"] / r["seconds"] for r in done]
        print(f"{workers:>8} {median(rates):>10.0f} {f'{min(rates):.0f}-{max(rates):.0f}':>12} "
              f"{median([r['seconds'] for r in done]):>8.1f} "
              f"{median([r['screen_seconds'] for r in done]):>12.1f}")
    ratios = [one["seconds"] / two["seconds"] for one, two in zip(runs[1], runs[2])]
    screen_ratios = [one["screen_seconds"] / two["screen_seconds"] for one, two in zip(runs[1], runs[2])]
    print(f"2 workers / 1 worker: x{median(ratios):.2f} records/s (rounds {spread(ratios)}); "
          f"screening alone x{median(screen_ratios):.2f}")
    same = len({r["decisions"] for done in runs.values() for r in done}) == 1
    print(f"identical kept/rejected decisions in all runs: {'yes' if same else 'NO'}")
    print(f"load average after the runs: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
