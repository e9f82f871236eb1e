"""DVC stage `synthesize`: data/curated -> data/synthetic (long captions, OCR, VQA, CoT) with full accounting.

Thin entry point: load `synthesize` params (plus `key=value` overrides), run lingshu.synth, log the yield
per generator, the rejected table and the sample gallery to MLflow, and say which generators were skipped.
"""

import argparse
import sys

from lingshu.config import load_section
from lingshu.synth.run import synthesize
from lingshu.tracking import log_stage_metrics, repo_root, stage_run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    parser.add_argument("overrides", nargs="*", help="synthesize.* overrides as key=value, e.g. llm.base_url=http://127.0.0.1:8000/v1")
    args = parser.parse_args(argv)
    cfg = load_section("synthesize", args.params, args.overrides)
    repo = repo_root()
    with stage_run("synthesize", cfg, load_section("tracking", args.params), [cfg.input_dir, cfg.image_store]):
        metrics, _, _ = synthesize(cfg, repo)
        log_stage_metrics(metrics, [repo / cfg.metrics_file, repo / cfg.output_dir / "rejected.parquet"],
                          [repo / cfg.plots_dir / plot for plot in ("gallery.png", "yield.csv")])
    for name, summary in metrics["generators"].items():
        print(f"synthesize: {name}: {summary['attempts']} attempts -> {summary['accepted']} accepted, "
              f"{summary['rejected']} rejected {summary['rejected_by_reason'] or ''}")
    for name, why in metrics["skipped"].items():
        print(f"synthesize: {name}: skipped LLM steps: {why}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
