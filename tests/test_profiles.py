"""Profiles resolve into sane stage configs, reach the paper's numbers, and real DVC applies them as we do."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import asdict, replace
from pathlib import Path

import pytest
import yaml

from lingshu.config import load_params
from lingshu.profiles import check, find_profile, global_batches, load_profiles, resolve

CLUSTER = ("lingshu-7b", "lingshu-32b")


@pytest.fixture
def profiles(repo):
    return load_profiles(repo / "profiles")


def test_every_profile_resolves_into_stage_configs_without_problems(repo, profiles):
    assert {"tiny", *CLUSTER} <= set(profiles)
    for name, profile in profiles.items():
        resolved = resolve(profile, repo / "params.yaml")
        assert check(resolved) == [], name
    tiny = resolve(profiles["tiny"], repo / "params.yaml")
    assert tiny["model"].source == "tiny" and tiny["eval"].backend == "hf"
    for name, size in zip(CLUSTER, ("7B", "32B")):
        resolved = resolve(profiles[name], repo / "params.yaml")
        common = resolved["train"].common
        assert resolved["model"].source == f"Qwen/Qwen2.5-VL-{size}-Instruct"
        assert (common.strategy, common.precision, common.gradient_checkpointing) == ("deepspeed_stage_3", "bf16-mixed", True)
        assert resolved["eval"].backend == "vllm" and resolved["eval"].limit == 0
    assert resolve(profiles["lingshu-32b"], repo / "params.yaml")["eval"].tensor_parallel_size > 1


def test_cluster_profiles_reach_the_papers_recipe(repo, profiles):
    """specs/recipe.md: AdamW at vision 2e-6 / projector 1e-5 / LLM 1e-5 (frozen in stage 1), 100 warm-up steps,
    1 + 1 + 2 epochs, length 8192, packing in instruction tuning only; GRPO with rollout batch 512 prompts, global
    batch 128, 16 responses, length 4096, LR 1e-6, KL 1e-3."""
    for name in CLUSTER:
        resolved = resolve(profiles[name], repo / "params.yaml")
        train, rl = resolved["train"], resolved["rl"]
        for stage, epochs, llm_lr, packing in (("shallow", 1, 0.0, False), ("deep", 1, 1e-5, False),
                                               ("instruct", 2, 1e-5, True)):
            cfg = getattr(train, stage)
            assert (cfg.lr.vision, cfg.lr.projector, cfg.lr.language_model) == (2e-6, 1e-5, llm_lr), (name, stage)
            assert (cfg.warmup_steps, cfg.epochs, cfg.max_length, cfg.packing) == (100, epochs, 8192, packing)
        assert all(weight > 0 for weight in train.instruct.groups.values())
        batches = global_batches(resolved)
        assert (batches["rl.prompts_per_rollout"], batches["rl.prompts_per_step"], batches["rl.max_length"]) == (512, 128, 4096)
        assert (rl.num_generations, rl.learning_rate, rl.beta, rl.temperature, rl.epochs) == (16, 1e-6, 1e-3, 1.0, 1)
        assert batches["instruct.sequences_per_step"] == 64  # 1 per device x 8 accumulation on 8 GPUs, kept on 32


def test_tiny_profile_is_the_shipped_params_and_undoes_every_other_profile(repo, profiles):
    shipped = yaml.safe_load((repo / "params.yaml").read_text())
    tiny = profiles["tiny"].overrides
    for key, value in tiny.items():
        node = shipped
        for part in key.split("."):
            node = node[part]
        assert node == value, key
    for name in CLUSTER:
        assert set(profiles[name].overrides) <= set(tiny), set(profiles[name].overrides) - set(tiny)


def test_a_misspelt_key_fails_naming_the_profile_and_the_key(repo, tmp_path):
    (tmp_path / "typo.yaml").write_text("description: x\nparams:\n  train:\n    common: {gradient_checkpoint: true}\n")
    with pytest.raises(ValueError, match=r"typo\.yaml.*gradient_checkpoint"):
        resolve(find_profile("typo", tmp_path), repo / "params.yaml")
    with pytest.raises(ValueError, match="known: typo"):
        find_profile("lingshu-70b", tmp_path)


def test_check_finds_settings_that_cannot_run_together(repo, profiles):
    resolved = resolve(profiles["lingshu-32b"], repo / "params.yaml")
    broken = dict(resolved)
    broken["rl"] = replace(resolved["rl"], num_generations=5)                        # 4 x 64 completions: not groups of 5
    broken["eval"] = replace(resolved["eval"], tensor_parallel_size=3)               # 8 GPUs a node
    broken["train"] = replace(resolved["train"], deep=replace(resolved["train"].deep, init_from="instruct"))
    broken["model"] = replace(resolved["model"], metrics_file="/scratch/model_init.json")
    problems = "\n".join(check(broken))
    for expected in ("num_generations", "tensor_parallel_size 3", "train.deep.init_from", "model.metrics_file"):
        assert expected in problems


def _resolver_repo(repo: Path, root: Path) -> dict:
    """A git + DVC repo with the real params.yaml and one stage that writes every section as lingshu loads it."""
    root.mkdir()
    shutil.copy(repo / "params.yaml", root / "params.yaml")
    dump = ("import json; from dataclasses import asdict; from lingshu.config import load_params; "
            "json.dump({k: asdict(v) for k, v in load_params().items()}, open('resolved.json', 'w'))")
    (root / "dvc.yaml").write_text(yaml.safe_dump({"stages": {"resolve": {
        "cmd": f'python -c "{dump}"', "params": ["model", "train", "rl", "eval", "curate"], "outs": ["resolved.json"]}}}))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "GIT_AUTHOR_NAME": "t",
           "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    env.pop("DVC_ROOT", None)
    for cmd in ("git init -q", "dvc init -q", "git add -A", "git commit -qm resolver"):
        subprocess.run(cmd, shell=True, cwd=root, env=env, check=True, capture_output=True)
    return env


def test_dvc_exp_run_with_a_profiles_flags_gives_exactly_the_resolved_configs(repo, profiles, tmp_path):
    """The README's own command lines, through the shell's word splitting and DVC's override parser."""
    root = tmp_path / "resolver"
    env = _resolver_repo(repo, root)
    where = f"--params {repo / 'params.yaml'} --dir {repo / 'profiles'}"
    commands = {"lingshu-32b": f"dvc exp run $(lingshu profile args lingshu-32b {where})",
                "tiny": f"lingshu profile run tiny {where} -- -n back-to-tiny",
                "lingshu-7b": f"dvc exp run -n seven $(lingshu profile args lingshu-7b {where}) -S train.instruct.epochs=3"}
    for name, command in commands.items():  # each starts from the workspace the previous one left
        out = subprocess.run(command, shell=True, cwd=root, env=env, capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, f"{command}:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}"
        written = json.loads((root / "resolved.json").read_text())
        expected = {k: asdict(v) for k, v in resolve(profiles[name], repo / "params.yaml").items()}
        if name == "lingshu-7b":
            expected["train"]["instruct"]["epochs"] = 3  # a -S after the profile's wins
        assert written == expected, name
        assert written == {k: asdict(v) for k, v in load_params(root / "params.yaml").items()}
    assert "# Parameters of every stage" in (root / "params.yaml").read_text()  # DVC keeps params.yaml's comments


def test_profile_check_command_reports_load_time_problems_naming_the_key(repo, tmp_path, capsys):
    """`lingshu profile check` runs the checks params loading runs, before any cluster job is queued."""
    from lingshu.cli import main

    (tmp_path / "backwards.yaml").write_text("description: instruct before deep\nparams:\n"
                                             "  train:\n    deep: {init_from: instruct}\n"
                                             "    instruct: {lr: {vision: 0.5}}\n")
    assert main(["profile", "check", "--dir", str(tmp_path), "--params", str(repo / "params.yaml")]) != 0
    err = capsys.readouterr().err
    assert "train.deep.init_from must name an earlier stage" in err and "train.instruct.lr" in err
