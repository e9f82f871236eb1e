"""`lingshu ablate`: run the paper's ablations as DVC experiments and compare them with the full model.

    lingshu ablate                          # queue and run every experiments/ablations/*.yaml, then report
    lingshu ablate --seeds 3                # every system with 3 training seeds: intervals count training noise
    lingshu ablate --only no-medical-text   # one variant
    lingshu ablate --noise-floor 3          # only the full model, 3 seeds: how far scores move by seed alone
    lingshu ablate --report-only            # re-make the report from finished experiments

Each declared variant becomes a DVC experiment named after its file (`dvc exp show` lists them), run
with the queue (`dvc exp run --queue`, then `--run-all`) up to the evaluation of its checkpoint; stages
whose inputs it does not change are restored from the cache. The full model is the workspace's
pipeline, so run `dvc repro` first. The report is reports/ablations.md with plots/ablations/ and
metrics/ablations.json; every system gets a summary run in MLflow experiment `<experiment>-ablations`.

With --seeds N (default: params `report.seeds`), replicate k of every system raises each
`report.seed_params` key by k: the full model's replicates are experiments `full-seed<k>` (the whole
pipeline), a variant's `<variant>-seed<k>`, which reuse the full model's cached stages of the same seed.
Each delta's interval then counts seed variance and question sampling, and the noise floor (the full
model's spread over seeds, per checkpoint and benchmark, and its own mean with an interval over seeds and
questions at the checkpoints the report compares) is written to reports/noise_floor.md and
metrics/noise_floor.json, and the pipeline's `report` stage, which quotes it, is re-made (`dvc repro report`);
a committed floor over more seeds whose first N scored exactly what these did is kept instead.
Experiments already finished on the current commit are not run again, so an
interrupted run continues where it stopped.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(commands) -> None:
    parser = commands.add_parser("ablate", help="run the declared ablations as DVC experiments and compare them",
                                 description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", metavar="NAME", help="only these variants (file stems)")
    parser.add_argument("--seeds", type=int, help="training seeds per system (default: params report.seeds)")
    parser.add_argument("--noise-floor", type=int, metavar="N",
                        help="retrain only the full model with N seeds and write the noise floor (no ablation table)")
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
    from lingshu.report import noise
    from lingshu.report.ablation import compare, log_summary_runs, plan, seed_flags, systems_of, write_outputs
    from lingshu.report.experiments import dvc, finished, run_planned
    from lingshu.report.variants import load_variants
    from lingshu.tracking import repo_root, tracking_uri

    repo = repo_root()
    params = repo / args.params
    report_cfg = load_section("report", params)
    seeds = args.noise_floor or args.seeds or report_cfg.seeds
    if seeds < 1:
        raise ValueError(f"--seeds must be at least 1, got {seeds}")
    variants = [] if args.noise_floor else load_variants(repo / args.ablations, params, args.only)
    tracking = load_section("tracking", params)
    if not args.report_only:
        run_planned(repo, plan(variants, seeds, lambda k: seed_flags(params, list(report_cfg.seed_params), k)),
                    tracking_uri(tracking, repo), args.jobs)
    systems = systems_of(repo, variants, finished(repo), seeds)
    floor = noise.committed(repo)
    if seeds > 1:
        train, rl = load_section("train", params), load_section("rl", params)
        files = {f"train_{s}": getattr(train, s).metrics_file for s in ("shallow", "deep", "instruct")}
        reads = [r.read for r in systems[0].replicates]
        evaluation = load_section("eval", params)
        previous = None if args.noise_floor else floor
        measured = noise.measure(reads, evaluation.metrics_dir, list(report_cfg.checkpoints),
                                 files | {"rl": rl.metrics_file})
        if noise.extends(previous, measured):
            print(f"kept {noise.OUTPUTS['metrics']}: the same recipe over {previous['n_seeds']} seeds, "
                  f"whose first {measured['n_seeds']} scored exactly what these did")
        else:
            floor = measured
            floor["intervals"] = noise.intervals(reads, evaluation, [report_cfg.baseline, *report_cfg.compare])
            noise.write(repo, floor)
            print(noise.to_markdown(floor))
        noise.log_run(floor, tracking, repo, noise.written_files(repo))
        dvc(repo, "repro", "report")  # the pipeline report quotes the noise floor: re-make it (a dvc.yaml dep)
    if args.noise_floor:
        return 0
    comparison = compare(systems, load_section("eval", params), args.resamples, args.seed)
    write_outputs(repo, systems, comparison, OUTPUTS, floor)
    log_summary_runs(repo, systems, comparison, tracking,
                     [repo / OUTPUTS["summary"], repo / OUTPUTS["metrics"], *sorted((repo / OUTPUTS["plots_dir"]).iterdir())])
    print((repo / OUTPUTS["summary"]).read_text())
    return 0
