"""Evaluation throughput: batched, length-bucketed `hf` generation vs one prompt at a time.

One-at-a-time is how MedEvalKit's HF backend generates. Both modes answer the same prompts (VQA-RAD
test questions with their images, then MedQA questions) with the same model, greedily, on one core.
The script checks that the two produce identical answers and prints prompts/s for each and the ratio.

    .venv/bin/python benchmarks/bench_eval_batching.py                    # needs models/instruct (dvc repro)
    .venv/bin/python benchmarks/bench_eval_batching.py --n 64 --batch-size 16 --model models/base
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import median, section, single_core, spread  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="models/instruct", help="checkpoint folder")
    parser.add_argument("--n", type=int, default=48, help="prompts per benchmark (VQA-RAD and MedQA)")
    parser.add_argument("--batch-size", type=int, default=16, help="batch size of the batched mode")
    parser.add_argument("--max-new-tokens", type=int, default=16, help="generation budget per answer")
    parser.add_argument("--repeat", type=int, default=2, help="interleaved rounds")
    parser.add_argument("--all-cores", action="store_true", help="use every core (default: pinned to one)")
    args = parser.parse_args()
    if not args.all_cores:
        single_core()

    import lingshu.eval.loaders  # noqa: F401
    from lingshu.eval.backends.hf import HFBackend
    from lingshu.eval.benchmark import discover
    from lingshu.eval.runner import build_prompt
    from lingshu.eval import prompts
    from lingshu.eval.backends import Request

    backend = HFBackend(str(REPO / args.model), max_new_tokens=args.max_new_tokens)
    requests = []
    for name in ("vqa_rad", "medqa"):
        bench = discover()[name]
        for item in bench.items(REPO)[: args.n]:
            _, text = build_prompt(bench, item, "strict")
            requests.append(Request(prompts.with_images(text, len(item.images)), item.images))

    def batched() -> list[str]:
        order = sorted(range(len(requests)), key=lambda i: backend.prompt_length(requests[i]))
        answers: dict[int, str] = {}
        for start in range(0, len(order), args.batch_size):
            chunk = order[start:start + args.batch_size]
            answers.update(zip(chunk, backend.generate([requests[i] for i in chunk])))
        return [answers[i] for i in range(len(requests))]

    def one_at_a_time() -> list[str]:
        return [backend.generate([r])[0] for r in requests]

    timings: dict[str, list[float]] = {"batched": [], "one_at_a_time": []}
    outputs = {}
    for _ in range(args.repeat):
        for name, fn in (("one_at_a_time", one_at_a_time), ("batched", batched)):
            start = time.perf_counter()
            outputs[name] = fn()
            timings[name].append(len(requests) / (time.perf_counter() - start))
    same = sum(a == b for a, b in zip(outputs["batched"], outputs["one_at_a_time"]))
    section(f"{len(requests)} prompts ({args.n} VQA-RAD with images + {args.n} MedQA), {args.model}, 1 core")
    for name, speeds in timings.items():
        print(f"{name:14s} {median(speeds):7.2f} prompts/s (range {spread(speeds)})")
    ratios = [b / a for b, a in zip(timings["batched"], timings["one_at_a_time"])]
    print(f"batched / one-at-a-time: x{median(ratios):.2f} (range {spread(ratios)})")
    print(f"identical greedy answers: {same}/{len(requests)}")


if __name__ == "__main__":
    main()
