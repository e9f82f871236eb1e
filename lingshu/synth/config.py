"""The `synthesize` section of params.yaml: what each generator reads, how it renders, which LLM it asks.

Templates, checklists and prompts are data (YAML files named here), not code, so a team can change a
question wording or a modality checklist and let DVC re-run exactly the stages that depend on it.
"""

from __future__ import annotations

from dataclasses import dataclass

from lingshu.fields import doc, nested, required

BACKENDS = ("openai", "hf")  # of synthesize.llm


@dataclass
class LLMConfig:
    """Which model the synthesis stage asks, and how (a params.yaml section)."""

    backend: str = doc("openai", "openai (any OpenAI-compatible endpoint) or hf (a local checkpoint, run offline).")
    base_url: str = doc("", "Endpoint for backend openai, e.g. http://127.0.0.1:8000/v1; empty = none configured, "
                            "and the steps that need an LLM are skipped.")
    model: str = doc("", "Model name sent to the endpoint (openai), or checkpoint folder / hub id (hf).")
    api_key_env: str = doc("OPENAI_API_KEY", "Name of the environment variable holding the API key (may be unset for "
                                             "a local server); the key itself never appears in params, logs or cache.")
    concurrency: int = doc(8, "Requests in flight at once (openai), or prompts per generation batch (hf).")
    retries: int = doc(4, "Retries of a request after a connection error, timeout, 429 or 5xx (openai).")
    timeout: float = doc(120.0, "Seconds to wait for one response (openai).")
    backoff: float = doc(1.0, "First retry waits this many seconds, each further one twice as long (openai).")
    max_tokens: int = doc(512, "Most tokens generated per completion.")
    temperature: float = doc(0.0, "Sampling temperature; 0 is greedy (the hf backend decodes greedily only).")
    cache_dir: str = doc("cache/llm", "Completion cache, relative to the repo root; part of every cache key is "
                                      "the settings above, so changing them asks afresh.")

    def why_unconfigured(self, section: str = "synthesize.llm") -> str:
        """Why no LLM can be asked (a sentence naming the params keys), or '' when one can."""
        if self.backend not in BACKENDS:
            return f"{section}.backend is {self.backend!r}, not one of {', '.join(BACKENDS)}"
        empty = [name for name in ("base_url", "model") if not getattr(self, name)
                 and (name == "model" or self.backend == "openai")]
        if not empty:
            return ""
        keys = " and ".join(f"{section}.{name}" for name in empty)
        return f"{keys} {'is' if len(empty) == 1 else 'are'} empty"

    def configured(self) -> bool:
        return not self.why_unconfigured()


@dataclass
class RoiSourceConfig:
    """Segmentation masks whose regions of interest are boxed on their images (caption step 2)."""

    name: str = doc("", "Source name used in sample ids and provenance.")
    kind: str = doc("dicom_seg", "dicom_seg (a DICOM SEG + folder of its source images) or nifti (volume + label volume).")
    path: str = doc("", "The SEG file or the image volume, relative to the repo root.")
    licence: str = doc("", "Licence of the masks and images.")
    options: dict = doc({}, "Reader options: image_dir (dicom_seg); mask, labels, modality, body_part (nifti).")


@dataclass(kw_only=True)
class CaptionConfig:
    """Long captions in five steps: template -> ROI boxes -> factual (LLM) -> checklist (LLM) -> merge (LLM)."""

    enabled: bool = doc(True, "Run the long-caption generator.")
    groups: list = doc(["medical_caption", "medical_multimodal"], "Curated groups whose train-split images and labels are captioned.")
    max_images: int = doc(0, "Caption at most this many images (0: all); a seeded choice.")
    roi_sources: list[RoiSourceConfig] = required("Segmentation sources for step 2 (regions of interest drawn as boxes; "
                                                  "[] for none).")


@dataclass
class OcrConfig:
    """Exam questions rendered into images; the answer comes from a model and must match the gold answer."""

    enabled: bool = doc(True, "Run the OCR generator.")
    sources: list = doc(["pubmedqa"], "Curated sources whose train-split multiple-choice questions are rendered.")
    max_questions: int = doc(200, "Render at most this many questions (0: all); a seeded choice.")
    offline_answer: str = doc("gold", "Without an LLM endpoint: gold (the sample answers with the ground truth) or skip.")
    fonts: list = doc(["default", "data/fonts/DejaVuSans.ttf", "data/fonts/DejaVuSerif.ttf"],
                      "Fonts to draw with: 'default' (Pillow's bundled font) or TrueType files in the repo.")
    font_sizes: list = doc([16, 20, 24], "Font sizes in pixels, chosen per image.")
    width: int = doc(640, "Image width in pixels; the height follows the wrapped text.")
    max_noise: float = doc(12.0, "Upper bound of the Gaussian pixel noise standard deviation (0..255 scale).")
    max_rotation: float = doc(1.5, "Upper bound of the page rotation in degrees.")
    jpeg_quality: list = doc([55, 95], "Range of JPEG qualities the page is re-encoded through (scanner-like artefacts).")


@dataclass
class VqaConfig:
    """VQA from label templates (offline) and self-instruct VQA from image + caption (LLM)."""

    template: bool = doc(True, "Template questions per label type with distractors from the source's label space.")
    self_instruct: bool = doc(True, "LLM-written question / answer / wrong answers per image (needs an endpoint).")
    groups: list = doc(["medical_caption", "medical_multimodal"], "Curated groups whose train-split images are asked about.")
    max_images: int = doc(0, "Use at most this many images (0: all); a seeded choice.")
    questions_per_image: int = doc(0, "Template questions kept per image (a seeded choice among the candidates; "
                                                "0 keeps every candidate: each label type in every form).")
    distractors: int = doc(3, "Wrong options per multiple-choice question (fewer when the label space is smaller).")


@dataclass
class CotConfig:
    """Chain-of-thought written for a question with its gold answer, then judged for consistency."""

    enabled: bool = doc(True, "Run the chain-of-thought generator (needs an endpoint).")
    sources: list = doc(["pubmedqa"], "Curated sources whose train-split multiple-choice questions get reasoning.")
    max_questions: int = doc(0, "At most this many questions (0: all); a seeded choice.")


@dataclass(kw_only=True)
class SynthesizeConfig:
    """The `synthesize` stage: generators, their LLM, price table and outputs."""

    input_dir: str = doc("data/curated", "Curated tables the generators read (train split only).")
    image_store: str = doc("data/images", "The curated image store.")
    output_dir: str = doc("data/synthetic", "Synthetic tables (one per data group), rejected.parquet and images/.")
    templates_dir: str = doc("synth_templates", "YAML templates: captions.yaml, checklists.yaml, vqa.yaml, prompts.yaml.")
    metrics_file: str = doc("metrics/synthesize.json", "Per-generator yield: attempts, accepted, rejected by reason, tokens, cost.")
    plots_dir: str = doc("plots/synthesize", "Yield table and the sample gallery.")
    seed: int = doc(0, "Seed of every sampled choice (subsets, distractors, render styles).")
    gallery_size: int = doc(12, "Samples shown in the gallery artifact.")
    llm: LLMConfig = nested(LLMConfig, "The LLM for the steps that need one; unconfigured means those steps are skipped.")
    prices: dict = doc({"gpt-4o": {"input": 2.5, "output": 10.0}, "gpt-4o-mini": {"input": 0.15, "output": 0.6}},
                       "USD per million tokens, per model name: {input, output}; models not listed cost 0 (local).")
    captions: CaptionConfig = required("Long-caption generator.")
    ocr: OcrConfig = nested(OcrConfig, "OCR generator.")
    vqa: VqaConfig = nested(VqaConfig, "VQA generators.")
    cot: CotConfig = nested(CotConfig, "Chain-of-thought generator.")
