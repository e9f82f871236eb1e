"""Credentials never reach what a run writes down: params, tags, text artifacts, stage logs, error messages."""

from __future__ import annotations

import json
import logging
import sys

import pytest
from chat_server import ChatServer

from lingshu.redact import redact

KEY = "sk-proj-REDACT-ME-0123456789abcdefXYZ"   # an OpenAI-shaped key
HF = "hf_" + "a1B2c3D4e5" * 4                    # a Hugging Face-shaped token
PASSWORD = "pa55-w0rd-9f8e7d"


def test_redact_masks_by_value_by_shape_and_in_urls(monkeypatch):
    monkeypatch.setenv("MY_SERVICE_API_KEY", "plain-looking-secret-value")
    text = (f"key {KEY} token {HF} auth: Bearer abc.def-123456 url https://bob:{PASSWORD}@host:8443/v1 "
            "env plain-looking-secret-value; max_new_tokens 16, http://127.0.0.1:8000/v1")
    masked = redact(text)
    for secret in (KEY, HF, "abc.def-123456", PASSWORD, "plain-looking-secret-value"):
        assert secret not in masked
    assert "https://bob:***@host:8443/v1" in masked and "Bearer ***" in masked
    assert "max_new_tokens 16, http://127.0.0.1:8000/v1" in masked  # ordinary text is left alone


def test_a_stage_run_masks_its_tags_text_artifacts_and_output(tmp_path, monkeypatch, capsys):
    import mlflow

    from lingshu.config import TrackingConfig
    from lingshu.tracking import log_artifact, set_tags, stage_run

    monkeypatch.chdir(tmp_path)
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setenv("JUDGE_TOKEN", KEY)
    report = tmp_path / "report.json"
    report.write_text(json.dumps({"judge": f"https://judge:{PASSWORD}@example.org/v1", "note": "ok"}))
    table = tmp_path / "plots"
    table.mkdir()
    (table / "rows.csv").write_text(f"id,error\n1,401 for key {KEY}\n")
    logger = logging.getLogger("lingshu.test")
    logger.addHandler(logging.StreamHandler(sys.stderr))
    with stage_run("demo", {"endpoint": f"http://u:{PASSWORD}@h/v1"}, TrackingConfig()) as run:
        set_tags({"note": f"called with {KEY}"})
        log_artifact(report)
        log_artifact(table, "plots")
        print(f"stdout: retrying https://u:{PASSWORD}@h/v1 with {KEY}")
        print(f"stderr: {HF}", file=sys.stderr)
        logger.warning("log: Bearer %s", KEY)
    out = capsys.readouterr()
    printed = out.out + out.err
    assert "stdout: retrying https://u:***@h/v1 with ***" in printed and "stderr: ***" in printed
    assert "log: Bearer ***" in printed
    recorded = mlflow.get_run(run.info.run_id)
    assert recorded.data.tags["note"] == "called with ***" and recorded.data.params["endpoint"] == "http://u:***@h/v1"
    folder = mlflow.artifacts.download_artifacts(run_id=run.info.run_id, dst_path=str(tmp_path / "back"))
    logged = "".join(p.read_text() for p in (tmp_path / "back").rglob("*") if p.is_file())
    assert "report.json" in str(list((tmp_path / "back").rglob("*"))) and "plots/rows.csv" in str(list((tmp_path / "back").rglob("*.csv")))
    assert KEY not in logged and PASSWORD not in logged and folder
    assert PASSWORD in report.read_text(), "the file itself is the stage's output and stays as written"
    assert sys.stdout is not None and not type(sys.stdout).__name__.startswith("Redacting")  # restored afterwards


def test_a_password_in_the_base_url_is_sent_as_basic_auth_and_never_shown(monkeypatch):
    from lingshu.chat_http import ChatCompletionsClient, ChatCompletionsError

    monkeypatch.delenv("NO_SUCH_KEY", raising=False)
    with ChatServer() as server:
        url = server.url.replace("http://", f"http://alice:{PASSWORD}@")
        client = ChatCompletionsClient(url, "NO_SUCH_KEY", retries=0, timeout=10)
        client.post({"model": "m", "messages": [{"role": "user", "content": "hi"}]})
        assert server.auth[-1].startswith("Basic ") and PASSWORD not in repr(client)
        server.always = 503
        with pytest.raises(ChatCompletionsError) as failure:
            client.post({"model": "m", "messages": [{"role": "user", "content": "hi"}]})
    assert "alice:***@127.0.0.1" in str(failure.value) and PASSWORD not in str(failure.value)
