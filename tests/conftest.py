"""Shared fixtures: offline, repo-local caches, curate configs that write into a temp folder, and fresh
git copies of the repo for the end-to-end tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import NamedTuple

import pytest

REPO = Path(__file__).resolve().parents[1]
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["GX_ANALYTICS_ENABLED"] = "False"
os.environ["DVC_NO_ANALYTICS"] = "1"
os.environ.setdefault("MPLCONFIGDIR", "/tmp/lingshu-mpl")


@pytest.fixture
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def ray_local():
    """One local Ray for the whole session (curation joins a Ray that is already initialised), so that each
    curating test does not pay Ray's start-up; its session files stay under /tmp."""
    import ray

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # no token in ~/.ray: the Ray listens on 127.0.0.1 only
    if not ray.is_initialized():
        ray.init(address="local", num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1",
                 _temp_dir="/tmp/ray-tests", log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


@pytest.fixture
def curate_cfg(tmp_path, ray_local):
    """The real params.yaml curate section, with every output redirected into tmp_path (curated on the
    session's local Ray)."""
    from lingshu.config import load_section

    cfg = load_section("curate", REPO / "params.yaml")
    return replace(
        cfg,
        output_dir=str(tmp_path / "curated"),
        image_store=str(tmp_path / "images"),
        rejected_dir=str(tmp_path / "rejected"),
        metrics_file=str(tmp_path / "metrics" / "curate.json"),
        plots_dir=str(tmp_path / "plots"),
    )


@pytest.fixture(autouse=True)
def _isolated_mlflow(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")


# --- a fresh copy of the repo for end-to-end runs --------------------------------------------------------

class Clone(NamedTuple):
    """A git repository holding the project's files (no DVC outputs, no dvc.lock) and the environment its
    commands run with: the venv first on PATH, MLflow logging to a sqlite store inside it."""

    root: Path
    env: dict[str, str]

    def run(self, cmd: list[str], cwd: Path | None = None) -> str:
        """Run `cmd` in the clone (or `cwd`); fail the test with the output's tail unless it succeeds."""
        out = subprocess.run(cmd, cwd=cwd or self.root, env=self.env, capture_output=True, text=True, timeout=900)
        assert out.returncode == 0, f"{cmd} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
        return out.stdout + out.stderr


@pytest.fixture
def fresh_clone(tmp_path) -> Clone:
    """The repo's git-tracked and untracked-but-not-ignored files, committed to a new git repo in tmp_path."""
    root = tmp_path / "clone"
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                           capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, files):
        if (REPO / name).is_file():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, root / name)
    (root / "dvc.lock").unlink(missing_ok=True)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
           "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}", "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    env.pop("DVC_ROOT", None)
    clone = Clone(root, env)
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", "clone"]):
        clone.run(cmd)
    return clone


# --- training fixtures: a small curated corpus from real VQA-RAD records and a tiny model -------------

TINY = {"vocab_size": 600, "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2,
        "num_key_value_heads": 1, "intermediate_size": 128, "vision_hidden_size": 32, "vision_depth": 2,
        "vision_heads": 2, "vision_intermediate_size": 64}


def _write_mini_corpus(root: Path) -> None:
    """medical_multimodal (VQA), medical_caption and general_text tables, real VQA-RAD images in a store."""
    import json

    from lingshu.data.schema import ARROW_SCHEMA, Sample
    from lingshu.data.sources.common import qa_turns
    from lingshu.data.store import ImageStore
    from lingshu.io import write_parquet

    records = json.loads((REPO / "data/sources/vqa_rad/vqa_rad.json").read_text())[:40]
    store = ImageStore(root / "data/images")
    vqa, captions, seen = [], [], set()
    for i, r in enumerate(records):
        store.stage(r["image_name"], (REPO / "data/sources/vqa_rad/images" / r["image_name"]).read_bytes())
        split = "test" if i % 4 == 0 else "train"
        meta = {k: r[k] for k in ("question", "answer", "answer_type", "question_type", "qid")}
        vqa.append(Sample(f"vqa_rad:{i}", "vqa_rad", "medical_multimodal", "vqa", qa_turns(r["question"], r["answer"], 1),
                          [r["image_name"]], split=split, meta=meta))
        if r["image_name"] not in seen:
            seen.add(r["image_name"])
            text = f"MedPix teaching-case image of the {r['image_organ'].lower()}, seen in case {len(seen)}."
            captions.append(Sample(f"cap:{i}", "vqa_rad", "medical_caption", "caption",
                                   qa_turns("Describe this medical image.", text, 1), [r["image_name"]], split=split))
    chat = [Sample(f"gen:{i}", "gen", "general_text", "dialogue", qa_turns(f"What is {i} plus {i}?", str(2 * i), 0))
            for i in range(24)]
    for name, samples in (("medical_multimodal", vqa), ("medical_caption", captions), ("general_text", chat)):
        write_parquet(root / f"data/curated/{name}/part-000-00000.parquet", [s.to_row() for s in samples], ARROW_SCHEMA)
    store.pack(store.staged())


@pytest.fixture(scope="session")
def mini_repo(tmp_path_factory) -> Path:
    """A repo-shaped folder with a small curated corpus and models/base holding a tiny Qwen2.5-VL."""
    from lingshu.model.config import ModelConfig, TinyConfig
    from lingshu.model.factory import initialise, save

    root = tmp_path_factory.mktemp("mini_repo")
    _write_mini_corpus(root)
    cfg = ModelConfig(tiny=TinyConfig(**TINY))
    model, processor = initialise(cfg, root)
    save(model, processor, root / "models/base")
    return root


def make_stage_cfg(**overrides):
    """A StageConfig for quick runs on mini_repo: all modules train, no warm-up, small batches."""
    from lingshu.model.config import Trainable
    from lingshu.train.config import LearningRates, StageConfig

    base = dict(init_from="base", checkpoint_dir="checkpoints/out", groups={"medical_multimodal": 1, "general_text": 1},
                tasks=[], require_images=False, trainable=Trainable.everything(),
                lr=LearningRates(vision=2e-4, projector=5e-4, language_model=1e-3), batch_size=4, grad_accum=1,
                warmup_steps=0, max_length=256, checkpoint_every=2, epochs=1, packing=False, evaluate_vqa=False,
                metrics_file="metrics/out.json", plots_file="plots/out.csv")
    return StageConfig(**(base | overrides))


@pytest.fixture
def stage_cfg():
    return make_stage_cfg


# --- a training run killed mid-way, for the resume tests ------------------------------------------------

KILLER = """
import importlib, json, os, signal, sys
from pathlib import Path
import pytorch_lightning as pl
from omegaconf import OmegaConf
from lingshu.train.config import CommonTrainConfig

repo, cfg_json, common_json, at_step, schema_path, fit_path, output = sys.argv[1:8]


def named(path):
    module, name = path.split(":")
    return getattr(importlib.import_module(module), name)


def load(schema, text):
    return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(schema), json.loads(text)))


class Kill(pl.Callback):
    def on_train_batch_end(self, trainer, *args):
        if trainer.global_step == int(at_step):
            os.kill(os.getpid(), signal.SIGKILL)


named(fit_path)(load(CommonTrainConfig, common_json), load(named(schema_path), cfg_json), Path(repo), Path(output),
                progress=False, callbacks=[Kill()])
"""


def run_and_kill(repo: Path, cfg, output: Path, at_step: int, fit: str = "lingshu.train.run:fit_stage", common=None):
    """Run `fit(common, cfg, repo, output)` in a child process that SIGKILLs itself once the optimiser reaches
    `at_step`."""
    import json
    import subprocess
    import sys
    from dataclasses import asdict

    from lingshu.train.config import CommonTrainConfig

    schema = f"{type(cfg).__module__}:{type(cfg).__name__}"
    args = [str(repo), json.dumps(asdict(cfg)), json.dumps(asdict(common or CommonTrainConfig())), str(at_step), schema, fit,
            str(output)]
    return subprocess.run([sys.executable, "-c", KILLER, *args], capture_output=True, text=True)
