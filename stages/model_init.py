"""DVC stage `model_init`: build the tiny Qwen2.5-VL (or load a real checkpoint) into models/base.

Thin entry point: load the `model` params and run lingshu.model.stage: build or load the backbone, save
it as an HF checkpoint, and record its size per module and its held-out caption loss (the reference the
alignment stages must improve on) in metrics/model_init.json and MLflow.
"""

import argparse
import sys

from lingshu.config import load_section
from lingshu.model.stage import run_model_init
from lingshu.tracking import repo_root


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    parser.add_argument("overrides", nargs="*", help="model.* overrides as key=value, e.g. tiny.hidden_size=128")
    args = parser.parse_args(argv)
    cfg = load_section("model", args.params, args.overrides)
    metrics = run_model_init(cfg, load_section("train", args.params).common, load_section("tracking", args.params),
                             repo_root())
    print(f"model_init: {cfg.source} -> models/base ({metrics['params/total'] / 1e6:.2f}M parameters)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
