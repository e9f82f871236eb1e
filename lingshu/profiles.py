"""Profiles: named presets that move the whole pipeline between the embedded default and a cluster.

A profile (profiles/<name>.yaml) sets params.yaml keys, written in params.yaml's own nesting:

    description: Lingshu-7B on one node of 8 GPUs
    params:
      model: {source: Qwen/Qwen2.5-VL-7B-Instruct, dtype: bfloat16}
      train:
        common: {devices: "8", strategy: deepspeed_stage_3, precision: bf16-mixed}

It is applied as `dvc exp run` overrides, one `-S key=value` per leaf (`lingshu profile args NAME`), so
DVC records every value the run used, `dvc exp show` compares profiles like any other params, and a
`-S` given after the profile's wins. Mappings are set key by key and lists as a whole, exactly as
`-S` does; `resolve` applies them the same way through each section's dataclass, so a misspelt key fails
here, naming the profile file, before a cluster job is queued. `check` then looks at what the settings
add up to (each section's own checks, paths, world size, vLLM tensor parallelism).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any

import yaml

from lingshu.io import read_yaml_mapping
from lingshu.report.variants import Variant, apply_to

KNOWN_KEYS = {"description", "params"}
PROFILES_DIR = Path("profiles")


@dataclass
class Profile:
    name: str
    description: str
    params: dict[str, Any] = field(default_factory=dict)  # nested, as in params.yaml
    source: str = ""

    @property
    def overrides(self) -> dict[str, Any]:
        """Dotted key -> value, one per leaf (lists are leaves): the `-S` form."""
        return dotted(self.params)

    def as_variant(self) -> Variant:
        return Variant(self.name, self.description, self.overrides, source=self.source)

    def set_flags(self) -> list[str]:
        """`-S key=value` arguments of `dvc exp run` that select this profile, each free of whitespace so that
        `dvc exp run $(lingshu profile args NAME)` passes them through the shell's word splitting intact."""
        flags = [flag if flag == "-S" else _one_word(flag) for flag in self.as_variant().set_flags()]
        spaced = [flag for flag in flags[1::2] if any(c.isspace() for c in flag)]
        if spaced:
            raise ValueError(f"{self.source}: {spaced[0]!r} holds whitespace, which `$(...)` would split; use "
                             f"`lingshu profile run {self.name}` instead")
        return flags


def _one_word(flag: str) -> str:
    """`key=[a, b]` as `key=[a,b]` when that reads back as the same value (a string holding ", " does not)."""
    key, _, value = flag.partition("=")
    compact = value.replace(", ", ",")
    return f"{key}={compact}" if yaml.safe_load(compact) == yaml.safe_load(value) else flag


def dotted(params: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out |= dotted(value, name + ".")
        else:
            out[name] = value
    return out


def read_profile(path: Path) -> Profile:
    raw = read_yaml_mapping(path)
    unknown = sorted(set(raw) - KNOWN_KEYS)
    if unknown or not isinstance(raw.get("params"), dict):
        raise ValueError(f"{path}: unknown keys {unknown}, known {sorted(KNOWN_KEYS)}; `params` must be a mapping")
    return Profile(path.stem, str(raw.get("description", "")), raw["params"], str(path))


def load_profiles(folder: Path = PROFILES_DIR) -> dict[str, Profile]:
    return {p.stem: read_profile(p) for p in sorted(folder.glob("*.yaml"))}


def find_profile(name: str, folder: Path = PROFILES_DIR) -> Profile:
    path = folder / f"{name}.yaml"
    if not path.exists():
        known = sorted(p.stem for p in folder.glob("*.yaml"))
        raise ValueError(f"no profile {name!r} in {folder}/ (known: {', '.join(known) or 'none'})")
    return read_profile(path)


def resolve(profile: Profile, params_file: Path) -> dict[str, Any]:
    """Every params section as its dataclass after the profile's overrides (ValueError names file and key)."""
    return apply_to(profile.as_variant(), params_file, list(read_yaml_mapping(params_file)))


def world_size(common) -> int:
    """Processes of a training stage: devices per node x nodes (`auto` counts as one device here)."""
    devices = str(common.devices)
    per_node = len([d for d in devices.split(",") if d.strip()]) if "," in devices else int(devices) if devices.isdigit() else 1
    return per_node * common.num_nodes


def global_batches(resolved: dict[str, Any]) -> dict[str, Any]:
    """What the per-device settings add up to across the world: what a cluster user checks against a paper."""
    train, rl = resolved["train"], resolved["rl"]
    world = world_size(train.common)
    summary: dict[str, Any] = {"world_size": world}
    for name in ("shallow", "deep", "instruct"):
        stage = getattr(train, name)
        summary[f"{name}.sequences_per_step"] = stage.batch_size * stage.grad_accum * world
    summary["rl.prompts_per_rollout"] = rl.prompts_per_rollout * world
    summary["rl.prompts_per_step"] = rl.per_device_train_batch_size * rl.gradient_accumulation_steps * world // rl.num_generations
    summary["rl.max_length"] = rl.selection.max_prompt_length + rl.max_completion_length
    return summary


def check(resolved: dict[str, Any]) -> list[str]:
    """Problems of a resolved configuration (empty when it can run): each section's own checks, the same ones
    params loading runs (the stage chain, ranges, RL batch arithmetic, ...), then paths and what the settings
    add up to across sections (vLLM's split of a node's GPUs)."""
    from lingshu.config import problems_of

    own = [problem for section, value in resolved.items() for problem in problems_of(value, f"{section}.")]
    return [*own, *_path_problems(resolved), *_hardware_problems(resolved)]


def _path_problems(resolved: dict[str, Any]) -> list[str]:
    return [f"{key} = {path!r} must be a path inside the repo (relative, no '..')"
            for section, value in resolved.items() for key, path in _paths(value, section)
            if Path(path).is_absolute() or ".." in Path(path).parts]


def _hardware_problems(resolved: dict[str, Any]) -> list[str]:
    """vLLM's tensor parallelism must split a node's GPUs evenly."""
    common, evaluation = resolved["train"].common, resolved["eval"]
    per_node = world_size(common) // common.num_nodes
    if evaluation.tensor_parallel_size > 1 and per_node % evaluation.tensor_parallel_size:
        return [f"eval.tensor_parallel_size {evaluation.tensor_parallel_size} does not divide the "
                f"{per_node} devices of a node"]
    return []


def _paths(value: Any, prefix: str):
    """(dotted key, value) of every string field that names a file or folder."""
    if not is_dataclass(value):
        return
    for f in fields(value):
        item, key = getattr(value, f.name), f"{prefix}.{f.name}"
        if is_dataclass(item):
            yield from _paths(item, key)
        elif isinstance(item, str) and item and f.name.endswith(("_dir", "_file", "_store")):
            yield key, item


# --- `lingshu profile` -----------------------------------------------------------------------------------

USAGE = """examples:
  lingshu profile list
  lingshu profile show lingshu-7b            # the values it sets, what they add up to, and any problem
  dvc exp run -n lingshu-7b $(lingshu profile args lingshu-7b)
  dvc exp run $(lingshu profile args lingshu-7b) -S train.instruct.epochs=3   # a later -S wins
  lingshu profile run lingshu-7b -- -n lingshu-7b --queue                   # the same, dvc started for you
"""


def add_parser(commands) -> None:
    import argparse

    parser = commands.add_parser("profile", help="list, check and apply the pipeline profiles in profiles/",
                                 description="Profiles move the pipeline between the embedded default (tiny) and "
                                             "a cluster (lingshu-7b, lingshu-32b) as `dvc exp run -S` overrides.",
                                 epilog=USAGE, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["list", "show", "args", "run", "check"],
                        help="list: names and descriptions; show: values, global batches and problems; "
                             "args: the -S flags for `dvc exp run`; run: `dvc exp run` with them (and the "
                             "arguments after --); check: exit 1 if any profile has a problem")
    parser.add_argument("name", nargs="?", help="profile name (show, args; check: all when omitted)")
    parser.add_argument("--params", type=Path, default=Path("params.yaml"), help="params file (default: params.yaml)")
    parser.add_argument("--dir", type=Path, default=PROFILES_DIR, help="profiles folder (default: profiles)")
    parser.set_defaults(func=_run)


def _run(args) -> int:
    import subprocess
    import sys

    try:
        if args.action == "list":
            for name, profile in load_profiles(args.dir).items():
                print(f"{name:<14} {profile.description}")
            return 0
        if args.action in ("show", "args", "run") and not args.name:
            raise ValueError(f"lingshu profile {args.action} needs a profile name")
        if args.action == "args":
            print(" ".join(find_profile(args.name, args.dir).set_flags()))
            return 0
        if args.action == "run":
            flags = find_profile(args.name, args.dir).as_variant().set_flags()
            return subprocess.call([sys.executable, "-m", "dvc", "exp", "run", *flags, *args.passthrough])
        chosen = [find_profile(args.name, args.dir)] if args.name else list(load_profiles(args.dir).values())
        failed = False
        for profile in chosen:
            resolved = resolve(profile, args.params)
            problems = check(resolved)
            failed |= bool(problems)
            if args.action == "show":
                print(f"# {profile.name}: {profile.description}")
                print(yaml.safe_dump(profile.params, sort_keys=False, default_flow_style=False).rstrip())
                print("# across the world")
                for key, value in global_batches(resolved).items():
                    print(f"#   {key}: {value}")
            for problem in problems:
                print(f"{profile.name}: {problem}", file=sys.stderr)
            if args.action == "check" and not problems:
                print(f"{profile.name}: ok")
        return 1 if failed else 0
    except ValueError as exc:
        print(f"lingshu profile: {exc}", file=sys.stderr)
        return 2
