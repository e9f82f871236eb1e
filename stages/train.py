"""DVC stages `train_shallow`, `train_deep`, `train_instruct`: one supervised stage with Lightning.

Thin entry point: load `train.common` and `train.<stage>` (plus `key=value` overrides) and run
lingshu.train.stage: train from the checkpoint `init_from` names (resuming from this stage's last
checkpoint if a run was interrupted), save models/<stage>, write the held-out metrics and the loss curve.
Loss, learning rates, tokens/s and trainable parameters per module go to MLflow through Lightning's
MLflow logger; under a multi-process launch only global rank 0 reports.
"""

import argparse
import sys

from lingshu.checkpoints import SUPERVISED
from lingshu.config import load_section
from lingshu.tracking import repo_root
from lingshu.train.stage import run_training_stage


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stage", choices=SUPERVISED, help="which supervised stage to run")
    parser.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    parser.add_argument("overrides", nargs="*", help="train.* overrides as key=value, e.g. instruct.epochs=3")
    args = parser.parse_args(argv)
    train = load_section("train", args.params, args.overrides)
    metrics = run_training_stage(args.stage, train, load_section("tracking", args.params), repo_root())
    if metrics:
        summary = {k: round(v, 4) for k, v in metrics.items() if k.startswith(("heldout/", "vqa/"))}
        print(f"train_{args.stage}: {int(metrics['train/steps'])} steps -> models/{args.stage} {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
