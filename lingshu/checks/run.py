"""Run the suites in data_checks/ on one scope of tables: the validate stages' whole job.

Two scopes, because the data they check is made at two points of the pipeline: `curated` (curate's
tables, checked before anything is synthesised from them) and `synthetic` (synthesize's tables, checked
before any training reads them). A suite belongs to the scope that owns its `table`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pandas as pd

from lingshu.checks.derive import conservation_table, curated_table, rejected_table
from lingshu.checks.render import write_result
from lingshu.checks.suites import SuiteOutcome, check_params, load_suite_file, run_suite
from lingshu.config import CurateConfig, ValidateConfig

SCOPES = {
    "curated": ("curated", "rejected", "conservation"),
    "synthetic": ("synthetic", "synthetic_rejected", "synthetic_conservation"),
}


def _curated_tables(curate: CurateConfig, repo: Path, params_file: Path) -> dict[str, pd.DataFrame]:
    curated, rejected = curated_table(curate, repo), rejected_table(curate, repo)
    return {"curated": curated, "rejected": rejected, "conservation": conservation_table(curate, repo, curated, rejected)}


def _synthetic_tables(curate: CurateConfig, repo: Path, params_file: Path) -> dict[str, pd.DataFrame]:
    from lingshu.checks.synthetic import synthetic_conservation_table, synthetic_rejected_table, synthetic_table
    from lingshu.config import load_section

    synth = load_section("synthesize", params_file)
    table, rejected = synthetic_table(curate, synth, repo), synthetic_rejected_table(synth, repo)
    return {"synthetic": table, "synthetic_rejected": rejected,
            "synthetic_conservation": synthetic_conservation_table(synth, repo, table, rejected)}


BUILDERS: dict[str, Callable[[CurateConfig, Path, Path], dict[str, pd.DataFrame]]] = {
    "curated": _curated_tables, "synthetic": _synthetic_tables}


def run_checks(curate: CurateConfig, validate: ValidateConfig, repo: Path, scope: str = "curated",
               params_file: str | Path = "params.yaml") -> list[SuiteOutcome]:
    if scope not in SCOPES:
        raise ValueError(f"unknown check scope {scope!r}; known: {sorted(SCOPES)}")
    suite_files = sorted((repo / validate.suites_dir).glob("*.json"))
    if not suite_files:
        raise FileNotFoundError(f"no expectation suites (*.json) in {repo / validate.suites_dir}")
    params = check_params(curate, validate)
    known = {t for tables in SCOPES.values() for t in tables}
    specs = []
    for path in suite_files:
        spec = load_suite_file(path, params)
        if spec["table"] not in known:
            raise ValueError(f"{path}: unknown table {spec['table']!r}; known: {sorted(known)}")
        if spec["table"] in SCOPES[scope]:
            specs.append(spec)
    if not specs:
        raise FileNotFoundError(f"no expectation suite in {repo / validate.suites_dir} checks the {scope} tables")
    tables = BUILDERS[scope](curate, repo, Path(params_file))
    results_dir = repo / scope_outputs(validate, scope)[0]
    outcomes = []
    for spec in specs:
        outcome = run_suite(spec, tables[spec["table"]], validate.max_examples)
        write_result(outcome, results_dir)
        outcomes.append(outcome)
    return outcomes


def scope_outputs(validate: ValidateConfig, scope: str) -> tuple[str, str]:
    """(results folder, metrics file) of one scope's validate stage."""
    if scope == "synthetic":
        return validate.synthetic_results_dir, validate.synthetic_metrics_file
    return validate.results_dir, validate.metrics_file


def run_validate_stage(scope: str, curate: CurateConfig, validate: ValidateConfig, tracking, repo: Path,
                       params_file: str | Path) -> tuple[list[SuiteOutcome], dict]:
    """The `validate` (scope curated) or `validate_synthetic` stage: run the scope's suites, write and log the
    results; returns the outcomes and the metrics (the caller fails the run when `suites_failed`)."""
    from lingshu.io import atomic_write_json
    from lingshu.tracking import log_artifact, log_stage_metrics, stage_run

    results_dir, metrics_file = scope_outputs(validate, scope)
    with stage_run("validate_synthetic" if scope == "synthetic" else "validate", validate, tracking):
        outcomes = run_checks(curate, validate, repo, scope, params_file)
        metrics = checks_metrics(outcomes)
        atomic_write_json(repo / metrics_file, metrics)
        log_stage_metrics(metrics)
        log_artifact(repo / results_dir, "validation")
    return outcomes, metrics


def checks_metrics(outcomes: list) -> dict:
    """The validate stages' metrics: suites and expectations run and failed, in total and per suite."""
    return {
        "suites": len(outcomes),
        "suites_failed": sum(not o.success for o in outcomes),
        "expectations": sum(o.evaluated for o in outcomes),
        "expectations_failed": sum(len(o.failed) for o in outcomes),
        "per_suite": {o.suite: {"success": o.success, "evaluated": o.evaluated, "failed": len(o.failed)} for o in outcomes},
    }
