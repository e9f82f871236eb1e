"""Stages depend on the params keys that can change their outputs, and on no key that cannot.

`curate.ray` decides where and how wide curation runs (a local Ray or a cluster, tasks, actors), never what
it keeps (tests/test_curate_ray.py checks that), so changing it must not re-run curation or anything after it."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
HOW_NOT_WHAT = {"curate.ray"}


def _params_deps() -> dict[str, list[str]]:
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    return {name: [p for p in stage.get("do", stage).get("params", []) if isinstance(p, str)] for name, stage in stages.items()}


def _keys(node: dict, prefix: str = "") -> set[str]:
    return {f"{prefix}{k}" for k in node}


def test_no_stage_depends_on_a_key_that_cannot_change_its_outputs():
    for stage, deps in _params_deps().items():
        for key in HOW_NOT_WHAT:
            reached = [d for d in deps if key == d or key.startswith(d + ".")]
            assert not reached, f"stage {stage!r} re-runs when {key} changes (through {reached})"


def test_curation_depends_on_every_other_curate_key():
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    expected = _keys(params["curate"], "curate.") - HOW_NOT_WHAT
    for stage in ("curate", "validate", "validate_synthetic"):
        missing = expected - set(_params_deps()[stage])
        assert not missing, f"stage {stage!r} does not re-run when {sorted(missing)} change"


def test_every_params_dep_names_a_key_of_params_yaml():
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    for stage, deps in _params_deps().items():
        for dep in deps:
            node = params
            for part in dep.split("."):
                assert isinstance(node, dict) and part in node, f"stage {stage!r}: params dep {dep!r} is not in params.yaml"
                node = node[part]
