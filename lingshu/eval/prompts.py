"""The exact prompt strings of MedEvalKit (numbers are only comparable with the same wording).

Images come before the text in the user turn; with several images each one is introduced by
"<image_i>: ". Which prompt a VQA question gets is decided from the question in the default protocol
(the dataset's answer_type). Under `--protocol medevalkit` prompts are MedEvalKit's per benchmark
(`lingshu.eval.medevalkit_protocol`): some of its VQA benchmarks pick the prompt from the gold answer (a
leak of the answer into the prompt, kept there for comparability).
"""

from __future__ import annotations

from lingshu.data.schema import image_labels

MCQ = "\nQuestion: {question}\nOptions: \n{options}\nAnswer with the option's letter from the given choices directly."
YES_NO = "{question}\nPlease output 'yes' or 'no'(no extra output)."
CLOSED = "{question}\nAnswer the question using a single word or phrase."
OPEN = "{question}\nPlease answer the question concisely."
REPORT = ("You are a helpful assistant. Please generate a report for the given images, including both findings and "
          "impressions. Return the report in the following format: Findings: {} Impression: {}.")


def multiple_choice(question: str, options: dict[str, str], context: str | None = None) -> str:
    lines = "\n".join(f"{letter}. {text}" for letter, text in options.items())
    prompt = MCQ.format(question=question, options=lines)
    return f"Context: {context}{prompt}" if context else prompt


_AUXILIARIES = ("is", "are", "does", "do", "did", "was", "were", "can", "could", "has", "have", "had", "will",
                "would", "should", "shall", "may", "might", "must")


def is_yes_no_question(question: str) -> bool:
    """A question phrased to be answered yes or no: it opens with an auxiliary verb and offers no "or"."""
    words = question.strip().lower().split()
    return bool(words) and words[0] in _AUXILIARIES and " or " not in f" {question.lower()} "


def vqa_kind(question: str, answer_type: str | None) -> str:
    """yes_no, closed or open: the prompt a VQA question gets under the strict protocol, from the question alone.

    The dataset's answer_type says closed or open where it exists; a closed question phrased as a yes/no
    question gets the yes/no prompt. Without an answer_type, yes/no phrasing alone decides.
    """
    closed = str(answer_type or "").upper() == "CLOSED"
    if answer_type is None or str(answer_type).strip() == "":
        return "yes_no" if is_yes_no_question(question) else "open"
    if closed:
        return "yes_no" if is_yes_no_question(question) else "closed"
    return "open"


def vqa(question: str, kind: str) -> str:
    return {"yes_no": YES_NO, "closed": CLOSED, "open": OPEN}[kind].format(question=question)


def with_images(text: str, n_images: int) -> list[dict]:
    """User-turn content parts: the images first, numbered when there are several, then the text (the
    layout training data uses too: lingshu.data.schema.user_content)."""
    parts: list[dict] = []
    for label in image_labels(n_images):
        parts += ([{"type": "text", "text": label}] if label else []) + [{"type": "image"}]
    return parts + [{"type": "text", "text": text}]
