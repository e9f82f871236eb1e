"""DVC stages `validate` and `validate_synthetic`: the Great Expectations suites of data_checks/ on one scope.

`python stages/validate.py` checks curate's tables (results in reports/validation/, metrics/validate.json);
`python stages/validate.py synthetic` checks synthesize's tables (reports/validation_synthetic/,
metrics/validate_synthetic.json). A failed expectation fails the stage (and so `dvc repro`) with a message
naming the suite, the expectation and example rows.
"""

import argparse
import sys

from lingshu.checks.run import run_validate_stage, scope_outputs
from lingshu.checks.suites import describe_failures
from lingshu.config import load_section
from lingshu.tracking import repo_root


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scope", nargs="?", default="curated", choices=["curated", "synthetic"],
                        help="which tables to check (default: curated)")
    parser.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    args = parser.parse_args(argv)
    validate = load_section("validate", args.params)
    outcomes, metrics = run_validate_stage(args.scope, load_section("curate", args.params), validate,
                                           load_section("tracking", args.params), repo_root(), args.params)
    if metrics["suites_failed"]:
        print(f"{args.scope} data checks FAILED\n{describe_failures(outcomes)}\nresults: "
              f"{repo_root() / scope_outputs(validate, args.scope)[0]}", file=sys.stderr)
        return 1
    print(f"{args.scope} data: {metrics['suites']} suites, {metrics['expectations']} expectations, all passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
