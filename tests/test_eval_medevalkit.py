"""The `medevalkit` protocol reproduces MedEvalKit's rule-based judgments, quirks included, without crashing."""

from __future__ import annotations

import pytest

from lingshu.eval.medevalkit import (
    ANSWER_MARKERS,
    judge_closed,
    judge_multiple_choice,
    judge_open,
    judge_yes_no,
    parse_response,
)

OPTIONS = ["Pneumonia", "Pleural effusion", "Cardiomegaly"]  # option strings as the judge gets them; letters by position


# --- multiple choice ---------------------------------------------------------------------------------

def test_mc_bare_letter_first_paragraph_wins_over_later_text():
    assert judge_multiple_choice("B\n\nBecause the angle is blunted. A is wrong.", "B", OPTIONS) == (True, "B")
    assert judge_multiple_choice("B\n\nThe answer is A.", "A", OPTIONS) == (False, "B")


def test_mc_letter_before_dot_in_last_paragraph():
    response = "The lesion is hyperdense and well circumscribed.\n\nC. Cardiomegaly is the finding"
    assert judge_multiple_choice(response, "C", OPTIONS) == (True, "C")
    assert judge_multiple_choice(response, "A", OPTIONS) == (False, "C")


def test_mc_letter_outside_the_options_is_not_a_valid_letter():
    # "E" is no option letter here: nothing is recognised and fuzzy matching falls back to the first option
    assert judge_multiple_choice("E", "A", OPTIONS) == (True, "A")
    assert judge_multiple_choice("E", "C", OPTIONS) == (False, "A")


def test_mc_marker_extraction():
    response = "After reviewing the film, the answer is B. Pleural effusion blunts the angle."
    assert judge_multiple_choice(response, "B", OPTIONS) == (True, "B")
    assert judge_multiple_choice("The answer is B.", "B", OPTIONS) == (True, "B")
    assert judge_multiple_choice("Answer: C", "B", OPTIONS) == (False, "C")


def test_mc_markers_apply_in_order_each_keeping_text_after_its_last_occurrence():
    assert ANSWER_MARKERS.index("answer is") < ANSWER_MARKERS.index("answer:")
    # "answer is" leaves " b. final answer: c", then "answer:" leaves " c"
    assert judge_multiple_choice("The answer is B. Final answer: C", "C", OPTIONS) == (True, "C")


def test_mc_text_after_last_colon_is_not_stripped():
    options = ["Pneumonia", "Edema"]
    # " b" (leading space) is no letter, so the fuzzy fallback decides -- and picks A here
    assert judge_multiple_choice("Final choice: B", "B", options) == (False, "A")
    assert judge_multiple_choice("Final choice:B", "B", options) == (True, "B")


def test_mc_option_text_equality():
    assert judge_multiple_choice("Pleural effusion", "B", OPTIONS) == (True, "B")
    assert judge_multiple_choice("The answer is pleural effusion.", "B", OPTIONS) == (True, "B")
    assert judge_multiple_choice("Pleural effusion", "A", OPTIONS) == (False, "B")


def test_mc_boxed_and_answer_tag_are_extracted():
    assert judge_multiple_choice("Reasoning first.\n\nFinal: \\boxed{C}", "C", OPTIONS) == (True, "C")
    assert judge_multiple_choice("<answer>B</answer>", "B", OPTIONS) == (True, "B")


def test_mc_word_boxed_without_braces_destroys_the_response():
    assert parse_response("B, not written in a boxed form") == "None"
    assert judge_multiple_choice("B, not written in a boxed form", "B", OPTIONS) == (False, "A")


def test_mc_fuzzy_fallback_picks_closest_option():
    assert judge_multiple_choice("cardiomegally", "C", OPTIONS) == (True, "C")
    assert judge_multiple_choice("cardiomegally", "A", OPTIONS) == (False, "C")


def test_mc_letter_prefixed_option_strings_change_what_the_fuzzy_fallback_picks():
    # "(B)" is no letter; against bare texts nothing is similar and A is picked, while "b. pleural effusion"
    # shares "b" with it -- so the option strings as MedEvalKit passes them decide the judgment
    prefixed = [f"{letter}. {text}" for letter, text in zip("ABC", OPTIONS)]
    assert judge_multiple_choice("(B)", "B", OPTIONS) == (False, "A")
    assert judge_multiple_choice("(B)", "B", prefixed) == (True, "B")
    # and a bare option text never equals a prefixed option string: it is matched by similarity only
    assert judge_multiple_choice("Pleural effusion", "B", prefixed) == (True, "B")


def test_mc_fuzzy_ties_go_to_the_first_option():
    # "x" is equally similar (ratio 2/3) to "xy" and "yx"
    assert judge_multiple_choice("x", "B", ["xy", "yx"]) == (False, "A")
    assert judge_multiple_choice("x", "A", ["xy", "yx"]) == (True, "A")


def test_mc_all_zero_similarity_picks_a_and_counts_nonsense_correct_when_answer_is_a():
    # documented MedEvalKit quirk: "zzz" shares no character with any option -> "A"
    assert judge_multiple_choice("zzz", "A", OPTIONS) == (True, "A")
    assert judge_multiple_choice("zzz", "B", OPTIONS) == (False, "A")


def test_mc_empty_response_never_crashes_and_is_judged_a():
    assert judge_multiple_choice("", "A", OPTIONS) == (True, "A")
    assert judge_multiple_choice("", "C", OPTIONS) == (False, "A")
    assert judge_multiple_choice(None, "A", OPTIONS) == (True, "A")  # type: ignore[arg-type]
    assert judge_multiple_choice("", "A", []) == (False, "")


def test_mc_think_is_not_stripped():
    # the marker inside <think> is used; the strict protocol would judge only "I am not sure"
    assert judge_multiple_choice("<think>The answer is B.</think>\n\nI am not sure", "B", OPTIONS) == (True, "B")


# --- yes / no ------------------------------------------------------------------------------------------

def test_yes_no_plain():
    assert judge_yes_no("Yes, there is an effusion.", "yes") == (True, "yes, there is an effusion")
    assert judge_yes_no("No.", "no") == (True, "no")
    assert judge_yes_no("No.", "yes") == (False, "no")


def test_yes_no_substring_quirks():
    assert judge_yes_no("I know", "no") == (True, "i know")  # "know" contains "no"
    assert judge_yes_no("I know", "yes") == (False, "i know")
    assert judge_yes_no("Not visible", "no") == (True, "not visible")
    assert judge_yes_no("Yes, the nodule is there", "yes") == (False, "yes, the nodule is there")


def test_yes_no_both_present_is_wrong():
    assert judge_yes_no("yes and no", "yes") == (False, "yes and no")
    assert judge_yes_no("yes and no", "no") == (False, "yes and no")


def test_yes_no_think_is_not_stripped():
    assert judge_yes_no("<think>Could it be no?</think>Yes", "yes") == (False, "<think>could it be no?</think>yes")


# --- closed / open -----------------------------------------------------------------------------------------

def test_closed_lowercase_and_removes_newlines_and_dots_from_response_only():
    assert judge_closed("Left lung.", "Left Lung") == (True, "left lung")
    assert judge_closed("Left\nlung", "left lung") == (False, "leftlung")
    assert judge_closed(" left lung", "left lung") == (False, " left lung")
    assert judge_closed("MRI.", "MRI.") == (False, "mri")  # the gold answer keeps its "."


def test_closed_think_is_not_stripped():
    assert judge_closed("<think>hmm</think>left lung", "left lung") == (False, "<think>hmm</think>left lung")


def test_open_raw_exact_match():
    assert judge_open("Pneumonia", "pneumonia") == (True, "pneumonia")
    assert judge_open("pneumonia.", "pneumonia") == (False, "pneumonia.")
    assert judge_open("The answer is pneumonia", "pneumonia") == (False, " pneumonia")
    assert judge_open("<think>hmm</think>pneumonia", "pneumonia") == (False, "<think>hmm</think>pneumonia")


# --- never crash ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("response", ["", None, "\n\n", "   "])
def test_empty_responses_never_crash(response):
    assert judge_yes_no(response, "no") == (False, response.replace("\n", "") if response else "")
    assert judge_closed(response, "x")[0] is False
    assert judge_open(response, "x")[0] is False
    assert judge_multiple_choice(response, "A", OPTIONS) == (True, "A")
