"""An evaluation's output folder: one writer at a time (an OS lock that dies with its process), and predictions
reused only by the model and settings that made them, on the CLI exactly as in the `evaluate` stage."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from lingshu.eval.outdir import LOCK, FolderBusy, FolderTaken, claim, locked, run_key, start_or_resume
from lingshu.fingerprint import fingerprint

HOLD = """
import sys, time
from pathlib import Path
from lingshu.eval.outdir import locked
with locked(Path(sys.argv[1])):
    print("held", flush=True)
    time.sleep(120)
"""


@pytest.fixture
def holder(tmp_path):
    """A separate process holding the lock of tmp_path/out until it is killed."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path / "out")], stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout.readline().strip() == "held"
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def test_a_second_writer_stops_at_once_naming_the_holder_and_a_killed_holder_frees_the_folder(tmp_path, holder):
    out = tmp_path / "out"
    busy = rf"{re.escape(str(out))} is being written by process {holder.pid} on .* since .*\(-c {re.escape(str(out))}\)"
    with pytest.raises(FolderBusy, match=busy):
        with locked(out):
            pass
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    with locked(out):
        assert json.loads((out / LOCK).read_text())["pid"] == os.getpid()
    assert (out / LOCK).read_text() == "", "a finished run leaves an empty lock file"


def test_the_cli_refuses_a_locked_out_folder(tmp_path, holder):
    from lingshu.cli import main

    with pytest.raises(SystemExit, match=rf"lingshu eval: .*out is being written by process {holder.pid}"):
        main(["eval", "--rescore", "--out", str(tmp_path / "out"), "--benchmarks", "medqa"])


def weights(folder: Path, content: bytes) -> Path:
    folder.mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(content)
    return folder


def test_the_cli_fingerprint_is_the_stage_fingerprint(tmp_path):
    settings = {"protocol": "strict", "backend": "hf", "max_new_tokens": 16, "dtype": "auto"}
    model = weights(tmp_path / "m", b"one")
    assert run_key(str(model), settings) == fingerprint(settings, model)
    assert run_key(str(model), settings | {"max_new_tokens": 17}) != run_key(str(model), settings)
    assert run_key("org/not-cached", settings) != run_key("org/other", settings)


def test_predictions_made_by_other_code_are_not_resumed(tmp_path, monkeypatch):
    import lingshu.fingerprint

    package = tmp_path / "package"
    (package / "eval").mkdir(parents=True)
    (package / "eval/prompts.py").write_text("TEMPLATE = 'Answer: {question}'\n")
    first = lingshu.fingerprint.code_fingerprint(package)
    (package / "eval/prompts.py").write_text("TEMPLATE = 'Question: {question}'\n")
    lingshu.fingerprint.code_fingerprint.cache_clear()
    assert lingshu.fingerprint.code_fingerprint(package) != first
    (package / "eval/prompts.py").rename(package / "eval/layout.py")
    lingshu.fingerprint.code_fingerprint.cache_clear()
    assert len({first, lingshu.fingerprint.code_fingerprint(package)}) == 2

    settings = {"protocol": "strict", "backend": "hf", "max_new_tokens": 16, "dtype": "auto"}
    model, out = weights(tmp_path / "m", b"untrained weights never change"), tmp_path / "out"
    with locked(out):
        start_or_resume(out, run_key(str(model), settings))
        (out / "vqa_rad").mkdir()
        monkeypatch.setattr(lingshu.fingerprint, "code_fingerprint", lambda package=None: "the next commit's code")
        assert start_or_resume(out, run_key(str(model), settings)) is False and not (out / "vqa_rad").exists()
    mine, about = tmp_path / "cli-out", {"model": str(model), **settings}
    monkeypatch.undo()
    claim(mine, run_key(str(model), settings), about)
    (mine / "vqa_rad").mkdir()
    (mine / "vqa_rad/predictions.jsonl").write_text('{"id": "1"}\n')
    monkeypatch.setattr(lingshu.fingerprint, "code_fingerprint", lambda package=None: "the next commit's code")
    with pytest.raises(FolderTaken, match="the model's weights or lingshu's code changed since"):
        claim(mine, run_key(str(model), settings), about)


def test_claim_resumes_only_the_same_run_and_never_empties_a_folder_it_did_not_write(tmp_path):
    out, about = tmp_path / "out", {"model": "a", "protocol": "strict"}
    assert claim(out, "key-a", about) is False
    (out / "medqa").mkdir()
    (out / "medqa/predictions.jsonl").write_text('{"id": "1"}\n')
    assert claim(out, "key-a", about) is True and (out / "medqa/predictions.jsonl").exists()
    with pytest.raises(FolderTaken, match=r"holds predictions made by another model or other settings \(model 'a' there, 'b' now\)"):
        claim(out, "key-b", about | {"model": "b"})
    assert (out / "medqa/predictions.jsonl").exists(), "refusing keeps them"
    assert claim(out, "key-b", about | {"model": "b"}, fresh=True) is False
    assert not (out / "medqa").exists() and json.loads((out / "run.json").read_text())["model"] == "b"
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    with pytest.raises(FolderTaken, match="not empty and holds no evaluation"):
        claim(mine, "key", about, fresh=True)
    assert (mine / "notes.txt").read_text() == "keep me"


def test_the_stage_empties_a_stale_folder_but_keeps_its_lock(tmp_path):
    out = tmp_path / "out"
    with locked(out):
        assert start_or_resume(out, "k1") is False
        (out / "vqa_rad").mkdir()
        assert start_or_resume(out, "k1") is True and (out / "vqa_rad").exists()
        assert start_or_resume(out, "k2") is False
        assert sorted(p.name for p in out.iterdir()) == [LOCK, "fingerprint"]


def _other_weights(model: Path, target: Path) -> Path:
    """A copy of `model` with one weight changed: another model under the same architecture."""
    import shutil

    from safetensors.torch import load_file, save_file

    shutil.copytree(model, target)
    for file in target.glob("*.safetensors"):
        tensors = load_file(file)
        name = sorted(tensors)[0]
        tensors[name] = tensors[name] + 1
        save_file(tensors, file, metadata={"format": "pt"})
    return target


def test_a_model_pointed_at_another_models_folder_is_refused_and_fresh_starts_over(mini_repo, repo, tmp_path, capsys):
    from lingshu.cli import main

    out, base = tmp_path / "eval", mini_repo / "models/base"
    other = _other_weights(base, tmp_path / "other")
    common = ["eval", "--benchmarks", "medqa", "--limit", "3", "--out", str(out), "--root", str(repo), "--max-new-tokens", "3"]
    assert main([*common, "--model", str(base)]) == 0
    made = (out / "medqa/predictions.jsonl").read_text()
    assert main([*common, "--model", str(base)]) == 0 and (out / "medqa/predictions.jsonl").read_text() == made
    with pytest.raises(SystemExit, match=r"holds predictions made by another model .*model '.*base' there, '.*other' now.*--fresh"):
        main([*common, "--model", str(other)])
    with pytest.raises(SystemExit, match=r"max_new_tokens 3 there, 4 now"):
        main([*common[:-1], "4", "--model", str(base)])
    assert (out / "medqa/predictions.jsonl").read_text() == made, "a refused run changes nothing"
    assert main([*common, "--model", str(other), "--fresh"]) == 0
    assert json.loads((out / "run.json").read_text())["model"] == str(other)
    assert len((out / "medqa/predictions.jsonl").read_text().splitlines()) == 3
