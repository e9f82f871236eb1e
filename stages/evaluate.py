"""DVC stage `evaluate@<checkpoint>`: score one checkpoint (models/<checkpoint>) on the eval benchmarks.

Thin entry point: load the `eval` params and run lingshu.eval.stage on models/<checkpoint>: it writes
eval/<checkpoint>/ (per-sample predictions and per-benchmark metrics, image controls included),
metrics/eval/<checkpoint>.json and plots/eval/<checkpoint>.csv, and logs scores, CIs and predictions to
MLflow. A killed run resumes from its predictions; predictions made for other weights or settings are
discarded, not reused.
"""

import argparse
import sys

from lingshu.config import load_section
from lingshu.eval.stage import run_eval_stage
from lingshu.tracking import repo_root


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", help="the stage whose checkpoint (models/<name>) to score: base, shallow, deep, instruct or rl")
    parser.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    parser.add_argument("overrides", nargs="*", help="eval.* overrides as key=value, e.g. limit=20")
    args = parser.parse_args(argv)
    cfg = load_section("eval", args.params, args.overrides)
    results, resumed = run_eval_stage(args.checkpoint, cfg, load_section("tracking", args.params), repo_root())
    summary = ", ".join(f"{r['benchmark']} {r['score']:.1f}" for r in results)
    print(f"evaluate@{args.checkpoint}: {summary}{' (resumed)' if resumed else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
