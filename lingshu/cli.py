"""The `lingshu` command: the pipeline's pieces usable outside `dvc repro`.

`lingshu check-data` runs the Great Expectations suites of data_checks/ on the curate outputs, or with
`--scope synthetic|all` on the synthesize outputs too (what the validate stages do, without MLflow logging), optionally re-curating first — a pull-request workflow
runs it when data sources or checks change. `lingshu params` prints every params.yaml field with its help.
`lingshu eval` scores any Hugging Face model on benchmarks (see lingshu/eval/command.py).
`lingshu audit` lists the benchmark test items any training data contains (see lingshu/data/audit_command.py).
`lingshu profile` lists, checks and applies the profiles of profiles/ (see lingshu/profiles.py).
`lingshu scale-corpus` writes a seeded corpus of N records with planted problems and its answer key
(see lingshu/data/scale_corpus_command.py).
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import MISSING, fields, is_dataclass
from typing import get_type_hints


def _check_data(args: argparse.Namespace) -> int:
    from lingshu.checks.run import run_checks
    from lingshu.checks.suites import describe_failures
    from lingshu.config import load_section
    from lingshu.tracking import repo_root

    curate = load_section("curate", args.params)
    validate = load_section("validate", args.params)
    repo = repo_root()
    if args.curate:  # the curate stage's own function: the same tables, metrics and plots
        from lingshu.data.curate_report import curate_and_report

        curate_and_report(curate, repo)
    scopes = ["curated", "synthetic"] if args.scope == "all" else [args.scope]
    outcomes = [o for scope in scopes for o in run_checks(curate, validate, repo, scope, args.params)]
    for outcome in outcomes:
        status = "passed" if outcome.success else f"FAILED ({len(outcome.failed)} of {outcome.evaluated})"
        print(f"{outcome.suite:>14}: {outcome.evaluated} expectations, {status}")
    if any(not o.success for o in outcomes):
        print(describe_failures(outcomes), file=sys.stderr)
        print(f"results: {repo / validate.results_dir}", file=sys.stderr)
        return 1
    return 0


def _params(args: argparse.Namespace) -> int:
    from lingshu.config import SECTIONS, check_params

    if args.check:
        problems = check_params(args.params)
        for problem in problems:
            print(problem, file=sys.stderr)
        print(f"{args.params}: {len(problems)} problem(s)" if problems else f"{args.params}: ok")
        return 1 if problems else 0

    def show(schema: type, prefix: str) -> None:
        types = get_type_hints(schema)
        for f in fields(schema):
            if is_dataclass(types[f.name]):
                show(types[f.name], f"{prefix}{f.name}.")
            else:
                required = " (required)" if f.default is MISSING and f.default_factory is MISSING else ""
                print(f"{prefix + f.name:<44} {f.metadata.get('help', '')}{required}")

    for name, schema in SECTIONS.items():
        if args.section in (None, name):
            print(f"[{name}] {schema.__doc__.strip().splitlines()[0]}")
            show(schema, f"  {name}.")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lingshu", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check-data", help="run the data_checks/ expectation suites on the curated data",
                                description="Run the Great Expectations suites of data_checks/ on the curate outputs. "
                                            "Exits 1 and names suite, expectation and example rows when one fails.")
    check.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    check.add_argument("--curate", action="store_true", help="re-run curation from data/sources first (no DVC needed)")
    check.add_argument("--scope", choices=["curated", "synthetic", "all"], default="curated",
                       help="which tables: curate's (default), synthesize's, or both")
    check.set_defaults(func=_check_data)
    params = commands.add_parser("params", help="list every params.yaml field with its help text, or --check a file",
                                 description="List every params.yaml field with its help text; with --check, load "
                                             "a params file and report every problem (unknown section or key, type, "
                                             "range, settings that cannot work together), naming the key; exit 1 "
                                             "if there is one.")
    params.add_argument("section", nargs="?", help="only this section (curate, validate, tracking)")
    params.add_argument("--check", action="store_true", help="validate the params file instead of listing fields")
    params.add_argument("--params", default="params.yaml", help="params file for --check (default: params.yaml)")
    params.set_defaults(func=_params)
    from lingshu.eval.command import add_parser as add_eval

    add_eval(commands)
    from lingshu.data.audit_command import add_parser as add_audit

    add_audit(commands)
    from lingshu.report.command import add_parser as add_ablate

    add_ablate(commands)
    from lingshu.profiles import add_parser as add_profile

    add_profile(commands)
    from lingshu.report.readme import add_parser as add_readme

    add_readme(commands)
    from lingshu.data.scale_corpus_command import add_parser as add_scale_corpus

    add_scale_corpus(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    argv = list(sys.argv[1:] if argv is None else argv)
    cut = argv.index("--") if "--" in argv else len(argv)  # what follows `--` goes to the program a command starts
    parser = build_parser()
    args = parser.parse_args(argv[:cut])
    args.passthrough = argv[cut + 1:]
    if args.passthrough and args.command != "profile":
        parser.error(f"lingshu {args.command} takes no arguments after --")
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
