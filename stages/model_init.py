"""DVC stage `model_init`: build the tiny Qwen2.5-VL (or load a real checkpoint) into models/base.

Thin entry point: load the `model` params, build or load the backbone, save it as an HF checkpoint,
and record its size per module and its held-out caption loss (the reference the alignment stages
must improve on) in metrics/model_init.json and MLflow.
"""

import argparse
import sys

from lingshu.config import load_section
from lingshu.io import atomic_write_json
from lingshu.tracking import log_stage_metrics, repo_root, stage_run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    parser.add_argument("overrides", nargs="*", help="model.* overrides as key=value, e.g. tiny.hidden_size=128")
    args = parser.parse_args(argv)
    cfg = load_section("model", args.params, args.overrides)
    common = load_section("train", args.params).common
    repo = repo_root()
    from lingshu.model.factory import initialise, save
    from lingshu.model.freezing import parameters_by_module
    from lingshu.train.heldout import measure_heldout

    with stage_run("model_init", cfg, load_section("tracking", args.params), [common.data_dir, common.synthetic_dir]):
        model, processor = initialise(cfg, repo)
        save(model, processor, repo / cfg.output_dir)
        metrics = {f"params/{m}": float(sum(p.numel() for _, p in ps)) for m, ps in parameters_by_module(model).items()}
        metrics["params/total"] = float(sum(p.numel() for p in model.parameters()))
        metrics["vocab_size"] = float(len(processor.tokenizer))
        metrics |= measure_heldout(model, processor, common, repo, vqa=False)
        atomic_write_json(repo / cfg.metrics_file, metrics)
        log_stage_metrics(metrics)
    print(f"model_init: {cfg.source} -> {cfg.output_dir} ({metrics['params/total'] / 1e6:.2f}M parameters)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
