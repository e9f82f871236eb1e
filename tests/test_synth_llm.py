"""The synthesis LLM client against a real chat-completions server on 127.0.0.1, and a tiny local checkpoint."""

from __future__ import annotations

import base64
import io
import json
from dataclasses import fields, replace

import pytest
from chat_server import ChatServer, texts
from PIL import Image

from lingshu.chat_http import ChatCompletionsError
from lingshu.synth.llm import LLM, LLMConfig, Prompt

SECRET = "sk-synth-DO-NOT-LEAK-0987654321fedcba"


@pytest.fixture
def server():
    with ChatServer() as fake:
        yield fake


@pytest.fixture
def cfg(server, monkeypatch):
    monkeypatch.setenv("SYNTH_TEST_KEY", SECRET)
    return LLMConfig(base_url=server.url, model="synth-model", api_key_env="SYNTH_TEST_KEY", concurrency=4,
                     retries=2, timeout=10, backoff=0.01, max_tokens=32)


@pytest.fixture
def scan(tmp_path):
    path = tmp_path / "scan.png"
    Image.new("RGB", (12, 9), (200, 30, 30)).save(path)
    return path


def cache_files(repo):
    return sorted((repo / "cache/llm").rglob("*.json"))


def test_completions_keep_prompt_order_under_concurrency_and_sum_usage(cfg, server, scan, tmp_path):
    prompts = [Prompt(f"describe finding {i}" + " more" * (i % 5), images=[scan] * (i % 3)) for i in range(20)]
    llm = LLM(cfg, tmp_path)
    out = llm.complete(prompts, desc="test")
    assert [c.text for c in out] == [p.text.upper() for p in prompts]
    assert server.errors == [] and server.calls == 20 and server.max_in_flight > 1
    assert [c.tokens_in for c in out] == [len(p.text.split()) for p in prompts]
    assert [c.tokens_out for c in out] == [len(p.text.split()) for p in prompts]
    assert not any(c.cached for c in out)
    words = sum(len(p.text.split()) for p in prompts)
    assert llm.stats == {"calls": 20, "cached_calls": 0, "failed_calls": 0, "tokens_in": words, "tokens_out": words}


def test_request_body_has_system_turn_images_before_text_and_sampling_settings(cfg, server, scan, tmp_path):
    LLM(replace(cfg, temperature=0.7), tmp_path).complete([Prompt("what modality?", [scan, scan], system="Be brief.")])
    (body,) = server.bodies
    assert body["model"] == "synth-model" and body["temperature"] == 0.7 and body["max_tokens"] == 32
    system, user = body["messages"]
    assert system == {"role": "system", "content": "Be brief."} and user["role"] == "user"
    assert [p["type"] for p in user["content"]] == ["image_url", "image_url", "text"]
    header, data = user["content"][0]["image_url"]["url"].split(",", 1)
    assert header == "data:image/png;base64" and Image.open(io.BytesIO(base64.b64decode(data))).size == (12, 9)
    assert texts(user) == ["what modality?"]


def test_a_second_llm_over_the_same_cache_asks_nothing(cfg, server, scan, tmp_path):
    prompts = [Prompt(f"question {i}", [scan] if i % 2 else [], system="sys" if i % 3 else "") for i in range(10)]
    first = LLM(cfg, tmp_path).complete(prompts)
    assert server.calls == 10 and len(cache_files(tmp_path)) == 10
    again = LLM(cfg, tmp_path)
    second = again.complete(prompts)
    assert server.calls == 10, "every answer came from the cache"
    assert [c.text for c in second] == [c.text for c in first] and all(c.cached for c in second)
    assert [(c.tokens_in, c.tokens_out) for c in second] == [(c.tokens_in, c.tokens_out) for c in first]
    assert again.stats["cached_calls"] == 10 and again.stats["tokens_in"] == sum(c.tokens_in for c in first)
    assert json.loads(cache_files(tmp_path)[0].read_text()).keys() == {"text", "tokens_in", "tokens_out"}


def test_identical_prompts_in_one_call_are_asked_once(cfg, server, tmp_path):
    out = LLM(cfg, tmp_path).complete([Prompt("same"), Prompt("other"), Prompt("same")])
    assert server.calls == 2 and [c.text for c in out] == ["SAME", "OTHER", "SAME"]
    assert [c.cached for c in out] == [False, False, True]


def test_a_killed_run_resumes_where_it_stopped(cfg, server, tmp_path):
    prompts = [Prompt(f"caption {i}") for i in range(12)]
    server.script, server.always = [None] * 5, 503  # the endpoint dies for good after 5 answers
    llm = LLM(replace(cfg, retries=0, concurrency=3), tmp_path)
    out = llm.complete(prompts)
    failed = [c for c in out if c.text is None]
    assert len(failed) == 7 and len(cache_files(tmp_path)) == 5
    assert all("HTTP 503" in c.error and c.tokens_in == c.tokens_out == 0 for c in failed)
    assert llm.stats["failed_calls"] == 7
    server.always, calls = None, server.calls
    rerun = LLM(cfg, tmp_path).complete(prompts)
    assert server.calls - calls == 7, "only the unanswered prompts are asked again"
    assert [c.text for c in rerun] == [p.text.upper() for p in prompts]
    assert sum(c.cached for c in rerun) == 5 and len(cache_files(tmp_path)) == 12


def test_transient_failures_are_retried_then_become_rejections_not_cached(cfg, server, tmp_path):
    server.script = [503, 429]
    assert LLM(cfg, tmp_path).complete([Prompt("flaky")])[0].text == "FLAKY" and server.calls == 3
    server.always = 502
    (failed,) = LLM(cfg, tmp_path).complete([Prompt("down")])
    assert failed.text is None and "3 attempts" in failed.error and server.calls == 6
    assert len(cache_files(tmp_path)) == 1, "only the success is cached"


def test_cache_key_follows_everything_that_decides_the_answer(cfg, server, scan, tmp_path):
    llm = LLM(cfg, tmp_path)
    base = Prompt("what is shown?", [scan], system="You are a radiologist.")

    def asks(prompt, config=cfg):
        before = server.calls
        LLM(config, tmp_path).complete([prompt])
        return server.calls - before

    assert asks(base) == 1 and asks(base) == 0
    copy = tmp_path / "copy.png"
    copy.write_bytes(scan.read_bytes())
    assert asks(replace(base, images=[copy])) == 0, "same image bytes under another name: same key"
    assert asks(replace(base, system="You are a pathologist.")) == 1
    assert asks(replace(base, system="")) == 1
    assert asks(replace(base, text="what is shown here?")) == 1
    assert asks(base, replace(cfg, temperature=0.5)) == 1
    assert asks(base, replace(cfg, max_tokens=64)) == 1
    assert asks(base, replace(cfg, model="other-model")) == 1
    Image.new("RGB", (12, 9), (30, 200, 30)).save(scan)  # new bytes at the same path
    assert asks(base) == 1
    assert llm.key(base) != LLM(replace(cfg, temperature=0.5), tmp_path).key(base)


def test_corrupt_cache_file_counts_as_missing(cfg, server, tmp_path):
    LLM(cfg, tmp_path).complete([Prompt("torn")])
    (path,) = cache_files(tmp_path)
    path.write_text('{"text": "TO')  # a torn write
    (again,) = LLM(cfg, tmp_path).complete([Prompt("torn")])
    assert again.text == "TORN" and not again.cached and server.calls == 2
    assert json.loads(path.read_text())["text"] == "TORN"


def test_missing_usage_counts_zero_tokens(cfg, server, tmp_path):
    server.usage = None
    (out,) = LLM(cfg, tmp_path).complete([Prompt("no usage here")])
    assert out.text == "NO USAGE HERE" and (out.tokens_in, out.tokens_out) == (0, 0)


def test_api_key_is_sent_as_bearer_and_never_shown(cfg, server, tmp_path):
    llm = LLM(cfg, tmp_path)
    llm.complete([Prompt("hello"), Prompt("world")])
    assert server.auth == [f"Bearer {SECRET}"] * 2
    assert all(SECRET not in p.read_text() for p in cache_files(tmp_path))
    assert SECRET not in repr(llm) and SECRET not in repr(cfg)

    def leaky(body):
        raise ValueError(f"key {SECRET} is not allowed")  # a server that echoes the key back

    server.answer = leaky
    with pytest.raises(ChatCompletionsError) as info:
        llm.complete([Prompt("leak")])
    assert info.value.status == 422 and "***" in str(info.value) and SECRET not in str(info.value)


def test_401_raises_and_stops_the_run(cfg, server, tmp_path):
    server.always = 401
    with pytest.raises(ChatCompletionsError, match="HTTP 401") as info:
        LLM(cfg, tmp_path).complete([Prompt(f"q {i}") for i in range(40)])
    assert info.value.status == 401 and not info.value.retryable
    assert server.calls < 40, "calls not yet started are never made"
    assert cache_files(tmp_path) == []


def test_concurrency_limit_is_respected(cfg, server, tmp_path):
    server.delay = lambda reply: 0.05
    LLM(replace(cfg, concurrency=3), tmp_path).complete([Prompt(f"q {i}") for i in range(12)])
    assert server.max_in_flight == 3


def test_unconfigured_config_says_why(tmp_path):
    assert LLMConfig().why_unconfigured() == "synthesize.llm.base_url and synthesize.llm.model are empty"
    assert LLMConfig(base_url="http://127.0.0.1:8000/v1").why_unconfigured() == "synthesize.llm.model is empty"
    assert LLMConfig(model="m").why_unconfigured() == "synthesize.llm.base_url is empty"
    assert "backend" in LLMConfig(backend="vllm", model="m").why_unconfigured()
    assert LLMConfig(backend="hf", model="models/deep").configured()
    assert not LLMConfig(model="m").configured() and LLMConfig(base_url="u", model="m").configured()
    with pytest.raises(ValueError, match="synthesize.llm.base_url is empty"):
        LLM(LLMConfig(model="m"), tmp_path)


def test_every_config_field_is_documented():
    assert all(f.metadata.get("help") for f in fields(LLMConfig))


def test_hf_backend_runs_a_local_checkpoint_counts_tokens_and_caches(mini_repo, scan, tmp_path):
    cfg = LLMConfig(backend="hf", model=str(mini_repo / "models/base"), max_tokens=4, concurrency=2)
    llm = LLM(cfg, tmp_path)
    prompts = [Prompt("what is shown?"), Prompt("what is shown?", system="You are a radiologist."),
               Prompt("what is shown?", [scan])]
    plain, with_system, with_image = out = llm.complete(prompts)
    assert all(isinstance(c.text, str) and not c.cached and 0 <= c.tokens_out for c in out)
    assert 0 < plain.tokens_in < with_system.tokens_in, "the system turn reaches the prompt"
    placeholder = 3  # <|vision_start|><|image_pad|><|vision_end|> before the processor expands the pad
    assert with_image.tokens_in > plain.tokens_in + placeholder, "image tokens are counted as the model sees them"
    again = LLM(cfg, tmp_path).complete(prompts)
    assert [c.text for c in again] == [c.text for c in out] and all(c.cached for c in again)
    with pytest.raises(ValueError, match="greedily"):
        LLM(replace(cfg, temperature=0.7), tmp_path)


def test_hf_cache_key_names_the_checkpoint_by_its_weights(mini_repo, tmp_path):
    import shutil

    import torch

    from lingshu.model.factory import load_model

    folder = tmp_path / "models/deep"
    shutil.copytree(mini_repo / "models/base", folder)
    cfg = LLMConfig(backend="hf", model="models/deep", max_tokens=2)
    before = LLM(cfg, tmp_path).key(Prompt("q"))
    assert LLM(cfg, tmp_path).key(Prompt("q")) == before
    model = load_model(folder)
    with torch.no_grad():
        next(model.parameters()).add_(1.0)
    model.save_pretrained(folder)  # retrained in place, same folder name
    assert LLM(cfg, tmp_path).key(Prompt("q")) != before, "a retrained checkpoint never reuses old answers"
