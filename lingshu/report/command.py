"""`lingshu ablate`: run the paper's ablations as DVC experiments and compare them with the full model.

    lingshu ablate                          # queue and run every experiments/ablations/*.yaml, then report
    lingshu ablate --only no-medical-text   # one variant
    lingshu ablate --report-only            # re-make the report from finished experiments

Each declared variant becomes a DVC experiment named after its file (`dvc exp show` lists them), run
with the queue (`dvc exp run --queue`, then `--run-all`) up to the evaluation of its checkpoint; stages
whose inputs it does not change are restored from the cache. The full model is the workspace's
pipeline, so run `dvc repro` first. The report is reports/ablations.md with plots/ablations/ and
metrics/ablations.json; every system gets a summary run in MLflow experiment `<experiment>-ablations`.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(commands) -> None:
    parser = commands.add_parser("ablate", help="run the declared ablations as DVC experiments and compare them",
                                 description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", metavar="NAME", help="only these variants (file stems)")
    parser.add_argument("--report-only", action="store_true", help="do not run anything; report finished experiments")
    parser.add_argument("--jobs", type=int, default=1, help="experiments run in parallel by the queue (default: 1)")
    parser.add_argument("--ablations", type=Path, default=Path("experiments/ablations"), help="declarations folder")
    parser.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    parser.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples of each delta (default: 2000)")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed (default: 0)")
    parser.set_defaults(func=run)


OUTPUTS = {"summary": "reports/ablations.md", "metrics": "metrics/ablations.json", "plots_dir": "plots/ablations"}


def run(args: argparse.Namespace) -> int:
    import sys

    try:
        return _ablate(args)
    except (ValueError, RuntimeError, FileNotFoundError) as exc:
        print(f"lingshu ablate: error: {exc}", file=sys.stderr)
        return 2


def _ablate(args: argparse.Namespace) -> int:
    from lingshu.config import load_section
    from lingshu.report.ablation import compare, log_summary_runs, systems_of, write_outputs
    from lingshu.report.experiments import finished, run_variants
    from lingshu.report.variants import load_variants
    from lingshu.tracking import repo_root, tracking_uri

    repo = repo_root()
    variants = load_variants(repo / args.ablations, repo / args.params, args.only)
    tracking = load_section("tracking", repo / args.params)
    uri = tracking_uri(tracking, repo)
    if not args.report_only:
        run_variants(repo, variants, uri, args.jobs)
    systems = systems_of(repo, variants, finished(repo))
    comparison = compare(systems, load_section("eval", repo / args.params), repo, args.resamples, args.seed)
    write_outputs(repo, systems, comparison, OUTPUTS)
    log_summary_runs(repo, systems, comparison, tracking,
                     [repo / OUTPUTS["summary"], repo / OUTPUTS["metrics"], *sorted((repo / OUTPUTS["plots_dir"]).iterdir())])
    print((repo / OUTPUTS["summary"]).read_text())
    return 0
