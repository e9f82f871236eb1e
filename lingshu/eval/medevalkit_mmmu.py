"""MMMU's multiple-choice parser, as MedEvalKit runs it on MMMU (and on no other benchmark).

MedEvalKit does not judge MMMU with its general multiple-choice judge (`lingshu.eval.medevalkit`) but with
the MMMU authors' parser, copied into its `utils/MMMU/eval_utils.py` and run from `utils/MMMU/eval_val.py`.
This module re-implements that behaviour (our own code, facts only):

1. before parsing: the content of `<answer>...</answer>` if the response has "<answer>", then the content
   of the last `\\boxed{...}` if it has one; then, inside the parser, once more `<answer>` contents or, else,
   if "\\boxed" occurs, the last `\\boxed{}`'s content -- or the literal "None" when none is closed;
2. strip whitespace, then the characters , . ! ? ; : ' one after another (each `str.strip`), and pad
   with one space on both sides;
3. candidates: option letters written in brackets, "(B)"; else capital letters standing alone between
   spaces, " B "; else -- only when the response has more than five words -- options whose text occurs
   in it (case-insensitive);
4. one candidate: that letter. Several: the one whose mention starts last (`rfind`; the first of equal
   positions). None: MMMU picks a letter *at random*.

The judgment is then the picked letter == the gold letter. This protocol never guesses: where MMMU
would pick at random, `parse` returns None and `judge` scores the item 1/len(options) -- the expected
value of MedEvalKit's random pick, so averages agree with MedEvalKit's in expectation, deterministically --
and reports it unparsed.
"""

from __future__ import annotations

from lingshu.eval.medevalkit import last_boxed, text_of, within_answer_tags

_STRIPPED = (",", ".", "!", "?", ";", ":", "'")


def _prepare(response: str) -> str:
    """Steps 1-2: the text the parser searches, padded with a space on both sides."""
    text = text_of(response)
    if "<answer>" in text:
        text = within_answer_tags(text)
    if last_boxed(text) != "None":
        text = last_boxed(text)
    if "<answer>" in text:
        text = within_answer_tags(text)
    elif "\\boxed" in text:
        text = last_boxed(text)
    text = text.strip()
    for char in _STRIPPED:
        text = text.strip(char)
    return f" {text} "


def parse(response: str, options: dict[str, str]) -> str | None:
    """The option letter MMMU's parser reads from `response`, or None where it would pick one at random."""
    text = _prepare(response)
    letters = list(options)
    bracketed = [letter for letter in letters if f"({letter})" in text]
    if bracketed:
        return max(bracketed, key=lambda letter: text.rfind(f"({letter})"))
    bare = [letter for letter in letters if f" {letter} " in text]
    if bare:
        return max(bare, key=lambda letter: text.rfind(f" {letter} "))
    if len(text.split()) > 5:
        lowered = text.lower()
        named = [letter for letter in letters if str(options[letter]).lower() in lowered]
        if named:
            return max(named, key=lambda letter: lowered.rfind(str(options[letter]).lower()))
    return None


def judge(response: str, answer: str, options: dict[str, str]) -> tuple[float, str | None]:
    """(score, letter read): 1.0 or 0.0 when a letter is read, 1/len(options) (letter None) where MMMU guesses."""
    letter = parse(response, options)
    if letter is None:
        return (1 / len(options) if options else 0.0), None
    return float(letter == answer), letter
