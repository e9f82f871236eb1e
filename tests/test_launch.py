"""A training stage launched as two processes on CPU (gloo): by Lightning itself and by torchrun under DDP,
and by Lightning under DeepSpeed ZeRO-3; and the RL stage under ZeRO-3.

This is the multi-node path of README "Scaling out" on one machine: the same stage script runs in every
process, each trains on its half of the data, and only global rank 0 reports — one MLflow run, one
metrics file, one saved checkpoint. The mixture holds text-only samples, so some batches have no image:
the data module then adds a blank-image row, or the ranks' collectives would stop matching (a DDP hang,
a ZeRO-3 crash); RL rollouts add a blank-image prompt the same way. All three supervised launches must
end with the same weights. The token lengths of the training data (of the RL prompts) are computed by one
process while the other waits, then read from the cache.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
# packed (as instruct ships), the mini corpus fills 8 rows: 2 steps an epoch on 2 ranks, so 3 steps need 2 epochs
STAGE = {"init_from": "base", "checkpoint_dir": "checkpoints/instruct",
         "groups": {"medical_multimodal": 1, "general_text": 1}, "batch_size": 2, "grad_accum": 1, "warmup_steps": 0,
         "max_length": 256, "max_steps": 3, "checkpoint_every": 2, "epochs": 2, "evaluate_vqa": False,
         "metrics_file": "metrics/train_instruct.json", "plots_file": "plots/train/instruct_loss.csv"}
RL = {"init_from": "base", "checkpoint_dir": "checkpoints/rl", "warmup_steps": 0,
      "selection": {"groups": ["medical_multimodal", "general_text"], "balance_by": []}, "num_generations": 2,
      "per_device_train_batch_size": 4, "max_completion_length": 4, "max_steps": 2, "evaluate_vqa": False,
      "metrics_file": "metrics/rl.json", "plots_file": "plots/rl/rewards.csv", "selection_file": "plots/rl/selection.csv"}
COMMON = {"synthetic_dir": "", "accelerator": "cpu", "devices": "2", "heldout": {"max_caption_samples": 4}}
LAUNCHES = {"lightning-ddp": ("lightning", "ddp", "train.py"), "torchrun-ddp": ("torchrun", "ddp", "train.py"),
            "lightning-zero3": ("lightning", "deepspeed_stage_3", "train.py"),
            "rl-zero3": ("lightning", "deepspeed_stage_3", "rl.py")}
SUPERVISED = [name for name, (_, _, script) in LAUNCHES.items() if script == "train.py"]


def _launch(mini_repo: Path, root: Path, launcher: str, strategy: str,
            stage: str) -> tuple[Path, str, subprocess.CompletedProcess]:
    shutil.copytree(mini_repo, root)
    common = COMMON | {"strategy": strategy}
    params = yaml.safe_load((REPO / "params.yaml").read_text())  # the shipped values, these settings on top
    params["train"]["common"] |= common
    params["train"]["instruct"] |= STAGE
    params["rl"] |= RL
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    (root / "dvc.yaml").write_text("stages: {}\n")  # marks the repo root for the stage script
    script = [str(REPO / "stages" / stage)] + (["instruct"] if stage == "train.py" else [])
    if launcher == "torchrun":
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", *script]
    else:  # Lightning starts the second process itself, re-running the same command line
        command = [sys.executable, *script]
    uri = f"sqlite:///{root / 'mlflow.db'}"
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    return root, uri, subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def launched(mini_repo, tmp_path_factory):
    base = tmp_path_factory.mktemp("launches")
    return {name: _launch(mini_repo, base / name, *how) for name, how in LAUNCHES.items()}


@pytest.mark.parametrize("name", list(LAUNCHES))
def test_two_process_stage_trains_and_reports_once(launched, name):
    root, uri, out = launched[name]
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    supervised = name in SUPERVISED
    summary = "train_instruct: 3 steps" if supervised else "2 rollouts -> models/rl"
    assert out.stdout.count(summary) == 1  # rank 0's summary line only
    assert (out.stdout + out.stderr).count("token lengths computed") == 1  # by one process of the two

    import mlflow

    mlflow.set_tracking_uri(uri)
    runs = mlflow.search_runs(experiment_names=["lingshu"])
    assert list(runs["tags.dvc.stage"]) == ["train_instruct" if supervised else "rl"]
    run = runs.iloc[0]
    assert run["status"] == "FINISHED" and run["params.common.devices"] == "2"
    if supervised:
        metrics = json.loads((root / "metrics/train_instruct.json").read_text())
        assert metrics["train/steps"] == 3 and metrics["train/final_loss"] > 0
    else:
        metrics = json.loads((root / "metrics/rl.json").read_text())
        assert metrics["rl/rollouts"] == 2 and (root / "models/rl/model.safetensors").exists()
    stage = "instruct" if supervised else "rl"
    assert not (root / "checkpoints" / stage).exists()  # a finished stage leaves nothing to resume


def test_ddp_under_both_launchers_and_zero3_end_with_the_same_weights(launched, mini_repo):
    weights = {}
    for name, (root, _, out) in ((n, launched[n]) for n in SUPERVISED):
        assert out.returncode == 0, f"{name}: {out.stderr[-2000:]}"
        weights[name] = load_file(root / "models/instruct/model.safetensors")
    start = load_file(mini_repo / "models/base/model.safetensors")
    reference = weights.pop("lightning-ddp")
    assert any(not torch.equal(reference[k], start[k]) for k in start)  # it trained
    for name, trained in weights.items():
        assert trained.keys() == reference.keys()
        for key, tensor in reference.items():
            assert torch.allclose(trained[key], tensor, rtol=1e-4, atol=1e-5), (name, key)
