"""Parameters of the `evaluate` stage (one instance per checkpoint)."""

from __future__ import annotations

from dataclasses import dataclass

from lingshu.fields import doc, nested


@dataclass
class JudgeConfig:
    """An LLM judge for open answers exact match marks wrong and choices the rules cannot read (none by default)."""

    model: str = doc("", "Judge model name on an OpenAI-compatible server; empty: no judge, answers are scored by "
                         "rules only.")
    base_url: str = doc("", "Judge server URL, e.g. http://127.0.0.1:8000/v1 (empty: $OPENAI_BASE_URL).")
    api_key_env: str = doc("OPENAI_API_KEY", "Name of the environment variable holding the judge's API key (never "
                                             "the key itself; unset: no key is sent).")
    prompt_version: int = doc(1, "Version of the judge's prompts (lingshu/eval/judge.py PROMPTS); verdicts are cached "
                                 "per judge model and version, so a new wording asks again.")

    def problems(self) -> list[str]:
        return [f"prompt_version must be at least 1, got {self.prompt_version}"] if self.prompt_version < 1 else []


@dataclass
class EvalConfig:
    """Which benchmarks each checkpoint is scored on, and how."""

    benchmarks: list[str] = doc(["vqa_rad", "pubmedqa", "medqa", "mmlu_medical", "medmcqa", "vqa_rad_image_types",
                                 "vqa_rad_labels"], "Benchmark or group names (lingshu/eval/benchmarks/*.yaml).")
    protocol: str = doc("strict", "Scoring rules: strict (default) or medevalkit (MedEvalKit's, for comparable numbers).")
    backend: str = doc("hf", "Inference backend: hf (transformers, batched), openai (any compatible server) or vllm (CUDA).")
    limit: int = doc(200, "N items per benchmark, a fixed sample chosen by a hash of their ids (0: all); keeps the "
                          "embedded demo quick without taking the head of a sorted file.")
    controls: list[str] = doc(["blank_image"], "Image controls for benchmarks with images: blank_image (each image "
                                               "replaced by a black one of its size) and/or text_only (no image); "
                                               "reported as real − control, paired, per benchmark.")
    batch_size: int = doc(16, "Prompts per generation batch.")
    max_new_tokens: int = doc(16, "Generation budget per answer (raise it for reasoning models and reports).")
    dtype: str = doc("auto", "Model dtype for inference: auto, float32, bfloat16, float16.")
    tensor_parallel_size: int = doc(1, "vllm backend: GPUs one model is split across (a 32B model needs 2-4 80 GB GPUs).")
    gpu_memory_utilization: float = doc(0.9, "vllm backend: fraction of each GPU's memory the engine may take.")
    max_model_len: int = doc(0, "vllm backend: longest prompt + answer the engine reserves cache for (0: the model's own).")
    out_dir: str = doc("eval", "Predictions and per-benchmark metrics go to <out_dir>/<checkpoint>/<benchmark>/.")
    metrics_dir: str = doc("metrics/eval", "Suite metrics per checkpoint: <metrics_dir>/<checkpoint>.json.")
    plots_dir: str = doc("plots/eval", "Per-checkpoint score tables (<checkpoint>.csv) for the DVC plot across stages.")
    judge: JudgeConfig = nested(JudgeConfig, "Optional LLM judge (model empty: none); its verdicts are stored in each "
                                             "predictions.jsonl and open, closed and overall scores reported apart.")

    def problems(self) -> list[str]:
        """Settings the backend cannot take, and counts that could not run (checked when params are loaded)."""
        out = [f"{name} must be at least 1, got {value}" for name, value in
               (("batch_size", self.batch_size), ("max_new_tokens", self.max_new_tokens),
                ("tensor_parallel_size", self.tensor_parallel_size)) if value < 1]
        if self.limit < 0:
            out.append(f"limit must be 0 (all items) or more, got {self.limit}")
        if self.backend != "vllm" and self.tensor_parallel_size != 1:
            out.append(f"tensor_parallel_size is {self.tensor_parallel_size}, but only the vllm backend splits a "
                       f"model across GPUs (backend is {self.backend!r})")
        return out

    def backend_options(self) -> dict:
        """Keyword arguments for `make_backend` besides the model: generation settings and, for vLLM, the engine's."""
        problems = self.problems()
        if problems:
            raise ValueError("eval." + "; eval.".join(problems))
        options = {"dtype": self.dtype, "max_new_tokens": self.max_new_tokens}
        if self.backend == "vllm":
            options |= {"tensor_parallel_size": self.tensor_parallel_size,
                        "gpu_memory_utilization": self.gpu_memory_utilization}
            if self.max_model_len:
                options["max_model_len"] = self.max_model_len
        return options
