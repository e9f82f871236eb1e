"""Rule-based judgments of the `medevalkit` protocol: MedEvalKit's scoring rules, reproduced on purpose.

`--protocol medevalkit` exists so our numbers can be compared with those published with MedEvalKit
(alibaba-damo-academy/MedEvalKit, the kit used for the Lingshu paper). These functions reproduce the
*per-sample* rules of its `utils/utils.py`, including their quirks, so that a response is judged right
or wrong exactly as MedEvalKit would judge it. The default `strict` protocol (`lingshu.eval.extract`)
is the one to trust; this one is for comparability only.

Where the behaviour comes from
------------------------------
The functions `judge_multi_choice`, `parse_response`, `extract`, `judge_judgement`,
`judge_close_end_vqa` and `judge_open_end_vqa` of MedEvalKit's `utils/utils.py` (the dataset classes,
e.g. `utils/SLAKE/SLAKE.py`, import them with `from ..utils import ...`), read in a public copy of
that file, plus `mathruler.grader.extract_boxed_content`, which that file imports. The code here is
our own re-implementation of those rules (standard library only), not a copy.

What is reproduced
------------------
Shared answer parsing (`parse_response` in MedEvalKit), applied to every judge:
  lowercase; if the text contains "boxed" anywhere, replace it by the content of its last `\\boxed{...}`
  (braces balanced, stripped) -- or by the literal string "None" when there is no `\\boxed{` (quirk:
  merely mentioning the word "boxed" destroys the response); else if it contains "<answer>", replace
  it by the contents of all `<answer>...</answer>` pairs joined with " " (the whole text when none is
  closed or all are empty). Then, for each marker of `ANSWER_MARKERS` *in that order*, if it occurs,
  keep only the text after its last occurrence (so later markers apply to what earlier ones left).
  `<think>...</think>` is NOT removed -- MedEvalKit never strips it, and neither does this protocol.

Multiple choice (`judge_multiple_choice`):
  1. lowercase; if the first blank-line ("\\n\\n") separated paragraph is exactly a valid option
     letter, the response becomes that letter; else if the last paragraph's text before its first "."
     is exactly a valid letter, it becomes that letter;
  2. parse (above), strip, lowercase, delete "\\n"; take the text before the first "." and then after
     the last ":" -- *not* stripped again (quirk: "final choice: B" yields " b", which is no letter);
  3. correct if that equals the answer; or it is a letter whose option text equals the answer; or it
     is an option text and the answer is the letter of that option;
  4. otherwise (nothing recognised) fuzzy-match: `difflib.SequenceMatcher(None, option, response)`
     ratio of every option against the whole parsed response; the first strictly-best option is
     picked, ties go to the earlier option and all-zero similarity picks the first option, "A".
     Quirk kept: a nonsense or empty response is judged as "A" and is *counted correct* when the
     answer is A. (MedEvalKit also has a `len > 300` check that has no effect; nothing to reproduce.)
Yes/no (`judge_yes_no`): parse, delete "\\n" and "."; correct iff exactly one of "yes" / "no" occurs
  as a *substring* (so "I know", "not", "nodule", "none" all contain "no") and the answer (lowercased)
  occurs in it. MedEvalKit uses this rule when the gold answer is exactly "yes" or "no" (case-sensitive),
  and the closed rule otherwise -- that dispatch belongs to the caller.
Closed (`judge_closed`): parse, delete "\\n" and "."; correct iff equal to the lowercased answer. The
  answer is only lowercased (a gold answer containing "." or "\\n" can never match), and the response
  is not stripped (" left lung" != "left lung").
Open (`judge_open`): exact match of the parsed response (lowercased, not stripped) with the lowercased
  answer -- MedEvalKit's "em"; its BLEU/ROUGE/F1 and optional LLM judge are not rule judgments and live
  elsewhere.

What is deliberately NOT reproduced
-----------------------------------
- Aggregation bugs (open-question accuracy divided by the count twice; closed questions counted twice
  when the LLM judge is on): these functions judge one sample; aggregation is done by the caller.
- Crashes: a `None` or empty response (MedEvalKit calls `.lower()` on it) is treated as "" and judged
  like any other response; a multiple-choice question with no options is judged wrong instead of
  raising IndexError.

Every judge returns `(correct, extracted)`: for multiple choice the option letter (as spelled in
`options`) that was recognised or picked; for the others the parsed text that was compared.
"""

from __future__ import annotations

import difflib

# MedEvalKit's `parse_response` markers, in its order (it applies all of them, one after another).
# "final answer is" can never fire after "final answer" has been applied; it is kept for fidelity.
ANSWER_MARKERS: tuple[str, ...] = (
    "**answer**:",
    "**answer**",
    "*answer*:",
    "**answer:**",
    "answer is",
    "answer:",
    "答案:",
    "final answer",
    "final answer is",
)

_BOXED_OPEN = "\\boxed{"


def _text(value: object) -> str:
    """`None` -> "" and anything else -> str, so no judge ever crashes on a missing response."""
    return "" if value is None else str(value)


def _last_boxed(text: str) -> str:
    """Content of the last `\\boxed{...}` (balanced braces, stripped), or "None" (mathruler's behaviour)."""
    start = text.rfind(_BOXED_OPEN)
    if start == -1:
        return "None"
    depth = 0
    content = text[start + len(_BOXED_OPEN):]
    for i, char in enumerate(content):
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == -1:
                return content[:i].strip()
    return "None"


def _answer_tags(text: str) -> str:
    """All `<answer>...</answer>` contents joined by " " and stripped; the whole text when that is empty."""
    parts: list[str] = []
    start = text.find("<answer>")
    while start != -1:
        end = text.find("</answer>", start + len("<answer>"))
        if end == -1:
            break
        parts.append(text[start + len("<answer>"):end])
        start = text.find("<answer>", end + len("</answer>"))
    joined = " ".join(parts).strip()
    return joined or text


def parse_response(response: str) -> str:
    """MedEvalKit's answer parsing: lowercase, `\\boxed{}` / `<answer>` extraction, then the markers."""
    text = _text(response).lower()
    if "boxed" in text:
        text = _last_boxed(text)
    elif "<answer>" in text:
        text = _answer_tags(text)
    for marker in ANSWER_MARKERS:
        if marker in text:
            text = text.split(marker)[-1]
    return text


def _pick_by_similarity(option_texts: list[str], response: str) -> int:
    """Index of the first option with the strictly highest difflib ratio; 0 when all are 0 (or tied at 0)."""
    best_index, best_ratio = 0, 0.0
    for i, option in enumerate(option_texts):
        ratio = difflib.SequenceMatcher(None, option, response).ratio()
        if ratio > best_ratio:
            best_index, best_ratio = i, ratio
    return best_index


def judge_multiple_choice(response: str, answer_letter: str, options: dict[str, str]) -> tuple[bool, str]:
    """MedEvalKit's multiple-choice judge. `options` maps "A", "B", ... to option text, in order.

    Returns (correct, the option letter recognised or picked); when the response matches the answer
    without naming any option (only possible if the answer is not one of the letters), the matched text.
    """
    keys = list(options)
    letters = [str(key).strip().lower() for key in keys]
    texts = [_text(options[key]).lower() for key in keys]
    answer = _text(answer_letter).strip().lower()

    text = _text(response).lower()
    paragraphs = text.split("\n\n")
    if paragraphs[0] in letters:
        text = paragraphs[0]
    elif paragraphs[-1].split(".")[0] in letters:
        text = paragraphs[-1].split(".")[0]

    text = parse_response(text).strip().lower().replace("\n", "")
    extracted = text.split(".")[0].split(":")[-1]  # deliberately not stripped (MedEvalKit quirk)

    def letter_of(index: int) -> str:
        return str(keys[index])

    if extracted == answer:
        if extracted in letters:
            return True, letter_of(letters.index(extracted))
        if extracted in texts:
            return True, letter_of(texts.index(extracted))
        return True, extracted
    if extracted in letters:
        index = letters.index(extracted)
        return texts[index] == answer, letter_of(index)
    if extracted in texts:
        index = texts.index(extracted)
        correct = answer in letters and extracted == texts[letters.index(answer)]
        return correct, letter_of(index)
    if not keys:
        return False, ""
    index = _pick_by_similarity(texts, text)
    return letters[index] == answer or texts[index] == answer, letter_of(index)


def judge_yes_no(response: str, answer: str) -> tuple[bool, str]:
    """MedEvalKit's yes/no judge: exactly one of "yes"/"no" as a substring, and the answer in the text."""
    text = parse_response(response).replace("\n", "").replace(".", "")
    gold = _text(answer).lower()
    correct = (("yes" in text) != ("no" in text)) and gold in text
    return correct, text


def judge_closed(response: str, answer: str) -> tuple[bool, str]:
    """MedEvalKit's closed-question judge: parsed response without "\\n" and "." equals the lowercased answer."""
    text = parse_response(response).replace("\n", "").replace(".", "")
    return text == _text(answer).lower(), text


def judge_open(response: str, answer: str) -> tuple[bool, str]:
    """MedEvalKit's open-question exact match: parsed response equals the lowercased answer."""
    text = parse_response(response)
    return text == _text(answer).lower(), text
