"""How much driver memory Ray Data keeps per block it has processed: the same rows in small and large blocks.

Issue 17 bounds the curate driver's peak memory at 10N records to 1.2x of N, and at 1M records the driver
grew from 312 to 454 MB while only read tasks ran. Ray Data's map operators keep one statistics record per
output block until the dataset finishes (`MapOperator._output_blocks_stats`, ray-project/ray#66016), so
the driver grows with the number of blocks processed, not with what is in flight. This script passes the
same number of rows through a read and a map operator twice, in fresh Ray sessions one after the other:
once in blocks of --small rows (curate's read tasks yield 256), once in blocks of --large rows, and prints
each run's driver growth, the bytes per block and the ratio of the two growths.

    .venv/bin/python benchmarks/bench_ray_block_stats.py                  # about 2 minutes on 2 cores
    .venv/bin/python benchmarks/bench_ray_block_stats.py --rows 2000000 --small 256 --large 2048
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import rss_mb, run_json, section  # noqa: E402


def measure(rows: int, rows_per_block: int, temp_dir: str) -> dict:
    """One fresh Ray session: the driver's resident memory before and after streaming `rows` rows through
    a read and a map operator in blocks of `rows_per_block` rows."""
    import ray

    ray.init(num_cpus=1, address="local", include_dashboard=False, log_to_driver=False, _temp_dir=temp_dir)
    try:
        ray.data.DataContext.get_current().enable_progress_bars = False
        blocks = -(-rows // rows_per_block)
        dataset = ray.data.range(rows, override_num_blocks=blocks).map_batches(lambda batch: batch, batch_size=None)
        stream = iter(dataset.iter_batches(batch_size=None, prefetch_batches=0))
        next(stream)  # the first block: executor, workers and imports are up, so they are not counted
        start = rss_mb()
        peak = start
        for _ in stream:
            peak = max(peak, rss_mb())
        return {"rows": rows, "rows_per_block": rows_per_block, "blocks": blocks, "driver_start_mb": start,
                "driver_growth_mb": peak - start, "bytes_per_block": (peak - start) * 2**20 / max(blocks - 1, 1)}
    finally:
        ray.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows streamed in each run (default: 1,000,000)")
    parser.add_argument("--small", type=int, default=256, help="rows per block of the first run (default: 256)")
    parser.add_argument("--large", type=int, default=2048, help="rows per block of the second run (default: 2048)")
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help="also write the results here as JSON")
    args = parser.parse_args()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if args.worker:
        with tempfile.TemporaryDirectory(prefix="ray-", dir="/tmp") as temp_dir:
            print(json.dumps(measure(args.rows, args.worker, temp_dir)))
        return
    runs = []
    for rows_per_block in (args.small, args.large):
        section(f"{args.rows:,} rows in blocks of {rows_per_block}")
        run = run_json([sys.executable, __file__, "--rows", str(args.rows), "--worker", str(rows_per_block)])
        print(f"{run['blocks']:,} blocks: driver {run['driver_start_mb']:.0f} MB -> +{run['driver_growth_mb']:.0f} MB "
              f"({run['bytes_per_block']:,.0f} bytes per block)")
        runs.append(run)
    small, large = runs
    ratio = small["driver_growth_mb"] / max(large["driver_growth_mb"], 1e-9)
    print(f"\ndriver growth, blocks of {args.small} / blocks of {args.large}: {ratio:.1f}x "
          f"for {small['blocks'] / large['blocks']:.0f}x the blocks")
    if args.out:
        args.out.write_text(json.dumps({"runs": runs, "growth_ratio": ratio}, indent=2) + "\n")


if __name__ == "__main__":
    main()
