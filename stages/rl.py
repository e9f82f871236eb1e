"""DVC stage `rl`: GRPO with verifiable rewards, from the checkpoint `rl.init_from` names to models/rl.

Thin entry point: load the `rl` params (plus `key=value` overrides) and `train.common` (data locations,
hardware) and run lingshu.rl.stage: select the verifiable prompts, run GRPO (resuming an interrupted
run), save models/rl, and write the selection's composition, the per-rollout reward curve and the
held-out results. Rewards per function, KL, clip fractions and completion lengths go to MLflow per
rollout, sample completions as a table artifact.
"""

import argparse
import sys

from lingshu.config import load_section
from lingshu.rl.stage import run_rl_stage
from lingshu.tracking import repo_root


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    parser.add_argument("overrides", nargs="*", help="rl.* overrides as key=value, e.g. num_generations=16")
    args = parser.parse_args(argv)
    cfg = load_section("rl", args.params, args.overrides)
    metrics, prompts = run_rl_stage(cfg, load_section("train", args.params).common, load_section("tracking", args.params),
                                    repo_root())
    if metrics:
        reward = {k: round(v, 3) for k, v in metrics.items() if k.startswith(("rl/first", "rl/last", "vqa/accuracy"))}
        print(f"rl: {prompts} prompts, {int(metrics['rl/rollouts'])} rollouts -> models/rl {reward}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
