"""A real chat-completions server on 127.0.0.1 for tests of the clients that talk to one.

Why a real server: retries, timeouts, headers, concurrency and error bodies are only tested honestly
through real HTTP. It answers POST /v1/chat/completions with `answer(body) -> reply text` (an assertion
failing inside `answer` becomes a 422 and is recorded in `errors`), reports usage tokens, records every
request, measures how many requests were in flight at once, and fails on cue: `script` holds statuses
for the next calls, one per call (None = answer normally), and `always` a status for every call after.

Use it as a context manager: `with ChatServer(answer) as server: ... server.url ...`.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable


def words(text: str) -> int:
    """The server's token count: whitespace-separated words."""
    return len(text.split())


def texts(message: dict) -> list[str]:
    """The text of a message: its string content, or its text parts in order."""
    content = message["content"]
    return [content] if isinstance(content, str) else [p["text"] for p in content if p["type"] == "text"]


def echo(body: dict) -> str:
    """The default answer: the last text of the last message, upper-cased."""
    return texts(body["messages"][-1])[-1].upper()


def usage_in_words(body: dict, reply: str) -> dict:
    """prompt_tokens = words of every text in the messages, completion_tokens = words of the reply."""
    prompt = sum(words(t) for message in body["messages"] for t in texts(message))
    return {"prompt_tokens": prompt, "completion_tokens": words(reply), "total_tokens": prompt + words(reply)}


class ChatServer:
    def __init__(self, answer: Callable[[dict], str] = echo, usage: Callable[[dict, str], dict] | None = usage_in_words,
                 delay: Callable[[str], float] = lambda reply: 0.01 + 0.003 * (len(reply) % 7)):
        self.answer, self.usage, self.delay = answer, usage, delay  # delay: seconds in flight, varied = out of order
        self.script: list[int | None] = []
        self.always: int | None = None
        self.lock = threading.Lock()
        self.calls = 0
        self.in_flight = self.max_in_flight = 0
        self.bodies: list[dict] = []
        self.auth: list[str | None] = []
        self.errors: list[str] = []
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    def __enter__(self) -> "ChatServer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                with server.lock:
                    server.calls += 1
                    server.auth.append(self.headers.get("Authorization"))
                    status = server.script.pop(0) if server.script else server.always
                if self.path != "/v1/chat/completions":
                    return self._send(404, {"error": {"message": f"no route {self.path}"}})
                if status:
                    return self._send(status, {"error": {"message": f"simulated failure {status}"}})
                try:
                    body = json.loads(raw)
                    with server.lock:
                        server.bodies.append(body)
                    reply = server.answer(body)
                except Exception as error:  # noqa: BLE001 - reported to the test through server.errors
                    server.errors.append(repr(error))
                    return self._send(422, {"error": {"message": f"invalid request: {error!r}"}})
                with server.lock:  # counted before the reply leaves, so a client's next call cannot overlap
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                time.sleep(server.delay(reply))
                with server.lock:
                    server.in_flight -= 1
                payload = {"id": "x", "object": "chat.completion",
                           "choices": [{"index": 0, "finish_reason": "stop",
                                        "message": {"role": "assistant", "content": reply}}]}
                if server.usage is not None:
                    payload["usage"] = server.usage(body, reply)
                self._send(200, payload)

            def _send(self, status, payload):
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler
