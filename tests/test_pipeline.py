"""End to end: `dvc repro` in a fresh copy of the repo, caching, param-driven re-runs, MLflow runs."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from lingshu.data.schema import table_files

pytestmark = pytest.mark.slow


# Training kept to a few steps so the pipeline's mechanics, not the model's quality, are what is tested.
QUICK_TRAINING = {f"train.{stage}.max_steps": 3 for stage in ("shallow", "deep", "instruct")} | {
    "rl.max_steps": 2, "train.common.heldout.max_caption_samples": 8, "train.common.heldout.max_vqa_samples": 16,
    "eval.limit": 4}
CHECKPOINTS = ("base", "shallow", "deep", "instruct", "rl")


def _set_params(params: Path, values: dict) -> None:
    from omegaconf import OmegaConf

    config = OmegaConf.load(params)
    for key, value in values.items():
        OmegaConf.update(config, key, value)
    OmegaConf.save(config, params)


def _ran(output: str) -> list[str]:
    return [line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage '")]


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _push_then_pull_into_a_new_clone(clone, tmp_path: Path) -> None:
    """`dvc push` to a local remote (an S3/GCS/Azure URL on a cluster), then `git clone` + `dvc pull` elsewhere:
    the new copy holds the same data, checkpoints and predictions, byte for byte, and reproduces nothing."""
    dvc = [sys.executable, "-m", "dvc"]
    clone.run([*dvc, "remote", "add", "-d", "storage", str(tmp_path / "dvc-remote")])
    for cmd in (["git", "add", "-A"], ["git", "commit", "-qm", "DVC remote"], [*dvc, "push"]):
        clone.run(cmd)
    copy = tmp_path / "pulled"
    clone.run(["git", "clone", "-q", str(clone.root), str(copy)])
    clone.run([*dvc, "pull"], cwd=copy)
    assert "Data and pipelines are up to date" in clone.run([*dvc, "status"], cwd=copy)
    assert _ran(clone.run([*dvc, "repro"], cwd=copy)) == []
    for out in ("data/curated", "data/images", "data/synthetic", "models/instruct", "models/rl", "eval/rl"):
        pulled = _files(copy / out)
        assert pulled and pulled == _files(clone.root / out), out
    assert "model.safetensors" in _files(copy / "models/instruct")


@pytest.mark.timeout(1800)  # the reduced pipeline, four variants and two seeds: past 900 s on a slow 2-core machine
def test_repro_is_cached_and_reruns_only_what_a_param_touches(fresh_clone, tmp_path):
    import mlflow

    clone, env = fresh_clone
    run = fresh_clone.run
    dvc = [sys.executable, "-m", "dvc"]
    _set_params(clone / "params.yaml", QUICK_TRAINING)
    run(["git", "commit", "-qam", "quick training"])
    first = run([*dvc, "repro"])
    assert _ran(first) == ["curate", "validate", "synthesize", "validate_synthetic", "model_init", "train_shallow",
                           "train_deep", "train_instruct", "rl", *[f"evaluate@{c}" for c in CHECKPOINTS], "report"]
    for checkpoint in CHECKPOINTS:
        suite = json.loads((clone / f"metrics/eval/{checkpoint}.json").read_text())
        assert {b["n"] for b in suite["benchmarks"].values()} == {4}
        assert len((clone / f"eval/{checkpoint}/vqa_rad/predictions.jsonl").read_text().splitlines()) == 4
    assert table_files(clone / "data/curated")["medical_multimodal"]  # data/curated/<group>/part-*.parquet
    assert (clone / "reports/validation/curated.html").exists()
    assert (clone / "reports/validation_synthetic/synthetic.html").exists()
    synth = json.loads((clone / "metrics/synthesize.json").read_text())
    assert synth["generators"]["vqa_template"]["accepted"] > 0 and "cot" in synth["skipped"]
    for stage in CHECKPOINTS:
        assert (clone / "models" / stage / "model.safetensors").exists()
    assert (clone / "plots/train/instruct_loss.csv").read_text().startswith("step,loss")
    rl = json.loads((clone / "metrics/rl.json").read_text())
    assert rl["rl/rollouts"] == 2 and rl["selection/inputs"] == rl["selection/kept"] + sum(
        v for k, v in rl.items() if k.startswith("selection/rejected/"))
    assert len((clone / "plots/rl/rewards.csv").read_text().splitlines()) == 3
    report = json.loads((clone / "metrics/report.json").read_text())
    assert {"rl/vqa_rad/delta", "rl/vqa_rad/ci_low", "rl/group/text_qa/delta"} <= set(report)
    assert "rl vs instruct" in (clone / "reports/summary.md").read_text()
    assert (clone / "plots/report/progression.png").read_bytes()[:4] == b"\x89PNG"

    second = run([*dvc, "repro"])
    assert _ran(second) == []

    _set_params(clone / "params.yaml", {"train.instruct.lr.language_model": 0.002})
    third = run([*dvc, "repro"])
    assert _ran(third) == ["train_instruct", "rl", "evaluate@instruct", "evaluate@rl", "report"]

    _set_params(clone / "params.yaml", {"curate.near_dup_threshold": 0.8})
    fourth = run([*dvc, "repro"])
    assert _ran(fourth)[:2] == ["curate", "validate"]
    for shards in (3, 1):  # how curation is spread over Ray tasks, never what it keeps: not a dep
        _set_params(clone / "params.yaml", {"curate.ray.shards_per_source": shards})
        assert _ran(run([*dvc, "repro"])) == []

    mlflow.set_tracking_uri(env["MLFLOW_TRACKING_URI"])
    runs = mlflow.search_runs(experiment_names=["lingshu"], order_by=["attributes.start_time ASC"])
    stages = list(runs["tags.dvc.stage"])
    assert stages[:20] == ["curate", "validate", "synthesize", "validate_synthetic", "model_init", "train_shallow",
                           "train_deep", "train_instruct", "rl", *[f"evaluate@{c}" for c in CHECKPOINTS], "report",
                           "train_instruct", "rl", "evaluate@instruct", "evaluate@rl", "report"]
    pipelines = list(runs["tags.lingshu.pipeline_id"])
    assert len(set(pipelines[:15])) == 1 and pipelines[14] != pipelines[15] != pipelines[20]
    assert set(runs["status"]) == {"FINISHED"}

    client = mlflow.MlflowClient()
    synthesize_run = runs.iloc[2]
    assert synthesize_run["metrics.generators.vqa_template.attempts"] == (synthesize_run["metrics.generators.vqa_template.accepted"]
                                                             + synthesize_run["metrics.generators.vqa_template.rejected"])
    assert {Path(a.path).name for a in client.list_artifacts(synthesize_run["run_id"], "plots")} == {"gallery.png", "yield.csv"}
    for index in (5, 6, 7):  # each training stage's loss curve is in its MLflow run
        history = client.get_metric_history(runs.iloc[index]["run_id"], "train/loss")
        assert len(history) == 3 and all(h.value > 0 for h in history)
    rl_run = runs.iloc[8]
    assert len(client.get_metric_history(rl_run["run_id"], "reward")) == 2
    assert rl_run["metrics.selection/kept"] > 0 and "metrics.kl" in runs.columns
    assert {Path(a.path).name for a in client.list_artifacts(rl_run["run_id"])} >= {"completions.json", "plots"}
    instruct = runs.iloc[15]
    assert instruct["params.instruct.lr.language_model"] == "0.002"
    assert instruct["metrics.trainable_params/language_model"] > 0
    assert runs.iloc[5]["metrics.trainable_params/language_model"] == 0  # shallow: LLM frozen
    assert "metrics.vqa/accuracy" in runs.columns and "metrics.heldout/caption_loss" in runs.columns

    evaluation = runs.iloc[12]
    assert evaluation["tags.lingshu.checkpoint"] == "instruct" and "metrics.vqa_rad/accuracy" in runs.columns
    report_run = runs.iloc[14]
    assert "metrics.rl/group/text_qa/delta" in runs.columns and report_run["tags.dvc.stage"] == "report"
    assert {"summary.md", "plots"} <= {Path(a.path).name for a in client.list_artifacts(report_run["run_id"])}

    curate_run = runs.iloc[20]
    assert curate_run["params.near_dup_threshold"] == "0.8"
    assert curate_run["metrics.inputs"] == curate_run["metrics.kept"] + curate_run["metrics.rejected"]
    assert len(curate_run["tags.mlflow.source.git.commit"]) == 40
    logged = {i.dataset.name for i in client.get_run(curate_run["run_id"]).inputs.dataset_inputs}
    assert "data/sources/vqa_rad/vqa_rad.json" in logged  # the run's Dataset column names what it read
    assert "models/instruct" in {i.dataset.name for i in client.get_run(evaluation["run_id"]).inputs.dataset_inputs}
    artifacts = client.list_artifacts(curate_run["run_id"], "plots")
    assert {Path(a.path).name for a in artifacts} == {"distribution.png", "distribution.csv"}

    # Declared ablations run as queued DVC experiments. A variant of the instruction mixture re-runs
    # instruction tuning and its evaluation only; every other stage comes from the cache.
    lingshu = [sys.executable, "-m", "lingshu.cli", "ablate", "--resamples", "200"]
    refused = subprocess.run([*lingshu, "--only", "no-general-text"], cwd=clone, env=env, capture_output=True, text=True)
    assert refused.returncode != 0 and "must be committed" in refused.stderr  # variants start from the last commit
    for cmd in (["git", "add", "-A"], ["git", "commit", "-qm", "full model"]):
        run(cmd)
    run([*lingshu, "--only", "no-general-text", "no-alignment", "rl-vs-sft"])
    for variant in ("no-general-text", "no-alignment"):
        variant_stages = mlflow.search_runs(experiment_names=["lingshu"], filter_string=f"tags.`dvc.exp_name` = '{variant}'")
        assert sorted(variant_stages["tags.dvc.stage"]) == ["evaluate@instruct", "train_instruct"]
    # `train.instruct.init_from: base` (a stage name): instruct re-ran from models/base, and the lock says so
    from lingshu.report.experiments import finished

    lock = yaml.safe_load(run(["git", "show", f"{finished(clone)['no-alignment'].rev}:dvc.lock"]))
    starts = {dep["path"] for dep in lock["stages"]["train_instruct"]["deps"] if dep["path"].startswith("models/")}
    assert starts == {"models/base"}
    assert "models/deep" in {dep["path"] for dep in yaml.safe_load((clone / "dvc.lock").read_text())["stages"]["train_instruct"]["deps"]}
    assert "no-general-text" in run([*dvc, "exp", "show", "--no-pager", "--md"])
    ablations = json.loads((clone / "metrics/ablations.json").read_text())
    assert {"no-general-text/vqa_rad/delta", "no-general-text/vqa_rad/ci_low", "rl-vs-sft/group/text_qa/delta"} <= set(ablations)
    assert "no-general-text" in (clone / "reports/ablations.md").read_text()
    assert (clone / "plots/ablations/deltas.png").read_bytes()[:4] == b"\x89PNG"

    run([*lingshu, "--only", "no-general-text", "rl-vs-sft", "--report-only"])  # replaces, never duplicates
    summaries = mlflow.search_runs(experiment_names=["lingshu-ablations"])
    systems = summaries[summaries["tags.lingshu.variant"].notna()]
    # the systems it reported replaced their runs; no-alignment's run from the first report stays, once
    assert sorted(systems["tags.lingshu.variant"]) == ["full", "no-alignment", "no-general-text", "rl-vs-sft"]
    variant = systems[systems["tags.lingshu.variant"] == "no-general-text"].iloc[0]
    assert variant["params.train.instruct.groups.general_text"] == "0" and variant["tags.dvc.exp_name"] == "no-general-text"
    assert len(variant["tags.dvc.baseline_rev"]) == 40
    assert variant["metrics.vqa_rad/score"] >= 0 and "metrics.vqa_rad/delta" in summaries.columns

    _seed_replicates_rerun_only_what_the_seed_reaches(fresh_clone)
    _push_then_pull_into_a_new_clone(fresh_clone, tmp_path)


def _seed_replicates_rerun_only_what_the_seed_reaches(clone) -> None:
    """`lingshu ablate --seeds 2`: the full model's second seed re-runs training, RL and the evaluations of
    what they produce (never curation, synthesis, the base model or its evaluation); a variant's second seed
    re-runs only its own stage and evaluation, on the full model's cached stages of that seed."""
    import mlflow

    root, env = clone
    clone.run([sys.executable, "-m", "lingshu.cli", "ablate", "--seeds", "2", "--only", "no-general-text", "rl-vs-sft",
               "--resamples", "200"])
    mlflow.set_tracking_uri(env["MLFLOW_TRACKING_URI"])

    def stages_of(experiment: str) -> list[str]:
        runs = mlflow.search_runs(experiment_names=["lingshu"], filter_string=f"tags.`dvc.exp_name` = '{experiment}'")
        return sorted(runs["tags.dvc.stage"])

    assert stages_of("full-seed1") == sorted(["train_shallow", "train_deep", "train_instruct", "rl", "report",
                                              *[f"evaluate@{c}" for c in CHECKPOINTS[1:]]])
    assert stages_of("no-general-text-seed1") == ["evaluate@instruct", "train_instruct"]
    assert stages_of("no-general-text") == ["evaluate@instruct", "train_instruct"]  # seed 0 was not run again
    floor = json.loads((root / "metrics/noise_floor.json").read_text())
    assert floor["n_seeds"] == 2 and floor["checkpoints"]["base"]["vqa_rad"]["sd"] == 0  # one base model for all
    assert set(floor["checkpoints"]) == set(CHECKPOINTS) and "train_instruct" in floor["training"]
    assert {"vqa_rad", "vqa_rad/real-blank"} <= set(floor["intervals"]["instruct"])  # its own CI over seeds and questions
    report = (root / "reports/ablations.md").read_text()
    assert "over 2 training seeds" in report and "CI over 2 training seeds and the questions" in report
    ablations = json.loads((root / "metrics/ablations.json").read_text())
    assert {"no-general-text/vqa_rad/delta", "no-general-text/vqa_rad_labels/real-blank/delta"} <= set(ablations)
