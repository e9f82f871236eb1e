"""Run every suite in data_checks/ on the current curate outputs: the validate stage's whole job."""

from __future__ import annotations

from pathlib import Path

from lingshu.checks.derive import conservation_table, curated_table, rejected_table
from lingshu.checks.render import write_result
from lingshu.checks.suites import SuiteOutcome, check_params, load_suite_file, run_suite
from lingshu.config import CurateConfig, ValidateConfig


def run_checks(curate: CurateConfig, validate: ValidateConfig, repo: Path) -> list[SuiteOutcome]:
    suite_files = sorted((repo / validate.suites_dir).glob("*.json"))
    if not suite_files:
        raise FileNotFoundError(f"no expectation suites (*.json) in {repo / validate.suites_dir}")
    curated = curated_table(curate, repo)
    rejected = rejected_table(curate, repo)
    tables = {"curated": curated, "rejected": rejected, "conservation": conservation_table(curate, repo, curated, rejected)}
    params = check_params(curate, validate)
    outcomes = []
    for path in suite_files:
        spec = load_suite_file(path, params)
        if spec["table"] not in tables:
            raise ValueError(f"{path}: unknown table {spec['table']!r}; known: {sorted(tables)}")
        outcome = run_suite(spec, tables[spec["table"]], validate.max_examples)
        write_result(outcome, repo / validate.results_dir)
        outcomes.append(outcome)
    return outcomes
