"""`make demo` of two commits, side by side on this machine: is the pipeline slower than it was?

Each commit is cloned fresh into --workdir, installed with `make install` (not timed; pip's cache is
shared with this repo's), then `make demo` (`dvc repro` of the whole pipeline) is timed, with each
stage's share taken from when DVC prints "Running stage". The two runs go one after the other in one
invocation, so they see the same machine; machines are noisy, so the ratio after/before is the number
to carry over, not the seconds. Results go to --out (JSON), which `lingshu readme` quotes; the pairs
measured before it stay under "earlier" (commits and totals), so that a reader sees how much two runs
of one commit differ.

    .venv/bin/python benchmarks/bench_demo.py                          # 88d832e vs HEAD, ~30 min on 2 cores
    .venv/bin/python benchmarks/bench_demo.py --before 88d832e --after HEAD --out benchmarks/results/demo_time.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STAGE_LINE = re.compile(r"^Running stage '([^']+)'")


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def clone(rev: str, folder: Path) -> str:
    if folder.exists():
        shutil.rmtree(folder)
    subprocess.run(["git", "clone", "-q", str(ROOT), str(folder)], check=True)
    subprocess.run(["git", "checkout", "-q", rev], cwd=folder, check=True)
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True, check=True).stdout.strip()


def timed_demo(folder: Path, env: dict, log: Path) -> dict:
    """Seconds of `make demo` in `folder` and per stage (from one "Running stage" line to the next)."""
    marks: list[tuple[str, float]] = []
    start = time.perf_counter()
    with log.open("w") as sink, subprocess.Popen(["make", "demo"], cwd=folder, env=env, stdout=subprocess.PIPE,
                                                 stderr=subprocess.STDOUT, text=True) as proc:
        for line in proc.stdout:
            sink.write(line)
            found = STAGE_LINE.match(line)
            if found:
                marks.append((found.group(1), time.perf_counter() - start))
                print(f"  {marks[-1][1]:7.0f} s  {found.group(1)}", flush=True)
    total = time.perf_counter() - start
    if proc.returncode:
        raise RuntimeError(f"`make demo` failed in {folder} (exit {proc.returncode}); see {log}")
    ends = [t for _, t in marks[1:]] + [total]
    return {"total_s": round(total, 1), "stages_s": {name: round(end - t, 1) for (name, t), end in zip(marks, ends)}}


def with_earlier(result: dict, previous: dict | None) -> dict:
    """`result` with the pairs of `previous` (the results file it replaces) kept under "earlier", newest last."""
    if previous is None:
        return result
    pair = {"measured": previous["measured"], "ratio_after_over_before": previous["ratio_after_over_before"],
            **{label: {k: previous[label][k] for k in ("commit", "total_s")} for label in ("before", "after")}}
    return result | {"earlier": previous.get("earlier", []) + [pair]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", default="88d832e", help="the reference commit (default: 88d832e)")
    parser.add_argument("--after", default="HEAD", help="the commit measured against it (default: HEAD)")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/lingshu-bench-demo"), help="where the clones go")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/demo_time.json", help="results JSON")
    args = parser.parse_args(argv)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "DVC_", "VIRTUAL_ENV"))}
    env["PATH"] = ":".join(p for p in env.get("PATH", "").split(":") if ".venv" not in p)
    args.workdir.mkdir(parents=True, exist_ok=True)
    runs = {}
    for label, rev in (("before", args.before), ("after", args.after)):
        folder = args.workdir / label
        commit = clone(subprocess.run(["git", "rev-parse", rev], cwd=ROOT, capture_output=True, text=True,
                                      check=True).stdout.strip(), folder)
        print(f"{label}: {commit[:10]}: installing (not timed)", flush=True)
        subprocess.run(["make", "install", f"PIP_CACHE_DIR={ROOT / '.cache/pip'}"], cwd=folder, env=env, check=True,
                       stdout=subprocess.DEVNULL)
        print(f"{label}: {commit[:10]}: make demo", flush=True)
        runs[label] = {"commit": commit, **timed_demo(folder, env, args.workdir / f"{label}.log")}
    ratio = runs["after"]["total_s"] / runs["before"]["total_s"]
    result = {"machine": {"cpu": cpu_model(), "cores": os.cpu_count(), "python": platform.python_version()},
              "measured": time.strftime("%Y-%m-%d"), "before": runs["before"], "after": runs["after"],
              "ratio_after_over_before": round(ratio, 3)}
    result = with_earlier(result, json.loads(args.out.read_text()) if args.out.exists() else None)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    stages = sorted(set(runs["before"]["stages_s"]) | set(runs["after"]["stages_s"]),
                    key=lambda s: list(runs["after"]["stages_s"]).index(s) if s in runs["after"]["stages_s"] else 99)
    print(f"\n{'stage':22s} {'before s':>9s} {'after s':>9s}")
    for stage in stages:
        b, a = runs["before"]["stages_s"].get(stage), runs["after"]["stages_s"].get(stage)
        print(f"{stage:22s} {'' if b is None else f'{b:9.0f}':>9s} {'' if a is None else f'{a:9.0f}':>9s}")
    print(f"{'make demo':22s} {runs['before']['total_s']:9.0f} {runs['after']['total_s']:9.0f}")
    print(f"ratio after / before: {ratio:.3f} ({result['machine']['cpu']}, {result['machine']['cores']} cores)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
