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

Multiple choice (`judge_multiple_choice`), given the option strings exactly as MedEvalKit passes them
(per benchmark "B. text", "B.text", a source's own cells, or bare texts: `lingshu.eval.medevalkit_protocol`);
their letters are their positions, a, b, c, ...:
  1. lowercase; if the first blank-line ("\\n\\n") separated paragraph is exactly a valid option
     letter, the response becomes that letter; else if the last paragraph's text before its first "."
     is exactly a valid letter, it becomes that letter;
  2. parse (above), strip, lowercase, delete "\\n"; take the text before the first "." and then after
     the last ":" -- *not* stripped again (quirk: "final choice: B" yields " b", which is no letter);
  3. correct if that equals the answer; or it is a letter whose option string equals the answer; or it
     is an option string and the answer is the letter of that option (with letter-prefixed strings such
     as "b. edema" the option text alone never equals one, so a bare option text goes on to step 4);
  4. otherwise (nothing recognised) fuzzy-match: `difflib.SequenceMatcher(None, option, response)`
     ratio of every option string against the whole parsed response; the first strictly-best option is
     picked, ties go to the earlier option and all-zero similarity picks the first option, "A".
     Quirk kept: a nonsense or empty response is judged as "A" and is *counted correct* when the
     answer is A. (MedEvalKit also has a `len > 300` check that has no effect; nothing to reproduce.)
Before the judges below, MedEvalKit's VQA benchmarks take the content of the last `\\boxed{...}` (case
kept), else the `<answer>` contents, of the response (`vqa_response`); VQA-RAD and PathVQA then also
lowercase and strip it (a per-benchmark setting). Before the multiple-choice judge, all its
multiple-choice benchmarks but PMC-VQA take the `<answer>` contents (`within_answer_tags`).
Yes/no (`judge_yes_no`): parse, delete "\\n" and "."; correct iff exactly one of "yes" / "no" occurs
  as a *substring* (so "I know", "not", "nodule", "none" all contain "no") and the answer (lowercased)
  occurs in it. Which questions get this rule, the closed or the open one is decided per benchmark
  (SLAKE: a gold answer of exactly "yes" or "no", case-sensitive; VQA-RAD and PathVQA: any case) -- that
  dispatch belongs to the caller (`lingshu.eval.medevalkit_protocol`).
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
  like any other response; an open answer that parses to nothing (empty, blank, "The answer is"),
  on which MedEvalKit's ROUGE and F1 raise, is judged wrong; a multiple-choice question with no options
  is judged wrong instead of raising IndexError.

Every judge returns `(correct, extracted)`: for multiple choice the option letter ("A", "B", ... by
position) that was recognised or picked; for the others the parsed text that was compared. MMMU is
judged by its own parser instead (`lingshu.eval.medevalkit_mmmu`).
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


def text_of(value: object) -> str:
    """`None` -> "" and anything else -> str, so no judge ever crashes on a missing response."""
    return "" if value is None else str(value)


def last_boxed(text: str) -> str:
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


def within_answer_tags(text: str) -> str:
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
    text = text_of(response).lower()
    if "boxed" in text:
        text = last_boxed(text)
    elif "<answer>" in text:
        text = within_answer_tags(text)
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


def vqa_response(response: str) -> str:
    """What MedEvalKit's VQA benchmarks judge: the last `\\boxed{}`'s content, else the `<answer>` contents."""
    text = text_of(response)
    boxed = last_boxed(text)
    if boxed != "None":
        return boxed
    return within_answer_tags(text) if "<answer>" in text else text


def judge_multiple_choice(response: str, answer_letter: str, choices: list[str]) -> tuple[bool, str]:
    """MedEvalKit's multiple-choice judge. `choices` are the option strings as MedEvalKit passes them, in order.

    Returns (correct, the option letter recognised or picked); when the response matches the answer
    without naming any option (only possible if the answer is not one of the letters), the matched text.
    """
    letters = [chr(ord("a") + i) for i in range(len(choices))]
    texts = [text_of(choice).lower() for choice in choices]
    answer = text_of(answer_letter).strip().lower()

    text = text_of(response).lower()
    paragraphs = text.split("\n\n")
    if paragraphs[0] in letters:
        text = paragraphs[0]
    elif paragraphs[-1].split(".")[0] in letters:
        text = paragraphs[-1].split(".")[0]

    text = parse_response(text).strip().lower().replace("\n", "")
    extracted = text.split(".")[0].split(":")[-1]  # deliberately not stripped (MedEvalKit quirk)

    if extracted == answer:
        if extracted in letters:
            return True, _letter(letters.index(extracted))
        if extracted in texts:
            return True, _letter(texts.index(extracted))
        return True, extracted
    if extracted in letters:
        index = letters.index(extracted)
        return texts[index] == answer, _letter(index)
    if extracted in texts:
        index = texts.index(extracted)
        correct = answer in letters and extracted == texts[letters.index(answer)]
        return correct, _letter(index)
    if not choices:
        return False, ""
    index = _pick_by_similarity(texts, text)
    return letters[index] == answer or texts[index] == answer, _letter(index)


def _letter(index: int) -> str:
    return chr(ord("A") + index)


def judge_yes_no(response: str, answer: str) -> tuple[bool, str]:
    """MedEvalKit's yes/no judge: exactly one of "yes"/"no" as a substring, and the answer in the text."""
    text = parse_response(response).replace("\n", "").replace(".", "")
    gold = text_of(answer).lower()
    correct = (("yes" in text) != ("no" in text)) and gold in text
    return correct, text


def judge_closed(response: str, answer: str) -> tuple[bool, str]:
    """MedEvalKit's closed-question judge: parsed response without "\\n" and "." equals the lowercased answer."""
    text = parse_response(response).replace("\n", "").replace(".", "")
    return text == text_of(answer).lower(), text


def judge_open(response: str, answer: str) -> tuple[bool, str]:
    """MedEvalKit's open-question exact match: parsed response equals the lowercased answer."""
    text = parse_response(response)
    return text == text_of(answer).lower(), text
