"""The README's result numbers, generated from the committed metrics files so that they cannot go stale.

Every results section of README.md sits between `<!-- results: NAME -->` and `<!-- /results -->` and is
made by one function here from files under metrics/ (each section names its sources). `lingshu readme`
rewrites the sections; `lingshu readme --check` exits 1 naming each section that differs, and
tests/test_readme.py runs that check, so a metrics file committed without regenerating the README fails CI,
and so does a number edited by hand. A section whose source is missing (say, the noise floor before
`lingshu ablate --noise-floor` has run) says so instead of showing numbers.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Callable

MARKER = re.compile(r"(<!-- results: (?P<name>[a-z_]+) -->\n)(?P<body>.*?)(<!-- /results -->)", re.S)
STAGES = ("shallow", "deep", "instruct")


def _read(repo: Path, path: str) -> dict | None:
    file = repo / path
    return json.loads(file.read_text()) if file.exists() else None


def _pct(value: float) -> str:
    return f"{100 * value:.1f}"


def _interval(result: dict, value: str = "score") -> str:
    return f"{result[value]:.1f} [{result['ci_low']:.1f}, {result['ci_high']:.1f}]"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(r) + " |" for r in rows]


def _missing(path: str, how: str) -> str:
    return f"Not measured on this commit: `{path}` is absent ({how})."


def _checkpoints(repo: Path) -> list[str]:
    import yaml

    params = yaml.safe_load((repo / "params.yaml").read_text())
    return list(params["report"]["checkpoints"])


def heldout(repo: Path) -> str:
    """Held-out caption loss and VQA-RAD accuracy after each training stage, real vs blank images."""
    rows = []
    for stage, path in [("base", "metrics/model_init.json")] + [(s, f"metrics/train_{s}.json") for s in STAGES] \
            + [("rl", "metrics/rl.json")]:
        m = _read(repo, path)
        if m is None:
            return _missing(path, "run `dvc repro`")
        vqa = [_pct(m["vqa/accuracy"]), _pct(m["vqa_image_types/real_images"]), _pct(m["vqa_image_types/blank_images"])] \
            if "vqa/accuracy" in m else ["–"] * 3
        rows.append([stage, f"{m['heldout/caption_loss']:.3f}", f"{m['heldout/caption_loss_blank_images']:.3f}", *vqa])
    lines = _table(["after", "caption loss, real images", "caption loss, blank images", "VQA-RAD test accuracy %",
                    "modality/plane/organ %, real", "same, blank"], rows)
    return "\n".join(lines + ["", "Source: `metrics/model_init.json`, `metrics/train_<stage>.json`, `metrics/rl.json` "
                                  "(one training seed; held-out VQA is scored by the evaluation's scorer)."])


def evaluation(repo: Path) -> str:
    """Every checkpoint's score on every benchmark with its question-bootstrap interval, and the image gaps."""
    checkpoints = _checkpoints(repo)
    suites = {c: _read(repo, f"metrics/eval/{c}.json") for c in checkpoints}
    absent = [c for c, s in suites.items() if s is None]
    if absent:
        return _missing(f"metrics/eval/{absent[0]}.json", "run `dvc repro`")
    benchmarks = list(suites[checkpoints[-1]]["benchmarks"])
    scores = [[b] + [_interval(suites[c]["benchmarks"][b]) for c in checkpoints] for b in benchmarks]
    fails = [[b] + [f"{suites[c]['benchmarks'][b]['parse_fail_rate']:.1f}" for c in checkpoints] for b in benchmarks]
    gaps = []
    for b in benchmarks:
        cells = []
        for c in checkpoints:
            control = suites[c]["benchmarks"][b].get("controls", {}).get("blank_image")
            if control is None:
                break
            gap = control["real_minus_control"]
            cells.append(_interval(gap, "delta") + ("*" if gap["significant"] else ""))
        if len(cells) == len(checkpoints):
            gaps.append([b] + cells)
    return "\n".join(
        ["Score % [95% question-bootstrap CI], one training seed:", ""] + _table(["benchmark", *checkpoints], scores)
        + ["", "Parse failures %:", ""] + _table(["benchmark", *checkpoints], fails)
        + ["", "Real − blank image, points [paired 95% CI over questions], `*` where it excludes 0:", ""]
        + _table(["benchmark", *checkpoints], gaps)
        + ["", f"Source: `metrics/eval/<checkpoint>.json` for {', '.join(checkpoints)}."])


def rl(repo: Path) -> str:
    """GRPO's rewards over its first and last tenth of steps."""
    m = _read(repo, "metrics/rl.json")
    if m is None:
        return _missing("metrics/rl.json", "run `dvc repro`")
    names = [("total reward (max 1.5)", "reward"), ("accuracy reward", "rewards/accuracy/mean"),
             ("format reward", "rewards/format/mean")]
    rows = [[label, f"{m[f'rl/first_tenth/{key}']:.2f}", f"{m[f'rl/last_tenth/{key}']:.2f}"] for label, key in names]
    return "\n".join(_table(["mean per rollout", "first tenth of steps", "last tenth"], rows)
                     + ["", f"{int(m['rl/rollouts'])} rollouts on {int(m['selection/kept'])} selected prompts; final KL "
                            f"{m['rl/final_kl']:.3f}. Source: `metrics/rl.json`."])


def ablations(repo: Path) -> str:
    """Each variant's delta against the full model on the group averages and the image-gap columns."""
    m = _read(repo, "metrics/ablations.json")
    if m is None:
        return _missing("metrics/ablations.json", "run `lingshu ablate --seeds 3`")
    systems = sorted({k.split("/")[0] for k in m if k.endswith("/delta")})
    columns = [c for c in ("group/text_qa", "group/multimodal_qa", "group/image_grounding",
                           "vqa_rad_labels/real-blank", "vqa_rad_image_types/real-blank") if f"{systems[0]}/{c}/delta" in m]

    def cell(system: str, column: str) -> str:
        p = f"{system}/{column}/"
        return (f"{m[p + 'delta']:+.1f} [{m[p + 'ci_low']:+.1f}, {m[p + 'ci_high']:+.1f}]"
                + ("*" if m[p + "significant"] else ""))

    rows = [[s] + [cell(s, c) for c in columns] for s in systems]
    headers = {"group/text_qa": "text QA (avg)", "group/multimodal_qa": "multimodal QA (avg)",
               "group/image_grounding": "image grounding (avg)"}
    seeds = m.get("n_seeds")
    scope = f"over {int(seeds)} training seeds per system and questions" if seeds and seeds > 1 else \
        "over questions only (one training seed)"
    full = [f"{c} {m[f'full/{c}/score']:.1f} [{m[f'full/{c}/ci_low']:.1f}, {m[f'full/{c}/ci_high']:.1f}]"
            for c in columns if f"full/{c}/ci_low" in m]
    own = [f"The full model itself (instruct), {scope}: " + "; ".join(full) + ".", ""] if full else []
    return "\n".join(own + [f"Variant − full model, points [95% interval {scope}], `*` where it excludes 0:", ""]
                     + _table(["variant", *[headers.get(c, c) for c in columns]], rows)
                     + ["", "Source: `metrics/ablations.json` (details: `reports/ablations.md`)."])


def noise_floor(repo: Path) -> str:
    """The full model's spread across training seeds, per benchmark at instruct and rl, and its intervals where measured."""
    m = _read(repo, "metrics/noise_floor.json")
    if m is None:
        return _missing("metrics/noise_floor.json", "run `lingshu ablate --noise-floor 3`")
    checkpoints = [c for c in ("instruct", "rl") if c in m["checkpoints"]]
    columns = list(m["checkpoints"][checkpoints[0]])
    from lingshu.report.noise import interval_cell

    measured = [c for c in checkpoints if c in m.get("intervals", {})]
    rows = [[c] + [f"{m['checkpoints'][k][c]['sd']:.1f} / {m['checkpoints'][k][c]['range']:.1f}" for k in checkpoints]
            + [interval_cell(c, m["intervals"][k].get(c)) for k in measured] for c in columns]
    headers = ["score", *[f"{k}: SD / range" for k in checkpoints], *[f"{k}: mean [95% CI]" for k in measured]]
    what = (f"SD / range across {m['n_seeds']} training seeds, points; and the mean with its 95% interval over seeds and "
            "questions (`*` where a real − blank gap's interval excludes 0):") if measured else \
        f"SD / range across {m['n_seeds']} training seeds, points:"
    return "\n".join([what, ""] + _table(headers, rows)
                     + ["", "Source: `metrics/noise_floor.json` (all checkpoints: `reports/noise_floor.md`)."])


def demo_time(repo: Path) -> str:
    """How long `make demo` took, against the commit before this work, measured side by side."""
    path = "benchmarks/results/demo_time.json"
    m = _read(repo, path)
    if m is None:
        return _missing(path, "run `benchmarks/bench_demo.py`")
    before, after = m["before"], m["after"]
    rows = [[stage, f"{before['stages_s'].get(stage, 0):.0f}", f"{after['stages_s'][stage]:.0f}"]
            for stage in after["stages_s"] if stage.startswith(("train_", "rl", "curate"))]
    evaluations = [sum(s for stage, s in run["stages_s"].items() if stage.startswith("evaluate@")) for run in (before, after)]
    rows.append(["evaluate (every checkpoint)", *(f"{s:.0f}" for s in evaluations)])
    rows.append(["**make demo**", f"**{before['total_s']:.0f}**", f"**{after['total_s']:.0f}**"])
    earlier = [f"{p['after']['commit'][:7]} against {p['before']['commit'][:7]}: {p['after']['total_s']:.0f} s against "
               f"{p['before']['total_s']:.0f} s ({p['ratio_after_over_before']:.2f}×, {p['measured']})"
               for p in m.get("earlier", [])]
    same = [p["before"]["total_s"] for p in m.get("earlier", []) if p["before"]["commit"] == before["commit"]]
    spread = (f" {before['commit'][:7]} itself took {' and '.join(f'{s:.0f}' for s in same + [before['total_s']])} s in "
              f"these runs: one pair's ratio is within that spread." if same else "")
    return "\n".join([f"Measured {m['measured']} on {m['machine']['cpu']} ({m['machine']['cores']} cores), the two "
                       f"commits one after the other in fresh clones: `make demo` took {after['total_s'] / 60:.0f} minutes, "
                       f"{m['ratio_after_over_before']:.2f}× the time of {before['commit'][:7]}.", ""]
                      + _table(["seconds", before["commit"][:7], after["commit"][:7]], rows)
                      + ([""] + [f"Earlier pairs: {'; '.join(earlier)}.{spread}"] if earlier else [])
                      + ["", f"Source: `{path}` (rerun: `.venv/bin/python benchmarks/bench_demo.py`)."])


SECTIONS: dict[str, Callable[[Path], str]] = {f.__name__: f for f in (demo_time, heldout, evaluation, rl, ablations,
                                                                       noise_floor)}


def render(readme: str, repo: Path) -> tuple[str, list[str]]:
    """The README with every results section regenerated, and the names of those that changed."""
    changed: list[str] = []

    def replace(match: re.Match) -> str:
        name = match["name"]
        if name not in SECTIONS:
            raise ValueError(f"README.md: unknown results section {name!r} (known: {', '.join(SECTIONS)})")
        body = SECTIONS[name](repo).rstrip("\n") + "\n"
        if body != match["body"]:
            changed.append(name)
        return match.group(1) + body + match.group(4)

    return MARKER.sub(replace, readme), changed


def add_parser(commands) -> None:
    parser = commands.add_parser("readme", help="regenerate the README's result sections from metrics/",
                                 description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a section is out of date")
    parser.add_argument("--readme", type=Path, default=Path("README.md"), help="the README (default: README.md)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from lingshu.io import atomic_write_bytes
    from lingshu.tracking import repo_root

    repo = repo_root()
    path = args.readme if args.readme.is_absolute() else repo / args.readme
    text, changed = render(path.read_text(), repo)
    if args.check:
        for name in changed:
            print(f"{path.name}: results section {name!r} differs from what metrics/ give; run `lingshu readme`",
                  file=sys.stderr)
        return 1 if changed else 0
    if changed:
        atomic_write_bytes(path, text.encode())
    print(f"{path.name}: {len(changed)} section(s) rewritten" + (f" ({', '.join(changed)})" if changed else ""))
    return 0
