"""The optional LLM judge: a real HTTP server on 127.0.0.1 plays the judge model."""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from lingshu.eval.backends import make_backend
from lingshu.eval.benchmark import discover
from lingshu.eval.judge import LLMJudge
from lingshu.eval.runner import summarise


class JudgeServer:
    """Says `correct` when the reference appears in the model answer, and babbles for 'ambiguous'."""

    def __init__(self):
        self.calls = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.calls += 1
                text = body["messages"][0]["content"][-1]["text"]
                if text.startswith("Which option"):
                    answer = re.search(r"Answer: (.*)\n", text).group(1).lower()
                    reply = "B" if "second" in answer else ("none" if "nothing" in answer else "maybe C?")
                    return self._reply(reply)
                reference = re.search(r"Reference answer: (.*)\n", text).group(1).lower()
                answer = re.search(r"Model answer: (.*)\n", text).group(1).lower()
                reply = "I am not sure" if answer == "ambiguous" else ("correct" if reference in answer else "incorrect")
                self._reply(reply)

            def _reply(self, reply):
                payload = json.dumps({"choices": [{"message": {"role": "assistant", "content": reply}}]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture
def judge_server():
    server = JudgeServer()
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()


def _predictions(tmp_path):
    path = tmp_path / "vqa_rad" / "predictions.jsonl"
    path.parent.mkdir()
    rows = [("1", "open", "the left lung base", "left lung"),   # exact match misses it; the judge accepts it
            ("2", "open", "right kidney", "left lung"),          # wrong either way
            ("3", "open", "ambiguous", "pa"),                    # the judge babbles: a judge error
            ("4", "open", "axial", "axial"),                     # exact match: never sent to the judge
            ("5", "yes_no", "no", "yes")]                        # not open: never judged
    path.write_text("".join(json.dumps({"id": i, "prompt_hash": "h", "kind": k, "prompt": "Q?", "response": r,
                                        "answer": a, "options": {}, "fields": {}}) + "\n" for i, k, r, a in rows))
    return path


def test_judge_upgrades_open_answers_counts_errors_and_keeps_its_verdicts_in_the_predictions(judge_server, tmp_path,
                                                                                          monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    backend = make_backend("openai", "judge-model", base_url=judge_server.url, max_new_tokens=4, retries=0)
    path = _predictions(tmp_path)
    bench = discover()["vqa_rad"]
    plain = summarise(bench, path, "strict")
    before = path.read_bytes()
    judged = summarise(bench, path, "strict", judge=LLMJudge(backend, "judge-model"), store="verdicts")
    assert plain["score"] == 20.0 and judged["score"] == 40.0
    report = judged["judge"]
    assert (report["model"], report["prompt_version"], report["open_answers_judged"], report["judge_errors"]) == \
        ("judge-model", 1, 3, 1)
    assert report["by_kind"] == {"open": {"score": 50.0, "n": 4, "judged": 2},    # 1 and 2: the judge decided
                                 "closed": {"score": 0.0, "n": 1, "judged": 0},
                                 "overall": {"score": 40.0, "n": 5, "judged": 2}}
    assert judge_server.calls == 3
    stored = {r["id"]: r for r in map(json.loads, path.read_text().splitlines())}
    assert stored["1"]["judge_verdicts"]["judge-model@v1"]["reply"] == "correct"
    assert stored["2"]["judge_verdicts"]["judge-model@v1"]["reply"] == "incorrect"
    assert "judge_verdicts" not in stored["3"] and "judge_verdicts" not in stored["4"]
    assert [{k: v for k, v in r.items() if k != "judge_verdicts"} for r in stored.values()] == \
        [json.loads(line) for line in before.decode().splitlines()], "a rescoring stores verdicts, never scores"
    again = summarise(bench, path, "strict", judge=LLMJudge(backend, "judge-model"), store="verdicts")
    assert again["score"] == 40.0 and judge_server.calls == 4, "only the errored sample is asked again"
    LLMJudge(backend, "another-judge").judge([stored["1"]])
    assert judge_server.calls == 5, "verdicts are kept per judge model"
    changed = stored["1"] | {"response": "the right lung base"}
    LLMJudge(backend, "judge-model").judge([changed])
    assert judge_server.calls == 6, "a new response is asked again"
    with pytest.raises(ValueError, match="eval.judge.prompt_version is 7"):
        LLMJudge(backend, "judge-model", prompt_version=7)


def test_unreachable_judge_is_reported_not_scored(tmp_path):
    backend = make_backend("openai", "judge-model", base_url="http://127.0.0.1:9", max_new_tokens=4, retries=0)
    judged = summarise(discover()["vqa_rad"], _predictions(tmp_path), "strict", judge=LLMJudge(backend, "judge-model"))
    assert judged["score"] == 20.0 and judged["judge"]["judge_errors"] == 3


def test_judge_is_the_third_step_of_the_multiple_choice_cascade(judge_server, tmp_path):
    backend = make_backend("openai", "judge-model", base_url=judge_server.url, max_new_tokens=4, retries=0)
    path = tmp_path / "medqa" / "predictions.jsonl"
    path.parent.mkdir()
    options = {"A": "aspirin", "B": "warfarin", "C": "heparin"}
    rows = [("1", "B", "B"),                                  # a letter: the rules decide, no judge call
            ("2", "I would pick the second drug", "B"),       # unparsed -> judge says B -> correct
            ("3", "nothing fits", "A"),                       # unparsed -> judge says none -> stays UNPARSED
            ("4", "hmm", "C")]                                # unparsed -> judge babbles -> judge error
    path.write_text("".join(json.dumps({"id": i, "prompt_hash": "h", "kind": "mcq", "prompt": "Q?", "response": r,
                                        "answer": a, "options": options, "fields": {}}) + "\n" for i, r, a in rows))
    bench = discover()["medqa"]
    judged = summarise(bench, path, "strict", judge=LLMJudge(backend, "judge-model"))
    assert judged["score"] == 50.0 and judged["parse_fail_rate"] == 50.0
    assert judged["judge"]["unparsed_choices_judged"] == 3 and judged["judge"]["judge_errors"] == 1
    assert judged["judge"]["by_kind"]["closed"] == {"score": 50.0, "n": 4, "judged": 1}
    assert judged["judge"]["by_kind"]["open"] == {"score": None, "n": 0, "judged": 0}
    assert judge_server.calls == 3
    assert summarise(bench, path, "strict")["score"] == 25.0  # without the judge: only the bare letter counts


@pytest.fixture
def stage_repo(mini_repo, repo, tmp_path):
    """A repo folder for the evaluate stage: models/base is mini_repo's tiny model, VQA-RAD the real one."""
    root = tmp_path / "repo"
    (root / "models").mkdir(parents=True)
    (root / "models" / "base").symlink_to(mini_repo / "models" / "base")
    (root / "data" / "sources").mkdir(parents=True)
    (root / "data" / "sources" / "vqa_rad").symlink_to(repo / "data" / "sources" / "vqa_rad")
    return root


def _stage(root, judge: str = ""):
    from lingshu.config import TrackingConfig, load_section
    from lingshu.eval.stage import run_eval_stage

    params = root / "params.yaml"
    params.write_text("eval:\n  benchmarks: [vqa_rad]\n  controls: []\n  limit: 12\n  batch_size: 12\n"
                      "  max_new_tokens: 4\n  dtype: float32\n" + judge)
    run_eval_stage("base", load_section("eval", params), TrackingConfig(), root)
    predictions = root / "eval" / "base" / "vqa_rad" / "predictions.jsonl"
    return predictions.read_bytes(), json.loads((root / "metrics" / "eval" / "base.json").read_text())


def test_the_evaluate_stage_judges_from_params_and_an_unset_judge_changes_nothing(stage_repo, monkeypatch):
    """eval.judge in params makes the DVC stage judge through a real chat server (the key sent from the variable
    its api_key_env names); the verdicts land in predictions.jsonl, open/closed/overall are reported with
    counts, a rerun asks nothing again, and unsetting the judge gives back the unjudged outputs byte for byte."""
    from chat_server import ChatServer, texts

    monkeypatch.setenv("LINGSHU_TEST_JUDGE_KEY", "sk-judge-test")
    plain_predictions, plain_suite = _stage(stage_repo)
    assert "judge" not in plain_suite["benchmarks"]["vqa_rad"]
    plain_metrics = (stage_repo / "eval" / "base" / "vqa_rad" / "metrics.json").read_bytes()
    rows = [json.loads(line) for line in plain_predictions.decode().splitlines()]
    wrong_open = {r["id"] for r in rows if r["kind"] == "open" and not r["correct"]}
    assert wrong_open, "the tiny model gets open questions wrong"

    with ChatServer(lambda body: "correct" if "Reference answer" in texts(body["messages"][-1])[-1] else "none") as server:
        judge = (f"  judge: {{model: judge-model, base_url: '{server.url}', api_key_env: LINGSHU_TEST_JUDGE_KEY, "
                 f"prompt_version: 1}}\n")
        judged_predictions, judged_suite = _stage(stage_repo, judge)
        calls = server.calls
        assert calls == len(wrong_open) and set(server.auth) == {"Bearer sk-judge-test"}
        _stage(stage_repo, judge)
        assert server.calls == calls, "a rerun reads the verdicts from the predictions"
    judged = {r["id"]: r for r in map(json.loads, judged_predictions.decode().splitlines())}
    assert {i for i, r in judged.items() if r.get("judged")} == wrong_open
    assert all(judged[i]["correct"] and judged[i]["judge_verdicts"]["judge-model@v1"]["reply"] == "correct"
               for i in wrong_open)
    report = judged_suite["benchmarks"]["vqa_rad"]["judge"]
    open_rows = [r for r in rows if r["kind"] == "open"]
    assert report["by_kind"]["open"] == {"score": 100.0, "n": len(open_rows), "judged": len(wrong_open)}
    assert report["by_kind"]["closed"]["n"] + len(open_rows) == report["by_kind"]["overall"]["n"] == len(rows)
    assert judged_suite["benchmarks"]["vqa_rad"]["score"] > plain_suite["benchmarks"]["vqa_rad"]["score"]

    unset_predictions, unset_suite = _stage(stage_repo)
    assert unset_suite == plain_suite
    assert (stage_repo / "eval" / "base" / "vqa_rad" / "metrics.json").read_bytes() == plain_metrics
    unset = [json.loads(line) for line in unset_predictions.decode().splitlines()]
    assert [{k: v for k, v in r.items() if k != "judge_verdicts"} for r in unset] == rows, \
        "the rule scores are back; the verdicts stay cached for a later judged run"
