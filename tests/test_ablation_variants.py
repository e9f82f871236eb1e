"""Declared ablations are checked before anything is queued, and become the `dvc exp run` the paper's table needs."""

from __future__ import annotations

from pathlib import Path

import pytest

from lingshu.report.ablation import systems_of
from lingshu.report.variants import load_variants, read_variant

PAPER_ABLATIONS = {"no-medical-multimodal", "no-general-multimodal", "no-general-text", "no-medical-text",
                   "no-medical-captions", "no-alignment", "no-synthetic-multimodal", "no-medical-cot", "rl-vs-sft"}


def test_every_declared_ablation_fits_the_params_schema(repo):
    variants = load_variants(repo / "experiments/ablations", repo / "params.yaml")
    assert {v.name for v in variants} == PAPER_ABLATIONS
    instruct_only = [v for v in variants if v.needs_run]
    assert all(v.target == "evaluate@instruct" for v in instruct_only)
    assert all(key.startswith("train.instruct.") for v in instruct_only for key in v.params)
    rl = next(v for v in variants if v.name == "rl-vs-sft")
    assert not rl.needs_run and rl.target == "evaluate@rl"


def _declare(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(text)
    return path


def test_a_misspelt_key_fails_naming_the_file_and_key(repo, tmp_path):
    _declare(tmp_path / "a", "typo", "label: x\nparams:\n  train.instruct.epohcs: 1\n")
    with pytest.raises(ValueError, match=r"typo\.yaml.*epohcs"):
        load_variants(tmp_path / "a", repo / "params.yaml")


def test_a_variant_that_starts_a_stage_from_a_path_or_a_later_stage_fails_naming_the_key(repo, tmp_path):
    for value, why in (("models/base", "a stage name, not a path"), ("rl", "one of base, shallow, deep")):
        _declare(tmp_path / value.replace("/", "_"), "start", f"label: x\nparams:\n  train.instruct.init_from: {value}\n")
        with pytest.raises(ValueError, match=f"start\\.yaml.*train\\.instruct\\.init_from.*{why}"):
            load_variants(tmp_path / value.replace("/", "_"), repo / "params.yaml")


def test_a_mixture_weight_must_name_a_data_group(repo, tmp_path):
    _declare(tmp_path / "a", "group", "label: x\nparams:\n  train.instruct.groups.medical_multimodl: 0\n")
    with pytest.raises(ValueError, match="medical_multimodl.*names no data group"):
        load_variants(tmp_path / "a", repo / "params.yaml")


def test_values_become_set_flags_dvc_parses_back(tmp_path):
    path = _declare(tmp_path, "v", "label: x\nparams:\n  train.instruct.groups.general_text: 0\n"
                                   "  train.instruct.init_from: base\n  rl.reward_weights: [0.5, 1.0]\n")
    assert read_variant(path).set_flags() == ["-S", "train.instruct.groups.general_text=0",
                                              "-S", "train.instruct.init_from=base",
                                              "-S", "rl.reward_weights=[0.5, 1.0]"]


def test_unknown_declaration_keys_and_a_missing_label_are_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown keys.*paramz"):
        read_variant(_declare(tmp_path, "bad", "label: x\nparamz: {}\n"))
    with pytest.raises(ValueError, match="label"):
        read_variant(_declare(tmp_path, "nolabel", "params: {}\n"))


def test_only_picks_by_name_and_refuses_unknown_names(repo):
    folder, params = repo / "experiments/ablations", repo / "params.yaml"
    assert [v.name for v in load_variants(folder, params, ["no-general-text"])] == ["no-general-text"]
    with pytest.raises(ValueError, match="no-such-variant"):
        load_variants(folder, params, ["no-such-variant"])


def test_a_variant_that_has_not_run_is_an_error_not_a_missing_row(repo):
    variants = load_variants(repo / "experiments/ablations", repo / "params.yaml", ["no-general-text", "rl-vs-sft"])
    with pytest.raises(ValueError, match="no finished DVC experiment for \\['no-general-text'\\]"):
        systems_of(repo, variants, {})
    systems = systems_of(repo, variants[1:], {})  # rl-vs-sft reads the workspace's own rl checkpoint
    assert [(s.name, s.checkpoint) for s in systems] == [("full", "instruct"), ("rl-vs-sft", "rl")]
