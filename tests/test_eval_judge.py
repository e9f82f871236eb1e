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


def test_judge_upgrades_open_answers_counts_errors_and_caches(judge_server, tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    backend = make_backend("openai", "judge-model", base_url=judge_server.url, max_new_tokens=4, retries=0)
    path = _predictions(tmp_path)
    bench = discover()["vqa_rad"]
    plain = summarise(bench, path, "strict")
    judged = summarise(bench, path, "strict", judge=LLMJudge(backend, "judge-model", tmp_path / "cache.jsonl"))
    assert plain["score"] == 20.0 and judged["score"] == 40.0
    assert judged["judge"] == {"model": "judge-model", "open_answers_judged": 3, "unparsed_choices_judged": 0,
                               "judge_errors": 1}
    assert judge_server.calls == 3
    again = summarise(bench, path, "strict", judge=LLMJudge(backend, "judge-model", tmp_path / "cache.jsonl"))
    assert again["score"] == 40.0 and judge_server.calls == 4, "only the errored sample is asked again"


def test_unreachable_judge_is_reported_not_scored(tmp_path):
    backend = make_backend("openai", "judge-model", base_url="http://127.0.0.1:9", max_new_tokens=4, retries=0)
    judged = summarise(discover()["vqa_rad"], _predictions(tmp_path), "strict",
                       judge=LLMJudge(backend, "judge-model", tmp_path / "cache.jsonl"))
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
    judged = summarise(bench, path, "strict", judge=LLMJudge(backend, "judge-model", tmp_path / "cache.jsonl"))
    assert judged["score"] == 50.0 and judged["parse_fail_rate"] == 50.0
    assert judged["judge"]["unparsed_choices_judged"] == 3 and judged["judge"]["judge_errors"] == 1
    assert judge_server.calls == 3
    assert summarise(bench, path, "strict")["score"] == 25.0  # without the judge: only the bare letter counts
