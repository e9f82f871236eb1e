"""The `curate` stage on Ray against the single-process stage it replaced, side by side on the embedded default.

Both commits are exported with `git archive` into fresh folders (the sources and benchmarks are in git)
and `python stages/curate.py` runs in each, alternately, `--repeats` times: the whole stage as DVC runs it,
imports, MLflow and (for Ray) starting and stopping the local Ray included. The ratio of the medians is what
issue 17 bounds (at most 1.5x). Also checked: both runs keep and reject the same ids with the same reasons.

    .venv/bin/python benchmarks/bench_curate_ray.py                     # about 4 minutes on 2 cores
    .venv/bin/python benchmarks/bench_curate_ray.py --base b951d4f --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def export(commit: str, into: Path) -> Path:
    into.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", commit], cwd=REPO, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def run_stage(tree: Path, scratch: Path) -> float:
    env = os.environ | {"PYTHONPATH": str(tree), "MLFLOW_TRACKING_URI": f"sqlite:///{scratch / 'mlflow.db'}",
                        "RAY_USAGE_STATS_ENABLED": "0", "HF_HUB_OFFLINE": "1"}
    env.pop("RAY_ADDRESS", None)
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "stages/curate.py"], cwd=tree, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"curate failed in {tree}:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return seconds


def outcome(tree: Path) -> tuple[dict[str, list[str]], set[tuple[str, str]]]:
    """Kept ids per group and rejected (id, reason), read from either layout (one file or shards per table)."""
    import pyarrow.parquet as pq

    def rows(paths):
        return [r for p in paths for r in pq.read_table(p).to_pylist()]

    curated = tree / "data" / "curated"
    kept = {p.stem: [r["id"] for r in rows([p])] for p in curated.glob("*.parquet")}
    kept |= {d.name: [r["id"] for r in rows(sorted(d.glob("*.parquet")))] for d in curated.iterdir() if d.is_dir()}
    rejected = {(r["id"], r["reason"]) for r in rows(sorted((tree / "data" / "rejected").glob("*.parquet")))}
    return kept, rejected


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", default="b951d4f", help="the single-process commit (default: b951d4f)")
    parser.add_argument("--head", default="HEAD", help="the Ray commit (default: HEAD)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "curate_ray.json"))
    args = parser.parse_args()
    commits = {name: subprocess.run(["git", "rev-parse", "--short", commit], cwd=REPO, capture_output=True, text=True,
                                    check=True).stdout.strip() for name, commit in (("base", args.base), ("ray", args.head))}
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-curate-ray-") as tmp:
        trees = {name: export(commit, Path(tmp) / name) for name, commit in (("base", args.base), ("ray", args.head))}
        seconds: dict[str, list[float]] = {"base": [], "ray": []}
        for repeat in range(args.repeats):
            for name, tree in trees.items():
                seconds[name].append(run_stage(tree, Path(tmp)))
                print(f"repeat {repeat + 1}: {name} {seconds[name][-1]:.1f} s", flush=True)
        same = outcome(trees["base"]) == outcome(trees["ray"])
    medians = {name: statistics.median(values) for name, values in seconds.items()}
    result = {"base": commits["base"], "head": commits["ray"], "seconds": seconds, "median_s": medians,
              "ratio": medians["ray"] / medians["base"], "same_ids_and_reasons": same,
              "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
              "load_average_1_5_15min": {"before": [round(x, 2) for x in load_before],
                                         "after": [round(x, 2) for x in os.getloadavg()]}}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"curate: {medians['base']:.1f} s single-process ({commits['base']}) vs {medians['ray']:.1f} s on Ray "
          f"({commits['ray']}): {result['ratio']:.2f}x; same kept ids and rejection reasons: {same}; load average "
          f"{result['load_average_1_5_15min']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
