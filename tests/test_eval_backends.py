"""The API backends: `openai` against a real local chat-completions server, `vllm` failing cleanly without CUDA."""

from __future__ import annotations

import base64
import importlib.util
import io
import socket
import subprocess
import sys

import pytest
from chat_server import ChatServer
from PIL import Image

from lingshu.eval.backends import Request, make_backend
from lingshu.eval.backends.openai import OpenAIBackend, OpenAIBackendError
from lingshu.eval.prompts import with_images

SECRET = "sk-test-DO-NOT-LEAK-1234567890abcdef"


def answer(body: dict) -> str:
    """Validates the body and answers `<LAST TEXT UPPER> |<n images>`."""
    assert body["model"] == "fake-model"
    assert body["temperature"] == 0 and isinstance(body["max_tokens"], int)
    (message,) = body["messages"]
    assert message["role"] == "user"
    texts, n_images = [], 0
    for part in message["content"]:
        if part["type"] == "text":
            texts.append(part["text"])
        else:
            assert part["type"] == "image_url", part["type"]
            url = part["image_url"]["url"]
            header, data = url.split(",", 1)
            fmt = header.removeprefix("data:image/").removesuffix(";base64")
            assert header.startswith("data:image/") and header.endswith(";base64"), header
            image = Image.open(io.BytesIO(base64.b64decode(data, validate=True)))
            image.load()
            assert image.format.lower() == fmt and fmt in ("png", "jpeg"), (image.format, fmt)
            n_images += 1
    assert texts, "no text part"
    return f"{texts[-1].upper()} |{n_images}"


@pytest.fixture
def server():
    with ChatServer(answer) as fake:
        yield fake


@pytest.fixture
def backend(server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)
    return make_backend("openai", "fake-model", dtype="auto", max_new_tokens=16, concurrency=4, retries=3,
                        timeout=10, backoff=0.01)


@pytest.fixture
def images(repo, tmp_path):
    png = tmp_path / "scan.png"
    Image.new("RGB", (12, 9), (200, 30, 30)).save(png)
    jpg = sorted((repo / "data/sources/vqa_rad/images").glob("*.jpg"))[0]
    tif = tmp_path / "scan.tif"  # not sent as-is: re-encoded to PNG
    Image.new("L", (5, 5), 128).save(tif)
    return png, jpg, tif


def test_batch_preserves_order_under_concurrency_with_text_and_images(backend, server, images):
    png, jpg, tif = images
    requests = [Request(with_images(f"question {i}: what is shown?" + "!" * (i % 5), n), [png, jpg, tif][:n])
                for i, n in zip(range(12), [0, 1, 2, 3] * 3)]
    assert backend.generate(requests) == [f"QUESTION {i}: WHAT IS SHOWN?{'!' * (i % 5)} |{[0, 1, 2, 3][i % 4]}"
                                          for i in range(12)]
    assert server.errors == [] and server.calls == 12
    assert 1 < server.max_in_flight <= 4, "requests went concurrently, at most `concurrency` at once"
    assert set(server.auth) == {f"Bearer {SECRET}"}
    assert backend.generate([]) == []


def test_parts_keep_their_order(backend, images):
    png, jpg, _ = images
    body = backend.payload(Request([{"type": "text", "text": "a"}, {"type": "image"}, {"type": "text", "text": "b"},
                                    {"type": "image"}], [png, jpg]))
    kinds = [(p["type"], p.get("text") or p["image_url"]["url"].split(";")[0]) for p in body["messages"][0]["content"]]
    assert kinds == [("text", "a"), ("image_url", "data:image/png"), ("text", "b"), ("image_url", "data:image/jpeg")]
    assert body["max_tokens"] == 16 and body["temperature"] == 0
    with pytest.raises(ValueError, match="more images"):
        backend.payload(Request([{"type": "text", "text": "a"}], [png]))


def test_a_system_turn_goes_before_the_user_turn_and_only_when_given(backend):
    plain = backend.payload(Request([{"type": "text", "text": "a"}]))
    with_system = backend.payload(Request([{"type": "text", "text": "a"}], system="Be brief."))
    assert [m["role"] for m in plain["messages"]] == ["user"]
    assert with_system["messages"][0] == {"role": "system", "content": "Be brief."}
    assert with_system["messages"][1] == plain["messages"][0]


@pytest.mark.parametrize("statuses", [[503, 503, 503], [429], [500, 502]])
def test_retries_on_429_and_5xx(backend, server, statuses):
    server.script = list(statuses)
    assert backend.generate([Request([{"type": "text", "text": "hi"}])]) == ["HI |0"]
    assert server.calls == len(statuses) + 1


def test_gives_up_after_retries_with_status_and_message(backend, server):
    server.always = 503
    with pytest.raises(OpenAIBackendError, match="4 attempts.*HTTP 503: simulated failure 503") as info:
        backend.generate([Request([{"type": "text", "text": "hi"}])])
    assert info.value.status == 503 and server.calls == 4
    assert SECRET not in str(info.value)


def test_400_fails_at_once_and_never_shows_the_key(backend, server):
    server.always = 400
    with pytest.raises(OpenAIBackendError) as info:
        backend.generate([Request([{"type": "text", "text": "hi"}])])
    assert server.calls == 1, "a 400 is not retried"
    assert server.auth == [f"Bearer {SECRET}"], "the key did reach the server"
    message = "".join(str(e) for e in (info.value, info.value.__cause__, info.value.__context__) if e)
    assert "400" in message and "simulated failure 400" in message and SECRET not in message
    assert SECRET not in repr(backend)


def test_connection_errors_are_retried_then_reported(monkeypatch):
    with socket.socket() as s:  # a port with nothing listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    backend = OpenAIBackend("fake-model", base_url=f"http://127.0.0.1:{port}/v1", retries=2, backoff=0.01, timeout=5)
    with pytest.raises(OpenAIBackendError, match="3 attempts.*connection error") as info:
        backend.generate([Request([{"type": "text", "text": "hi"}])])
    assert SECRET not in str(info.value)


def test_no_key_means_no_authorization_header(server, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    backend = OpenAIBackend("fake-model", base_url=server.url + "/")
    assert backend.generate([Request([{"type": "text", "text": "local"}])]) == ["LOCAL |0"]
    assert server.auth == [None]


def test_base_url_is_required(monkeypatch):
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(ValueError, match="OPENAI_BASE_URL"):
        make_backend("openai", "fake-model", dtype="auto", max_new_tokens=8)


def test_prompt_length_is_monotone(backend, images):
    short, long = Request(with_images("ab", 0)), Request(with_images("abcdef", 0))
    assert backend.prompt_length(short) < backend.prompt_length(long)
    assert backend.prompt_length(Request(with_images("ab", 1), [images[0]])) > backend.prompt_length(short)


def test_medqa_end_to_end_through_the_runner(backend, server, repo, tmp_path):
    import lingshu.eval.loaders  # noqa: F401  (registers the loaders)
    from lingshu.eval.benchmark import discover
    from lingshu.eval.runner import generate, predictions_file, read_predictions

    bench = discover()["medqa"]
    items = bench.items(repo)[:5]
    path = generate(bench, items, backend, predictions_file(tmp_path, bench.name), "strict", batch_size=2)
    lines = path.read_text().splitlines()
    assert len(lines) == 5 and server.errors == [] and server.calls == 5
    records = read_predictions(path)
    assert set(records) == {i.id for i in items}
    for record in records.values():
        assert record["response"] == record["prompt"].upper() + " |0"
    assert generate(bench, items, backend, predictions_file(tmp_path, bench.name), "strict", batch_size=2) == path and server.calls == 5  # resumed


def test_cli_evaluates_through_a_server_named_by_base_url(server, repo, tmp_path, monkeypatch):
    from lingshu.cli import main

    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    out = tmp_path / "eval"
    assert main(["eval", "--model", "fake-model", "--backend", "openai", "--base-url", server.url, "--benchmarks",
                 "medqa", "--limit", "3", "--out", str(out), "--root", str(repo)]) == 0
    assert server.calls == 3 and len((out / "medqa/predictions.jsonl").read_text().splitlines()) == 3


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vllm is installed here")
def test_vllm_backend_without_vllm_says_cuda_only():
    with pytest.raises(ImportError, match="CUDA") as info:
        make_backend("vllm", "x", dtype="auto", max_new_tokens=8)
    assert "pip install -e .[gpu]" in str(info.value)


def test_importing_the_backends_does_not_import_vllm():
    code = ("import sys, lingshu.eval.backends, lingshu.eval.backends.vllm, lingshu.eval.backends.openai; "
            "assert 'vllm' not in sys.modules, 'vllm imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_vllm_backend_drives_the_offline_api_as_documented(mini_repo, images, monkeypatch):
    """With a stand-in `vllm` module (the real one needs CUDA): engine and sampling arguments, chat-template
    prompts with the image placeholders, PIL images in `multi_modal_data`, outputs kept in order."""
    import types

    calls = {}

    class SamplingParams:
        def __init__(self, **kwargs):
            calls["sampling"] = kwargs

    class LLM:
        def __init__(self, **kwargs):
            calls["engine"] = kwargs

        def generate(self, prompts, sampling_params, use_tqdm=True):
            calls["prompts"] = prompts
            out = types.SimpleNamespace
            return [out(outputs=[out(text=f"answer {i}")]) for i in range(len(prompts))]

    monkeypatch.setitem(sys.modules, "vllm", types.SimpleNamespace(LLM=LLM, SamplingParams=SamplingParams))
    model = str(mini_repo / "models/base")
    backend = make_backend("vllm", model, dtype="bfloat16", max_new_tokens=7, gpu_memory_utilization=0.5)
    assert calls["engine"] == {"model": model, "dtype": "bfloat16", "limit_mm_per_prompt": {"image": 4},
                               "gpu_memory_utilization": 0.5}
    assert calls["sampling"] == {"temperature": 0.0, "max_tokens": 7}
    png, jpg, _ = images
    requests = [Request(with_images("no image", 0)), Request(with_images("one", 1), [png]),
                Request(with_images("two", 2), [png, jpg])]
    assert backend.generate(requests) == ["answer 0", "answer 1", "answer 2"]
    none, one, two = calls["prompts"]
    assert "multi_modal_data" not in none and "no image" in none["prompt"]
    assert isinstance(one["multi_modal_data"]["image"], Image.Image)
    assert [i.size for i in two["multi_modal_data"]["image"]] == [(12, 9), Image.open(jpg).size]
    assert [p["prompt"].count("<|image_pad|>") for p in (none, one, two)] == [0, 1, 2]
    assert two["prompt"].index("<image_1>") < two["prompt"].index("<image_2>") < two["prompt"].index("two")
    assert backend.prompt_length(requests[0]) < backend.prompt_length(requests[1]) < backend.prompt_length(requests[2])
