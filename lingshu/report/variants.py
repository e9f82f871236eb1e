"""Declared ablations: one YAML file each under experiments/ablations/, read and checked before anything runs.

A declaration names what it changes as dotted params keys (the `dvc exp run -S` form) and which of its
checkpoints is compared with the full model's instruct checkpoint:

    label: "− medical multimodal"      # row name in the report
    paper_average: 56.4                # the paper's 7-benchmark average for this ablation (optional)
    checkpoint: instruct               # default; `rl` with no params compares the full pipeline's own RL model
    params:
      train.instruct.groups.medical_multimodal: 0

Every key is applied to params.yaml through the params schema before a single experiment is queued, so a
misspelt key fails at once with the file and key named, not an hour later inside a queued run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lingshu.io import read_yaml_mapping

KNOWN_KEYS = {"label", "paper_average", "checkpoint", "params"}


@dataclass
class Variant:
    name: str                    # the file's stem; also the DVC experiment's name
    label: str
    params: dict[str, Any] = field(default_factory=dict)
    checkpoint: str = "instruct"
    paper_average: float | None = None
    source: str = ""

    @property
    def needs_run(self) -> bool:
        """A variant without params is a checkpoint of the full pipeline itself."""
        return bool(self.params)

    @property
    def target(self) -> str:
        """The DVC stage the experiment reproduces up to: the evaluation of the compared checkpoint."""
        return f"evaluate@{self.checkpoint}"

    def set_flags(self) -> list[str]:
        """`-S key=value` arguments of `dvc exp run`."""
        return [arg for key, value in self.params.items() for arg in ("-S", f"{key}={as_yaml(value)}")]


def as_yaml(value: Any) -> str:
    """A value as one line of YAML, the form `-S key=value` and OmegaConf overrides parse."""
    text = yaml.safe_dump(value, default_flow_style=True, width=1 << 20).strip()
    return text.removesuffix("...").strip()


def read_variant(path: Path) -> Variant:
    raw = read_yaml_mapping(path)
    unknown = sorted(set(raw) - KNOWN_KEYS)
    if unknown or "label" not in raw:
        raise ValueError(f"{path}: unknown keys {unknown}, known {sorted(KNOWN_KEYS)}; `label` is required")
    params = raw.get("params") or {}
    if not isinstance(params, dict):
        raise ValueError(f"{path}: params must map dotted keys to values")
    return Variant(path.stem, str(raw["label"]), dict(params), str(raw.get("checkpoint", "instruct")),
                   raw.get("paper_average"), str(path))


def check_against(variant: Variant, params_file: Path) -> None:
    """Raise ValueError naming the file and key when a key is not a params field or its value does not fit."""
    apply_to(variant, params_file)


def apply_to(variant: Variant, params_file: Path, sections: list[str] | None = None) -> dict[str, Any]:
    """The params sections (default: the ones the variant changes) as their dataclasses with the variant's
    values applied; ValueError naming the variant's file and the key when one does not fit."""
    from lingshu.config import ConfigError, load_section

    from lingshu.data.schema import GROUPS

    by_section: dict[str, list[str]] = {}
    for key, value in variant.params.items():
        if ".groups." in key and key.rsplit(".", 1)[1] not in GROUPS:  # a mixture is a free dict: check its keys here
            raise ValueError(f"{variant.source}: {key!r} names no data group; known: {', '.join(GROUPS)}")
        section, _, rest = key.partition(".")
        if not rest:
            raise ValueError(f"{variant.source}: key {key!r} must be dotted, as `dvc exp run -S` takes it")
        by_section.setdefault(section, []).append(f"{rest}={as_yaml(value)}")
    try:
        return {section: load_section(section, params_file, by_section.get(section))
                for section in (by_section if sections is None else sections)}
    except ConfigError as exc:
        raise ValueError(f"{variant.source}: {exc}") from None


def load_variants(folder: Path, params_file: Path, only: list[str] | None = None) -> list[Variant]:
    """Every declaration in folder (sorted by name), checked against params_file; `only` picks by name."""
    variants = [read_variant(p) for p in sorted(folder.glob("*.yaml"))]
    if only:
        missing = sorted(set(only) - {v.name for v in variants})
        if missing:
            raise ValueError(f"no declared ablation named {missing} in {folder} (known: {[v.name for v in variants]})")
        variants = [v for v in variants if v.name in only]
    for variant in variants:
        check_against(variant, params_file)
    return variants
