"""Model factory: tiny build, offline tokenizer, processor without torchvision, save/load, freezing table."""

from __future__ import annotations

import itertools

import pytest
import torch
from PIL import Image

from lingshu.model.config import ModelConfig, TinyConfig, Trainable
from lingshu.model.factory import build_tiny, load_model, load_processor, mrope_section, save, tiny_config
from lingshu.model.freezing import MODULES, apply_freezing, parameters_by_module
from lingshu.model.tokenizer import IM_END, IMAGE_PAD, SPECIAL_TOKENS, train_tokenizer
from tests.conftest import TINY

TEXTS = ["A CT scan of the head, axial plane.", "Is there a fracture? No.", "What organ is shown? The liver."] * 30


def test_tokenizer_has_qwen_special_tokens_and_round_trips_any_text():
    tok = train_tokenizer(TEXTS, vocab_size=400, min_frequency=1)
    for token in SPECIAL_TOKENS:
        ids = tok(token, add_special_tokens=False)["input_ids"]
        assert len(ids) == 1, f"{token} is not a single token"
    unseen = "Ünïcödé ∆ 42 never seen\n"
    assert tok.decode(tok(unseen)["input_ids"]) == unseen
    assert tok.eos_token == IM_END


def test_chat_template_places_vision_tokens_for_image_placeholders():
    tok = train_tokenizer(TEXTS, vocab_size=400, min_frequency=1)
    text = tok.apply_chat_template([{"role": "user", "content": "<image>\nWhat is this?"}], tokenize=False,
                                   add_generation_prompt=True)
    assert text == "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>\nWhat is this?<|im_end|>\n<|im_start|>assistant\n"


@pytest.mark.parametrize("head_dim", [16, 32, 64, 128])
def test_mrope_section_sums_to_half_head_dim(head_dim):
    assert sum(mrope_section(head_dim)) == head_dim // 2


def test_tiny_model_saves_and_reloads_identically(tmp_path):
    model, processor = build_tiny(ModelConfig(tiny=TinyConfig(**TINY)), TEXTS)
    save(model, processor, tmp_path / "base")
    again, processor2 = load_model(tmp_path / "base"), load_processor(tmp_path / "base")
    for (name, a), (_, b) in zip(model.state_dict().items(), again.state_dict().items()):
        assert torch.equal(a, b), name
    image = Image.new("RGB", (120, 90), (200, 10, 10))
    first = processor.image_processor(images=[image], return_tensors="pt")
    second = processor2.image_processor(images=[image], return_tensors="pt")
    assert torch.equal(first["image_grid_thw"], second["image_grid_thw"])
    assert processor2.tokenizer.convert_tokens_to_ids(IMAGE_PAD) == again.config.image_token_id


def test_a_checkpoint_saves_the_same_files_whether_or_not_the_hub_was_offline(tmp_path, monkeypatch):
    import huggingface_hub.constants

    model, processor = build_tiny(ModelConfig(tiny=TinyConfig(**TINY)), TEXTS)
    save(model, processor, tmp_path / "base")
    for offline in (True, False):   # what HF_HUB_OFFLINE=1 / unset set when the hub library is imported
        monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", offline)
        save(model, load_processor(tmp_path / "base"), tmp_path / str(offline))
    assert (tmp_path / "True/tokenizer_config.json").read_bytes() == (tmp_path / "False/tokenizer_config.json").read_bytes()


def test_image_processor_respects_max_pixels():
    cfg = ModelConfig(tiny=TinyConfig(**TINY))
    _, processor = build_tiny(cfg, TEXTS)
    grid = processor.image_processor(images=[Image.new("RGB", (1000, 700))], return_tensors="pt")["image_grid_thw"][0]
    assert int(grid[1] * grid[2]) * 14 * 14 <= cfg.image.max_pixels


def _noise(size: tuple[int, int], seed: int) -> Image.Image:
    return Image.frombytes("RGB", size, torch.randint(0, 256, (size[0] * size[1] * 3,), dtype=torch.uint8,
                                                      generator=torch.Generator().manual_seed(seed)).numpy().tobytes())


@pytest.mark.parametrize("max_pixels", [12544, 1_003_520])   # the tiny model's, and a real Qwen2.5-VL setting's
def test_an_image_fitted_ahead_gets_exactly_the_pixels_the_processor_makes_of_the_original(repo, max_pixels):
    from lingshu.model.processor import fit_to_processor, image_processor

    processor = image_processor(3136, max_pixels)
    radiographs = sorted((repo / "data/sources/vqa_rad/images").glob("*.jpg"))[:3]
    originals = [Image.open(p).convert("RGB") for p in radiographs]
    # large, below min_pixels, already fitted, and so thin that a fitted size would be resized again (left alone)
    originals += [_noise(size, i) for i, size in enumerate([(2321, 1384), (30, 20), (112, 112), (3000, 41)])]
    resized = 0
    for original in originals:
        fitted = fit_to_processor(original, processor)
        resized += fitted.size != original.size
        for raw, ahead in ((original, fitted), (Image.new("RGB", original.size), Image.new("RGB", fitted.size))):
            want, got = (processor(images=[im], return_tensors="pt") for im in (raw, ahead))
            assert torch.equal(want["image_grid_thw"], got["image_grid_thw"])
            assert torch.equal(want["pixel_values"], got["pixel_values"]), original.size
    assert resized >= 5   # the radiographs, the large and the small one: the test compares resizes, not images left alone


def test_a_processor_of_another_family_gets_the_image_unchanged():
    from lingshu.model.processor import fit_to_processor

    image = Image.new("RGB", (640, 480))
    assert fit_to_processor(image, object()) is image


def _meta_model():
    tok = train_tokenizer(TEXTS, vocab_size=400, min_frequency=1)
    from transformers import AutoModelForImageTextToText

    with torch.device("meta"):
        return AutoModelForImageTextToText.from_config(tiny_config(TinyConfig(**TINY), tok))


def test_freezing_table_covers_every_parameter_of_the_installed_architecture():
    groups = parameters_by_module(_meta_model())
    assert all(groups[m] for m in MODULES)
    assert any(n.startswith("model.visual.merger.") for n, _ in groups["projector"])
    assert any(n == "lm_head.weight" for n, _ in groups["language_model"])


@pytest.mark.parametrize("flags", [f for f in itertools.product([False, True], repeat=3) if any(f)])
def test_every_flag_combination_freezes_exactly_its_modules(flags):
    model = _meta_model()
    counts = apply_freezing(model, Trainable(**dict(zip(("vision", "projector", "language_model"), flags))))
    for module, params in parameters_by_module(model).items():
        wanted = dict(zip(MODULES, flags))[module]
        assert all(p.requires_grad == wanted for _, p in params), module
        assert (counts[module] > 0) == wanted


def test_freezing_everything_is_an_error():
    with pytest.raises(ValueError, match="nothing would train"):
        apply_freezing(_meta_model(), Trainable(vision=False, projector=False, language_model=False))


def test_a_checkpoint_folder_as_source_loads_through_the_same_path(tmp_path):
    from lingshu.model.factory import initialise

    model, processor = build_tiny(ModelConfig(tiny=TinyConfig(**TINY)), TEXTS)
    save(model, processor, tmp_path / "pretrained")
    loaded, loaded_processor = initialise(ModelConfig(source=str(tmp_path / "pretrained")), tmp_path)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), loaded.state_dict().values()))
    assert loaded_processor.tokenizer.get_vocab() == processor.tokenizer.get_vocab()


def test_a_missing_source_is_a_clear_error_not_a_download(tmp_path):
    from lingshu.model.factory import initialise

    with pytest.raises(OSError):
        initialise(ModelConfig(source="no-such-org/no-such-model"), tmp_path)
