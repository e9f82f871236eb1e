"""Answer extraction for the default `strict` protocol: robust, never random, failures made explicit.

A response first loses its reasoning (`<think>...</think>`, or everything after an unclosed `<think>`),
and when it wraps a final answer in `\\boxed{}` or `<answer>...</answer>` only that is kept. Then:
- multiple choice: a bare letter in any common form ("B", "B.", "(B)", "Option B", "The answer is B",
  "**B**") -> else the one option whose text the response contains -> else UNPARSED;
- yes/no: exactly one of the whole words yes / no -> else UNPARSED;
- short answers: the normalised text (lowercase, no punctuation or articles, number words as digits;
  an answer that is only an article, such as the letter "A", is kept).
UNPARSED is scored wrong and counted in the parse-fail rate; nothing is ever guessed.
"""

from __future__ import annotations

import re
import string

UNPARSED = "UNPARSED"

_THINK = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)
_BOXED = re.compile(r"\\boxed\{([^{}]*)\}")
_ANSWER_TAG = re.compile(r"<answer>(.*?)</answer>", re.DOTALL | re.IGNORECASE)
_NUMBERS = {w: str(i) for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty".split())}
_ARTICLES = {"a", "an", "the"}


def final_answer(response: str | None) -> str:
    """The part of a response that states the answer (reasoning removed, boxed/tagged answer preferred)."""
    text = _THINK.sub("", response or "")
    unclosed = text.lower().find("<think>")
    if unclosed >= 0:
        text = text[:unclosed]
    for pattern in (_ANSWER_TAG, _BOXED):
        found = pattern.findall(text)
        if found:
            return found[-1].strip()
    return text.strip()


def normalise(text: str) -> str:
    """Lowercase, punctuation as spaces, number words as digits, articles dropped, except when the text is
    nothing but articles: a one-letter answer "A" (a label in the image, an option named by the question) is
    kept, not emptied to UNPARSED."""
    text = text.lower().replace("\n", " ")
    text = text.translate(str.maketrans({c: " " for c in string.punctuation}))
    words = [_NUMBERS.get(w, w) for w in text.split()]
    return " ".join([w for w in words if w not in _ARTICLES] or words)


def _letter_patterns(letters: str) -> list[re.Pattern]:
    group = f"([{letters}])"
    return [
        re.compile(rf"^\W*{group}\W*$", re.IGNORECASE),                            # B / (b) / **B** / B.
        re.compile(rf"^\W*{group}[.):]\s+\S"),                                      # B. option text
        # "answer is B" / "Option: (B)"; the letter must be a capital, so "the answer is a drug" is not A
        re.compile(rf"\b(?i:answer|option|choice)\s*(?i:is|:)?\s*\(?\**{group}\b\)?"),
    ]


def extract_choice(response: str | None, options: dict[str, str]) -> str:
    """The chosen option letter, or UNPARSED."""
    text = final_answer(response)
    letters = "".join(sorted(options))
    if not text or not letters:
        return UNPARSED
    for pattern in _letter_patterns(letters):
        match = pattern.search(text)
        if match:
            return match.group(1).upper()
    said = f" {normalise(text)} "
    named = [letter for letter, option in options.items() if normalise(option) and f" {normalise(option)} " in said]
    if len(named) == 1:
        return named[0]
    # a longer option can contain a shorter one ("heart" in "heart failure"): keep the longest if it is unique
    if len(named) > 1:
        longest = max(named, key=lambda k: len(normalise(options[k])))
        others = [k for k in named if k != longest]
        if all(f" {normalise(options[k])} " in f" {normalise(options[longest])} " for k in others):
            return longest
    return UNPARSED


def extract_yes_no(response: str | None) -> str:
    """'yes', 'no' or UNPARSED (both or neither present as whole words)."""
    words = set(normalise(final_answer(response)).split())
    found = {"yes", "no"} & words
    return found.pop() if len(found) == 1 else UNPARSED


def extract_short(response: str | None) -> str:
    """The normalised short answer, or UNPARSED for an empty one."""
    text = normalise(final_answer(response))
    return text or UNPARSED
