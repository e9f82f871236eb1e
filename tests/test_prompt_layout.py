"""Training data is laid out exactly as the evaluation asks: images first, no newline after them, and
"<image_i>: " labels for several images, through the same chat format."""

from __future__ import annotations

import pytest

from lingshu.data.schema import IMAGE_TOKEN, user_content
from lingshu.data.sources.common import qa_turns
from lingshu.eval.backends import Request, chat_text
from lingshu.eval.prompts import vqa, with_images
from lingshu.model.factory import load_processor
from lingshu.train.chat import render


@pytest.fixture(scope="module")
def processor(mini_repo):
    return load_processor(mini_repo / "models/base")


@pytest.mark.parametrize("n_images", [0, 1, 2, 3])
def test_a_training_prompt_is_the_evaluation_prompt(processor, n_images):
    question = vqa("Which part of the body is shown?", "open")
    text, spans = render(qa_turns(question, "chest", n_images), [1] * n_images)
    asked = chat_text(processor, n_images > 0, Request(with_images(question, n_images)))
    assert text.startswith(asked), f"training renders {text[:len(asked)]!r}, the evaluation asks {asked!r}"
    assert text[len(asked):] == "chest<|im_end|>\n" and text[spans[0][0]:spans[0][1]] == "chest<|im_end|>"


def test_placeholders_come_first_and_are_labelled_only_when_there_are_several():
    assert user_content("Q?", 0) == "Q?"
    assert user_content("Q?", 1) == f"{IMAGE_TOKEN}Q?"
    assert user_content("Q?", 2) == f"<image_1>: {IMAGE_TOKEN}<image_2>: {IMAGE_TOKEN}Q?"
