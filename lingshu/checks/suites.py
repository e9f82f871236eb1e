"""Build Great Expectations suites from data_checks/*.json and run them on the derived tables.

A suite file is GX's own expectation format (`type` + `kwargs`) plus `table`, the table it validates.
Values written as "${section.key}" are filled from params.yaml, so bounds such as caption lengths have one
source of truth. Every expectation result is kept; a failure is summarised with example rows.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from lingshu.config import CurateConfig, ValidateConfig, flatten

_PARAM = re.compile(r"^\$\{([a-z_.]+)\}$")


@dataclass
class SuiteOutcome:
    suite: str
    table: str
    success: bool
    evaluated: int
    failed: list[dict[str, Any]] = field(default_factory=list)
    result: dict[str, Any] = field(default_factory=dict)


def load_suite_file(path: Path, params: dict[str, Any]) -> dict[str, Any]:
    spec = json.loads(path.read_text())
    for key in ("name", "table", "expectations"):
        if key not in spec:
            raise ValueError(f"{path}: suite file lacks {key!r}")

    def fill(value: Any) -> Any:
        if isinstance(value, str) and (m := _PARAM.match(value)):
            if m.group(1) not in params:
                raise ValueError(f"{path}: unknown parameter {m.group(1)!r}")
            return params[m.group(1)]
        if isinstance(value, list):
            return [fill(v) for v in value]
        if isinstance(value, dict):
            return {k: fill(v) for k, v in value.items()}
        return value

    spec["expectations"] = [fill(e) for e in spec["expectations"]]
    return spec


def run_suite(spec: dict[str, Any], df: pd.DataFrame, max_examples: int) -> SuiteOutcome:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    import great_expectations as gx
    from great_expectations.core.expectation_suite import ExpectationSuite
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    suite = ExpectationSuite(name=spec["name"])
    for expectation in spec["expectations"]:
        suite.add_expectation_configuration(
            ExpectationConfiguration(type=expectation["type"], kwargs=expectation["kwargs"], meta=expectation.get("meta", {}))
        )
    suite = context.suites.add(suite)
    batch = (
        context.data_sources.add_pandas(spec["table"])
        .add_dataframe_asset(spec["table"])
        .add_batch_definition_whole_dataframe("all")
        .get_batch(batch_parameters={"dataframe": df})
    )
    id_column = ["id"] if "id" in df.columns else ["source"] if "source" in df.columns else []
    result = batch.validate(suite, result_format={"result_format": "COMPLETE", "unexpected_index_column_names": id_column})
    as_dict = result.to_json_dict()
    failed = []
    for item in as_dict["results"]:
        if item["success"]:
            continue
        details = item.get("result", {}) or {}
        examples = details.get("unexpected_index_list") or details.get("partial_unexpected_list") or []
        failed.append({
            "expectation": item["expectation_config"]["type"],
            "kwargs": {k: v for k, v in item["expectation_config"]["kwargs"].items() if k != "batch_id"},
            "unexpected_count": details.get("unexpected_count"),
            "observed_value": details.get("observed_value"),
            "examples": examples[:max_examples],
            "exception": (item.get("exception_info") or {}).get("exception_message"),
        })
    stats = as_dict["statistics"]
    return SuiteOutcome(spec["name"], spec["table"], bool(as_dict["success"]), int(stats["evaluated_expectations"]),
                        failed, as_dict)


def check_params(curate: CurateConfig, validate: ValidateConfig) -> dict[str, Any]:
    """The dotted params a suite file may reference as ${...}."""
    return {f"curate.{k}": v for k, v in flatten(curate).items()} | {f"validate.{k}": v for k, v in flatten(validate).items()}


def describe_failures(outcomes: list[SuiteOutcome]) -> str:
    lines = []
    for outcome in outcomes:
        for failure in outcome.failed:
            lines.append(
                f"suite {outcome.suite!r} (table {outcome.table}): {failure['expectation']} {failure['kwargs']} failed"
                f" — unexpected {failure['unexpected_count']}, e.g. {failure['examples'] or failure['observed_value']}"
                + (f" [{failure['exception']}]" if failure["exception"] else "")
            )
    return "\n".join(lines)
