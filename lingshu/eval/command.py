"""`lingshu eval`: score any Hugging Face model on benchmarks by name, resumable, with a results table.

    lingshu eval --model models/instruct --benchmarks vqa_rad,pubmedqa --out eval/instruct
    lingshu eval --model Qwen/Qwen2.5-VL-7B-Instruct --benchmarks text_qa --limit 100 --protocol medevalkit
    lingshu eval --model models/instruct --benchmarks image_grounding --controls blank-image --out /tmp/look
    lingshu eval --rescore --out eval/instruct --benchmarks vqa_rad --protocol medevalkit   # no model needed
    lingshu eval --model models/instruct --benchmarks all --out eval/all   # every benchmark whose data is here
    lingshu eval --rescore --out eval/instruct --benchmarks vqa_rad --exclude audit.json   # clean subset (lingshu audit)
    lingshu eval --rescore --out eval/instruct --compare-to lingshu-7b   # beside the paper's Lingshu-7B scores

Benchmarks are YAML files (lingshu/eval/benchmarks/, plus --benchmark-dir); a group name (e.g.
text_qa) selects all its benchmarks, `all` every one (those without data are skipped and listed).
Predictions go to OUT/<benchmark>/predictions.jsonl as they are made; rerunning the same command
continues where a killed run stopped. OUT is reused only by the model and settings that made it (else
the run stops; --fresh discards them) and is locked while a run writes it. --rescore writes
metrics_rescored_<protocol>.json beside each metrics.json, never over it.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(commands) -> None:
    parser = commands.add_parser("eval", help="evaluate a model on benchmarks (resumable, batched)",
                                 description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="checkpoint folder or hub id (from the local HF cache when offline)")
    parser.add_argument("--benchmarks", default="vqa_rad,pubmedqa,medqa,mmlu_medical,medmcqa",
                        help="comma-separated benchmark or group names (default: the embedded benchmarks)")
    parser.add_argument("--out", type=Path, required=True, help="output folder for predictions and metrics")
    parser.add_argument("--backend", default="hf", choices=["hf", "openai", "vllm"],
                        help="hf (transformers, batched; default), openai (any OpenAI-compatible server; key from "
                             "$OPENAI_API_KEY) or vllm (offline engine, CUDA only)")
    parser.add_argument("--base-url", help="server URL for --backend openai (default: $OPENAI_BASE_URL)")
    parser.add_argument("--protocol", default="strict", choices=["strict", "medevalkit"],
                        help="scoring rules: strict (default) or MedEvalKit's, for comparable numbers")
    parser.add_argument("--limit", type=int, default=0,
                        help="N items per benchmark, a fixed sample chosen by a hash of their ids (0: all)")
    parser.add_argument("--batch-size", type=int, default=8, help="prompts per generation batch (default: 8)")
    parser.add_argument("--max-new-tokens", type=int, default=64, help="generation budget per answer (default: 64)")
    parser.add_argument("--dtype", default="auto", help="model dtype: auto, float32, bfloat16, float16")
    parser.add_argument("--tensor-parallel-size", type=int, default=1,
                        help="vllm backend: GPUs to split the model across (default: 1)")
    parser.add_argument("--gpu-memory-utilization", type=float, default=0.9,
                        help="vllm backend: fraction of each GPU's memory the engine may take (default: 0.9)")
    parser.add_argument("--max-model-len", type=int, default=0,
                        help="vllm backend: longest prompt + answer to reserve cache for (default: the model's own)")
    parser.add_argument("--benchmark-dir", type=Path, action="append", default=[], help="extra folder of benchmark YAMLs")
    parser.add_argument("--root", type=Path, default=Path("."), help="folder benchmark paths are relative to")
    parser.add_argument("--data", action="append", default=[], metavar="NAME=PATH",
                        help="read benchmark NAME from PATH (relative to --root) instead of its YAML's `path:`, in any "
                             "layout its loader reads (repeatable)")
    parser.add_argument("--judge-model", help="judge open answers with this model on an OpenAI-compatible server")
    parser.add_argument("--judge-base-url", help="judge server URL (default: $OPENAI_BASE_URL)")
    parser.add_argument("--judge-api-key-env", default="OPENAI_API_KEY",
                        help="environment variable holding the judge's API key (default: OPENAI_API_KEY)")
    parser.add_argument("--judge-prompt-version", type=int, default=1,
                        help="version of the judge's prompts (lingshu/eval/judge.py PROMPTS; default: 1)")
    parser.add_argument("--controls", default="",
                        help="image controls, comma-separated: blank-image (each image replaced by a black one of its "
                             "size) and/or text-only (no image); benchmarks with images are answered again under "
                             "each and real - control is reported with a paired CI (default: none)")
    parser.add_argument("--rescore", action="store_true",
                        help="score existing predictions only (no model); writes metrics_rescored_<protocol>.json "
                             "beside each metrics.json, which is left as it is")
    parser.add_argument("--fresh", action="store_true",
                        help="discard predictions in --out that another model or other settings made, instead of "
                             "stopping (predictions of this model and settings are always resumed)")
    parser.add_argument("--exclude", type=Path, metavar="AUDIT",
                        help="an audit file of `lingshu audit`: each audited benchmark is also scored without the test "
                             "items it lists (the clean subset), with clean - full and its paired bootstrap CI")
    parser.add_argument("--compare-to", metavar="NAME",
                        help="print each score beside a model's published one (lingshu/eval/published/: lingshu-7b, "
                             "lingshu-32b; or a YAML file in that form), marking those outside this run's 95%% CI")
    parser.add_argument("--available", action="store_true",
                        help="evaluate the selected benchmarks whose data is present, list the others as skipped "
                             "(implied by --benchmarks all)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:

    from rich.console import Console
    from tqdm import tqdm

    import lingshu.eval.loaders  # noqa: F401  (registers the loaders)
    from lingshu.eval.backends import make_backend
    from lingshu.eval.benchmark import ALL, select
    from lingshu.eval.clean import AuditMismatch
    from lingshu.eval.config import EvalConfig
    from lingshu.eval.controls import parse_controls
    from lingshu.eval.outdir import FolderBusy, FolderTaken, answer_settings, claim, locked, run_key
    from lingshu.data.audit import exclusions
    from lingshu.eval.printed import clean_table, judge_table, print_comparison
    from lingshu.eval.published import published
    from lingshu.eval.runner import METRICS, rescored_name
    from lingshu.eval.suite import SuiteRun, evaluate_suite

    names = [n.strip() for n in args.benchmarks.split(",") if n.strip()]
    benches = with_data_paths(select(names, args.benchmark_dir), args.data)
    skipped = {}
    if args.available or ALL in names:
        benches, skipped = split_available(benches, args.root, args.out if args.rescore else None)
    if not args.rescore and not args.model:
        raise SystemExit("lingshu eval: --model is required unless --rescore")
    reference = _read_option(args.compare_to, published, "--compare-to: ")
    exclude = _read_option(args.exclude, exclusions)
    try:
        controls = parse_controls(args.controls)
    except ValueError as exc:
        raise SystemExit(f"lingshu eval: --controls: {exc}") from None
    config = EvalConfig(backend=args.backend, protocol=args.protocol, dtype=args.dtype, max_new_tokens=args.max_new_tokens,
                        tensor_parallel_size=args.tensor_parallel_size, gpu_memory_utilization=args.gpu_memory_utilization,
                        max_model_len=args.max_model_len)
    options = config.backend_options()
    if args.backend == "openai" and args.base_url:
        options["base_url"] = args.base_url
    bars: list = []

    def progress(label: str, total: int):
        bars.append(tqdm(total=total, desc=label, unit="q"))
        return bars[-1].update

    try:
        with locked(args.out):
            backend = None
            if not args.rescore:
                settings = answer_settings(config) | (
                    {"base_url": options["base_url"]} if "base_url" in options else {})
                claim(args.out, run_key(args.model, settings), {"model": args.model, **settings}, args.fresh)
                backend = make_backend(args.backend, args.model, **options)
            judge = _judge(args)
            metrics_name = rescored_name(args.protocol, judge is not None) if args.rescore else METRICS
            run_settings = SuiteRun(root=args.root, protocol=args.protocol, batch_size=args.batch_size, limit=args.limit,
                                    controls=controls, judge=judge, progress=progress, metrics_name=metrics_name,
                                    exclude=exclude, exclude_file=str(args.exclude or ""))
            results, suite = evaluate_suite(benches, backend, args.out, run_settings)
    except (FolderBusy, FolderTaken, AuditMismatch) as exc:
        raise SystemExit(f"lingshu eval: {exc}") from None
    for bar in bars:
        bar.close()
    Console().print(results_table(f"{args.model or args.out} ({args.protocol})", results, suite))
    if exclude is not None:
        Console().print(clean_table(f"clean subsets: without the test items {args.exclude} lists", results))
    if reference is not None:
        print_comparison(reference, results, args.protocol)
    if judge is not None:
        Console().print(judge_table(f"judged by {judge.name}: open, closed and overall", results))
        print(f"judge {judge.name}: {judge.asked} new verdicts asked, {judge.errors} judge errors "
              f"(samples with a judge error keep their exact-match score); verdicts are kept in the predictions")
    if args.rescore:
        print(f"rescored metrics: {args.out / metrics_name} and {args.out}/<benchmark>/{metrics_name} "
              f"(the {METRICS} files of the run are unchanged)")
    for name, why in skipped.items():
        print(f"skipped {name}: {why}")
    return 0


def _read_option(value, read, label: str = ""):
    """`read(value)` for an option that names a file or an entry (None when not given); a ValueError stops the
    command with its message."""
    if not value:
        return None
    try:
        return read(value)
    except ValueError as exc:
        raise SystemExit(f"lingshu eval: {label}{exc}") from None


def _judge(args: argparse.Namespace):
    from lingshu.eval.config import JudgeConfig
    from lingshu.eval.judge import make_judge

    return make_judge(JudgeConfig(model=args.judge_model or "", base_url=args.judge_base_url or "",
                                  api_key_env=args.judge_api_key_env, prompt_version=args.judge_prompt_version))


def split_available(benches: list, root: Path, predictions_in: Path | None = None) -> tuple[list, dict[str, str]]:
    """(the benchmarks whose data is under `root`, and, when rescoring, whose predictions are in `predictions_in`;
    the others by name with why they are skipped). None left is an error that lists them."""
    from lingshu.eval.runner import predictions_file

    kept, skipped = [], {}
    for bench in benches:
        if not bench.available(root):
            skipped[bench.name] = f"no data at {Path(root) / bench.path}"
        elif predictions_in is not None and not predictions_file(predictions_in, bench.name).is_file():
            skipped[bench.name] = f"no predictions at {predictions_file(predictions_in, bench.name)}"
        else:
            kept.append(bench)
    if not kept:
        raise SystemExit("lingshu eval: none of the selected benchmarks can run: "
                         + "; ".join(f"{name}: {why}" for name, why in skipped.items()))
    if skipped:
        print(f"skipping {len(skipped)} benchmark(s), listed at the end: {', '.join(skipped)}")
    return kept, skipped


def with_data_paths(benches: list, pairs: list[str], prog: str = "lingshu eval") -> list:
    """The benchmarks with the `--data NAME=PATH` overrides applied; a NAME not selected is an error."""
    from dataclasses import replace

    paths = {}
    for pair in pairs:
        name, sep, path = pair.partition("=")
        if not sep or not name.strip() or not path.strip():
            raise SystemExit(f"{prog}: --data {pair!r}: expected NAME=PATH")
        paths[name.strip()] = path.strip()
    unknown = sorted(set(paths) - {b.name for b in benches})
    if unknown:
        raise SystemExit(f"{prog}: --data names {', '.join(unknown)}, which --benchmarks does not select")
    return [replace(b, path=paths[b.name]) if b.name in paths else b for b in benches]


def results_table(title: str, results: list[dict], suite: dict):
    """The printed table: one row per benchmark (and per image control, with real − control), then each group's
    macro average and its average weighted by questions."""
    from rich.table import Table

    table = Table(title=title)
    for column in ("benchmark", "n", "score %", "95% CI", "parse fail %", "real − control (95% CI)"):
        table.add_column(column, justify="left" if column == "benchmark" else "right", no_wrap=column == "benchmark")
    for r in results:
        name = r["benchmark"] + (" (ROUGE-L)" if r["headline"] == "rouge_l" else "")
        table.add_row(name, str(r["n"]), f"{r['score']:.1f}", f"{r['ci_low']:.1f}-{r['ci_high']:.1f}",
                      f"{r['parse_fail_rate']:.1f}", "")
        for control, c in r.get("controls", {}).items():
            gap = c["real_minus_control"]
            table.add_row(f"  {control}", str(c["n"]), f"{c['score']:.1f}", f"{c['ci_low']:.1f}-{c['ci_high']:.1f}",
                          f"{c['parse_fail_rate']:.1f}",
                          f"{gap['delta']:+.1f} ({gap['ci_low']:+.1f}, {gap['ci_high']:+.1f})")
    for group, average in suite["group_averages"].items():
        table.add_row(f"[b]{group} (macro)[/b]", "", f"{average['macro']:.1f}", "", "", "")
        table.add_row(f"[b]{group} (weighted)[/b]", str(average["n"]), f"{average['weighted']:.1f}", "", "", "")
    return table
