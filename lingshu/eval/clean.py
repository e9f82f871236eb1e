"""A benchmark's clean subset: its score without the test items a contamination audit found in the training data.

A model that saw a test image or question in training can answer it from memory, so its score on the
whole benchmark mixes recall with skill. `lingshu eval --exclude AUDIT` (an audit file of `lingshu audit`)
scores, beside the full set, the questions asked that the audit does not list, and the clean − full
difference with a bootstrap interval from resampling the questions jointly (lingshu.stats.paired
.subset_bootstrap). The audit must have read the same data as the evaluation (path and YAML version),
else its ids could name other questions.
"""

from __future__ import annotations

from pathlib import Path

from lingshu.eval.metrics import mean_with_ci
from lingshu.stats.paired import subset_bootstrap


class AuditMismatch(ValueError):
    """The audit file was made on other data than the evaluation reads."""


def clean_metrics(bench, scored: list[dict], exclusions: dict[str, dict], audit_file: str, root: Path) -> dict:
    """{audited, excluded, n, score, ci_low, ci_high, clean_minus_full} of the scored records of `bench`."""
    entry = exclusions.get(bench.name)
    if entry is None:
        return {"audit": audit_file, "audited": False}
    data, version = str(bench.data(root).resolve()), bench.version
    if (entry["data"], entry["version"]) != (data, version):
        raise AuditMismatch(f"{audit_file}: benchmarks.{bench.name} was audited on {entry['data']} (version "
                         f"{entry['version']}), this evaluation reads {data} (version {version}); audit that data")
    scores = {r["id"]: float(r["correct"]) for r in scored}
    clean = [i for i in scores if i not in entry["ids"]]
    out = {"audit": audit_file, "audited": True, "excluded": len(scores) - len(clean),
           **mean_with_ci([scores[i] for i in clean])}
    if clean:
        delta = subset_bootstrap(scores, clean)
        out["clean_minus_full"] = {"delta": delta.delta, "ci_low": delta.ci_low, "ci_high": delta.ci_high,
                                   "significant": delta.significant}
    return out
