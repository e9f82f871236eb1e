"""Run benchmarks against a backend, one predictions.jsonl per benchmark, resumable, then score.

Each answered item is appended to `<out>/<benchmark>/predictions.jsonl` as soon as its batch is done
(flushed and fsynced), with the prompt's hash; a rerun skips ids already there whose prompt is
unchanged, so a killed run loses at most one batch and never duplicates a line. Scoring reads only the
predictions file, so `rescore` needs no model. Per benchmark: accuracy (for report generation: ROUGE-L,
plus BLEU-1..4, METEOR and CIDEr on full reports and on findings) with a bootstrap CI, breakdowns by
the YAML's fields, parse-fail rate; a suite file adds each group's macro and question-weighted averages.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import defaultdict
from pathlib import Path
from typing import Callable

from lingshu.eval import medevalkit_protocol, prompts
from lingshu.eval.backends import Request
from lingshu.eval.benchmark import Benchmark, EvalItem
from lingshu.eval.metrics import mean_with_ci
from lingshu.eval.judge import VERDICTS
from lingshu.eval.score import score_record
from lingshu.io import atomic_write_bytes, atomic_write_json

METRICS = "metrics.json"


def build_prompt(bench: Benchmark, item: EvalItem, protocol: str) -> tuple[str, str]:
    """(kind, prompt text) for an item; a VQA benchmark's item with options is asked as multiple choice.
    Under `medevalkit`, MedEvalKit's prompt for the benchmark (its YAML's `medevalkit:` section)."""
    multiple_choice = bench.task == "mcq" or bool(item.options)
    if protocol == "medevalkit" and bench.task != "report":
        return medevalkit_protocol.prompt(medevalkit_protocol.settings_of(bench), item, multiple_choice)
    if multiple_choice:
        return "mcq", prompts.multiple_choice(item.question, item.options, item.context)
    if bench.task == "report":
        return "report", prompts.REPORT
    kind = prompts.vqa_kind(item.question, item.answer_type)
    return kind, prompts.vqa(item.question, kind)


def prompt_hash(text: str, images: list[Path]) -> str:
    digest = hashlib.sha256(text.encode())
    for image in images:
        digest.update(str(Path(image).name).encode())
    return digest.hexdigest()[:16]


def read_predictions(path: Path) -> dict[str, dict]:
    """Records by id; a torn last line (a kill mid-write) is ignored and will be redone."""
    return parse_predictions(path.read_text() if path.exists() else "")


def parse_predictions(text: str) -> dict[str, dict]:
    records: dict[str, dict] = {}
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        records[record["id"]] = record
    return records


def _append(path: Path, records: list[dict]) -> None:
    with open(path, "a", encoding="utf-8") as out:
        for record in records:
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
        out.flush()
        os.fsync(out.fileno())


def predictions_file(out_dir: Path, benchmark: str, control: str | None = None) -> Path:
    """Where a benchmark's answers go: `<out>/<benchmark>/predictions.jsonl`, a control's one folder below."""
    folder = out_dir / benchmark
    return (folder / control if control else folder) / "predictions.jsonl"


def generate(bench: Benchmark, items: list[EvalItem], backend, path: Path, protocol: str, batch_size: int,
             progress: Callable[[int], None] = lambda n: None) -> Path:
    """Answer every item not yet in the predictions file `path`; returns it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    settings = medevalkit_protocol.settings_of(bench)
    text = path.read_text() if path.exists() else ""
    done = parse_predictions(text)
    if text and not text.endswith("\n"):  # drop a torn last line
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in done.values()))
    pending = []
    for item in items:
        kind, text = build_prompt(bench, item, protocol)
        key = prompt_hash(text, item.images)
        if item.id in done and done[item.id]["prompt_hash"] == key:
            continue
        pending.append((item, kind, text, key))
    progress(len(items) - len(pending))
    pending.sort(key=lambda p: backend.prompt_length(Request(prompts.with_images(p[2], len(p[0].images)), p[0].images)))
    for start in range(0, len(pending), batch_size):
        batch = pending[start:start + batch_size]
        requests = [Request(prompts.with_images(text, len(item.images)), item.images) for item, _, text, _ in batch]
        responses = backend.generate(requests)
        records = []
        for (item, kind, text, key), response in zip(batch, responses):
            record = {"id": item.id, "prompt_hash": key, "kind": kind, "prompt": text, "response": response,
                      "answer": item.answer, "options": item.options, "answer_type": item.answer_type,
                      "fields": item.fields} | ({"verbatim": item.verbatim} if item.verbatim else {})
            records.append(record | score_record(record, protocol, settings))
        _append(path, records)
        progress(len(batch))
    return path


def score_file(path: Path, protocol: str, ids: set[str] | None = None, judge=None,
               bench: Benchmark | None = None, store: str = "") -> tuple[list[dict], dict | None]:
    """The predictions in `path` (only `ids`, if given) rescored under `protocol` (`medevalkit`: as MedEvalKit
    judges `bench`), optionally judged (lingshu.eval.judge); returns the scored records and the judge's report
    (None without a judge). `store` writes back into `path`: "verdicts" the judge's new verdicts only (a
    rescoring, which leaves the run's scores as they are), "scores" the records as scored now (the run's own
    scoring: judged scores, or rule scores again where an earlier run had judged). Nothing is written when
    nothing would change, so predictions nobody judged are left byte for byte."""
    from lingshu.eval.judge import apply_judge

    records = [r for r in read_predictions(path).values() if ids is None or r["id"] in ids]
    settings = medevalkit_protocol.settings_of(bench) if bench is not None else None
    scored = [{k: v for k, v in r.items() if k != "judged"} | score_record(r, protocol, settings) for r in records]
    report = None if judge is None else apply_judge(judge, scored, protocol)
    if store == "scores" and (judge is not None or any(r.get("judged") for r in records)):
        _write_back(path, {r["id"]: r for r in scored})
    elif store == "verdicts" and judge is not None:
        _write_back(path, {r["id"]: {VERDICTS: r[VERDICTS]} for r in scored if VERDICTS in r}, merge=True)
    return scored, report


def _write_back(path: Path, updates: dict[str, dict], merge: bool = False) -> None:
    """Replace (or, with `merge`, update) the records of `path` named in `updates`, in file order, if any changes."""
    records = read_predictions(path)
    new = {i: (r | updates[i] if merge else updates[i]) if i in updates else r for i, r in records.items()}
    if new != records:
        atomic_write_bytes(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in new.values()).encode())


def benchmark_metrics(bench: Benchmark, scored: list[dict], protocol: str, judge_report: dict | None = None) -> dict:
    """Score with CI, parse-fail rate, token F1/recall, report metrics and breakdowns of scored records."""
    correct = [float(r["correct"]) for r in scored]  # 0/1 for questions, per-sample ROUGE-L for reports
    metrics = {"benchmark": bench.name, "version": bench.version, "group": bench.group, "protocol": protocol,
               "headline": "rouge_l" if bench.task == "report" else "accuracy", **mean_with_ci(correct),
               "parse_fail_rate": 100 * sum(not r["parsed"] for r in scored) / len(scored) if scored else 0.0}
    for key in ("f1", "recall"):
        values = [r[key] for r in scored if key in r]
        if values:
            metrics[f"token_{key}"] = 100 * sum(values) / len(values)
    if judge_report is not None:
        metrics["judge"] = judge_report
    if bench.task == "report" and scored:
        from lingshu.eval.report_metrics import findings_scores, report_scores

        responses, references = [r["extracted"] if r["parsed"] else "" for r in scored], [r["answer"] for r in scored]
        metrics["report"] = report_scores(responses, references)
        metrics["findings"] = findings_scores(responses, references)
    breakdowns: dict[str, dict] = {}
    for field_name in bench.breakdown:
        buckets: dict[str, list[float]] = defaultdict(list)
        for r in scored:
            buckets[str(r["fields"].get(field_name))].append(float(r["correct"]))
        breakdowns[field_name] = {k: {"score": 100 * sum(v) / len(v), "n": len(v)} for k, v in sorted(buckets.items())}
    metrics["breakdown"] = breakdowns
    return metrics


def summarise(bench: Benchmark, path: Path, protocol: str, ids: set[str] | None = None, judge=None,
              store: str = "") -> dict:
    """Benchmark metrics from its predictions file (rescored under `protocol`, open answers optionally
    judged; `store` as in `score_file`), also written as metrics.json beside it."""
    scored, judge_report = score_file(path, protocol, ids, judge, bench, store)
    metrics = benchmark_metrics(bench, scored, protocol, judge_report)
    atomic_write_json(path.parent / METRICS, metrics)
    return metrics


SUMMARY_KEYS = ("score", "ci_low", "ci_high", "n", "parse_fail_rate")


def rescored_name(protocol: str, judged: bool) -> str:
    """The metrics file a rescoring writes beside each metrics.json, named after what it rescored with."""
    return f"metrics_rescored_{protocol}{'_judged' if judged else ''}.json"


def group_averages(results: list[dict]) -> dict[str, dict]:
    """Per group: the `macro` average (each benchmark counts once) and the `weighted` one (each question counts
    once: benchmarks weighted by their number of questions), with the questions and benchmarks behind them."""
    members: dict[str, list[dict]] = defaultdict(list)
    for r in results:
        members[r["group"]].append(r)
    out = {}
    for group, rs in sorted(members.items()):
        n = sum(r["n"] for r in rs)
        macro = sum(r["score"] for r in rs) / len(rs)
        out[group] = {"macro": macro, "weighted": sum(r["score"] * r["n"] for r in rs) / n if n else macro, "n": n,
                      "benchmarks": [r["benchmark"] for r in rs]}
    return out


def suite_summary(results: list[dict], out_dir: Path, name: str = METRICS) -> dict:
    """Per-benchmark scores (with their image controls, clean subset and judge report, where run) plus each
    group's averages: `group_averages` names both the macro and the question-weighted one; `groups` repeats the
    macro one, the figure earlier suite files (and the report) read."""
    benchmarks = {r["benchmark"]: {k: r[k] for k in SUMMARY_KEYS} | {k: r[k] for k in ("controls", "clean", "judge")
                                                                     if r.get(k)} for r in results}
    averages = group_averages(results)
    suite = {"benchmarks": benchmarks, "groups": {g: a["macro"] for g, a in averages.items()}, "group_averages": averages}
    atomic_write_json(out_dir / name, suite)
    return suite
