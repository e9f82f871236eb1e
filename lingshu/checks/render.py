"""Write a suite's validation result as JSON (GX's own format) and as a small standalone HTML page."""

from __future__ import annotations

import html
import json
from pathlib import Path

from lingshu.checks.suites import SuiteOutcome
from lingshu.io import atomic_write_bytes, atomic_write_json


def write_result(outcome: SuiteOutcome, results_dir: Path) -> tuple[Path, Path]:
    json_path = results_dir / f"{outcome.suite}.json"
    html_path = results_dir / f"{outcome.suite}.html"
    atomic_write_json(json_path, outcome.result)
    rows = []
    for item in outcome.result.get("results", []):
        config = item["expectation_config"]
        kwargs = {k: v for k, v in config["kwargs"].items() if k != "batch_id"}
        details = item.get("result", {}) or {}
        examples = (details.get("unexpected_index_list") or details.get("partial_unexpected_list") or [])[:5]
        status = "pass" if item["success"] else "FAIL"
        rows.append(
            f"<tr class='{status.lower()}'><td>{status}</td><td>{html.escape(config['type'])}</td>"
            f"<td><code>{html.escape(json.dumps(kwargs, default=str))}</code></td>"
            f"<td>{html.escape(str(details.get('unexpected_count', details.get('observed_value', ''))))}</td>"
            f"<td><code>{html.escape(json.dumps(examples, default=str))}</code></td></tr>"
        )
    verdict = "passed" if outcome.success else "FAILED"
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(outcome.suite)}: {verdict}</title>
<style>body{{font-family:sans-serif;margin:2em}}td,th{{border:1px solid #ccc;padding:4px;vertical-align:top}}
table{{border-collapse:collapse}}tr.fail{{background:#fdd}}tr.pass{{background:#efe}}code{{font-size:85%}}</style></head>
<body><h1>Suite {html.escape(outcome.suite)} on table {html.escape(outcome.table)}: {verdict}</h1>
<p>{outcome.evaluated} expectations evaluated, {len(outcome.failed)} failed.</p>
<table><tr><th>status</th><th>expectation</th><th>arguments</th><th>unexpected / observed</th><th>examples</th></tr>
{''.join(rows)}</table></body></html>
"""
    atomic_write_bytes(html_path, page.encode())
    return json_path, html_path
