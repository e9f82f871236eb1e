"""What the report reads: each checkpoint's benchmark summaries and its per-question scores.

The questions are the ones the evaluate stage asked (each benchmark's `eval.limit` sample, listed in its
metrics.json), so a predictions file holding answers to more questions (kept from an earlier, larger run)
never widens a comparison, and a checkpoint missing an answer is an error rather than a smaller sample.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

from lingshu.eval.config import EvalConfig
from lingshu.eval.runner import parse_predictions
from lingshu.stats.paired import item_scores


Reader = Callable[[str], str]  # repo-relative path -> text (the workspace's, or an experiment commit's)


def evaluated_ids(cfg: EvalConfig, checkpoint: str, read: Reader) -> dict[str, list[str]]:
    """Benchmark -> the ids of the questions evaluate@<checkpoint> asked, in order, as its per-benchmark
    metrics record them (read from the outputs, so the report needs neither the benchmark data nor `limit`)."""
    out = {}
    for benchmark in suite_scores(cfg, checkpoint, read):
        path = f"{cfg.out_dir}/{checkpoint}/{benchmark}/metrics.json"
        try:
            out[benchmark] = json.loads(read(path))["ids"]
        except (FileNotFoundError, KeyError):
            raise ValueError(f"{path} does not list the questions asked: run `dvc repro evaluate@{checkpoint}`") from None
    return out


def benchmark_groups(cfg: EvalConfig) -> dict[str, str]:
    from lingshu.eval.benchmark import select

    return {bench.name: bench.group for bench in select(list(cfg.benchmarks))}


def workspace(repo: Path) -> Reader:
    return lambda path: (repo / path).read_text()


def suite_scores(cfg: EvalConfig, checkpoint: str, read: Reader) -> dict[str, dict]:
    """Benchmark -> {score, ci_low, ci_high, n, parse_fail_rate} from metrics/eval/<checkpoint>.json."""
    path = f"{cfg.metrics_dir}/{checkpoint}.json"
    try:
        return json.loads(read(path))["benchmarks"]
    except FileNotFoundError:
        raise FileNotFoundError(f"{path} is missing: run `dvc repro evaluate@{checkpoint}` first") from None


def question_scores(cfg: EvalConfig, checkpoint: str, ids: dict[str, list[str]], read: Reader) -> dict[str, dict[str, float]]:
    """Benchmark -> question id -> score of one checkpoint, on exactly the evaluated questions."""
    out = {}
    for benchmark, wanted in ids.items():
        path = f"{cfg.out_dir}/{checkpoint}/{benchmark}/predictions.jsonl"
        try:
            out[benchmark] = item_scores(parse_predictions(read(path)), wanted)
        except (ValueError, FileNotFoundError) as exc:
            raise ValueError(f"{path}: {exc}") from None
    return out


GAP_GROUP = "image_gap"  # the group of the columns holding, per question, the real-image score minus the control's


def controlled_benchmarks(cfg: EvalConfig, checkpoint: str, read: Reader, control: str = "blank_image") -> list[str]:
    """The benchmarks whose evaluation at `checkpoint` ran `control` (those with images)."""
    return [name for name, result in suite_scores(cfg, checkpoint, read).items() if control in result.get("controls", {})]


def image_gap_scores(cfg: EvalConfig, checkpoint: str, ids: dict[str, list[str]], benchmarks: list[str], read: Reader,
                     control: str = "blank_image") -> dict[str, dict[str, float]]:
    """`<benchmark>/real-blank` (gap_column) -> question id -> real score − control score, on the questions the
    control asked."""
    from lingshu.eval.controls import gap_column

    out = {}
    for benchmark in benchmarks:
        real = question_scores(cfg, checkpoint, {benchmark: ids[benchmark]}, read)[benchmark]
        path = f"{cfg.out_dir}/{checkpoint}/{benchmark}/{control}/predictions.jsonl"
        try:
            controlled = parse_predictions(read(path))
        except FileNotFoundError:
            raise ValueError(f"{path} is missing: run `dvc repro evaluate@{checkpoint}` with eval.controls "
                             f"including {control}") from None
        asked = [i for i in ids[benchmark] if i in controlled]
        blank = item_scores(controlled, asked)
        out[gap_column(benchmark, control)] = {i: real[i] - blank[i] for i in asked}
    return out


def scores_with_gaps(cfg: EvalConfig, checkpoint: str, ids: dict[str, list[str]], gaps: list[str],
                     read: Reader) -> dict[str, dict[str, float]]:
    """Column -> question id -> score: every benchmark's scores and, for the `gaps` benchmarks, real − blank."""
    return question_scores(cfg, checkpoint, ids, read) | image_gap_scores(cfg, checkpoint, ids, gaps, read)
