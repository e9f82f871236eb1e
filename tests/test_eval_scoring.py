"""Strict-protocol extraction and scoring, including each MedEvalKit weakness the spec lists."""

import pytest

from lingshu.eval.extract import UNPARSED, extract_choice, extract_short, extract_yes_no, final_answer, normalise
from lingshu.eval.metrics import mean_with_ci, token_f1, token_recall
from lingshu.eval.prompts import multiple_choice, vqa, vqa_kind, with_images

OPTIONS = {"A": "Aspirin", "B": "Heart failure", "C": "Heart", "D": "Warfarin"}


@pytest.mark.parametrize("response", ["B", "B.", "(B)", "**B**", "Option B", "The answer is B.", "Answer: (B)",
                                      "B. Heart failure", "The correct option is B because ...", "<think>A? no</think>B"])
def test_letter_forms(response):
    assert extract_choice(response, OPTIONS) == "B"


def test_option_text_when_no_letter():
    assert extract_choice("I would give warfarin here.", OPTIONS) == "D"
    assert extract_choice("This is heart failure.", OPTIONS) == "B"  # contains "heart" too: the longer option wins
    assert extract_choice("The answer is a drug: warfarin.", OPTIONS) == "D"  # "a" is an article, not option A
    assert extract_choice("b", OPTIONS) == "B"


@pytest.mark.parametrize("response", ["", None, "   ", "I am not sure.", "aspirin or warfarin", "E", "<think>B</think>"])
def test_unparseable_is_explicit_never_random(response):
    assert extract_choice(response, OPTIONS) == UNPARSED


def test_reasoning_is_stripped_and_final_answers_are_preferred():
    assert final_answer("<think>maybe yes</think>No.") == "No."
    assert final_answer("<think>unfinished reasoning, yes") == ""
    assert final_answer("so the answer is \\boxed{C} and not D") == "C"
    assert final_answer("<answer> yes </answer> trailing") == "yes"


@pytest.mark.parametrize("response,expected", [
    ("Yes", "yes"), ("no.", "no"), ("Yes, there is a fracture.", "yes"), ("I know", UNPARSED),
    ("yes and no", UNPARSED), ("", UNPARSED), ("<think>no</think>yes", "yes")])
def test_yes_no_is_whole_word_and_unambiguous(response, expected):
    assert extract_yes_no(response) == expected


def test_short_answer_normalisation():
    assert normalise("The Left Lung.") == "left lung"
    assert normalise("Two lesions") == "2 lesions"
    assert extract_short("  ") == UNPARSED
    assert extract_short("<think>x</think> Axial plane!") == "axial plane"


@pytest.mark.parametrize("answer", ["A", "a.", "(A)", "The"])
def test_an_answer_that_is_only_an_article_is_kept_not_unparsed(answer):
    from lingshu.eval.score import score_record

    kept = answer.strip("().").lower()
    assert normalise(answer) == kept and extract_short(answer) == kept
    record = {"kind": "open", "response": answer, "answer": answer}
    assert score_record(record, "strict") | {"f1": None, "recall": None} == {"extracted": kept, "correct": True,
                                                                              "parsed": True, "f1": None, "recall": None}
    assert score_record(record | {"response": "B"}, "strict")["correct"] is False
    assert score_record(record | {"kind": "closed"}, "strict")["correct"] is True


def test_articles_beside_other_words_are_still_dropped():
    assert normalise("A mass in the lung") == "mass in lung"
    assert normalise("Region A") == "region"  # unchanged: only an answer made of articles alone keeps them
    assert extract_choice("The answer is a drug: warfarin.", OPTIONS) == "D"


def test_token_f1_and_recall():
    assert token_f1("left lung", "left lung") == 1.0
    assert token_f1("left", "left lung") == pytest.approx(2 / 3)
    assert token_recall("the left lung base", "left lung") == 1.0
    assert token_f1("", "x") == 0.0


def test_bootstrap_interval_brackets_the_score_and_narrows_with_more_samples():
    small = mean_with_ci([1.0, 0.0] * 10)
    large = mean_with_ci([1.0, 0.0] * 500)
    assert small["score"] == large["score"] == 50.0
    assert small["ci_low"] < 50.0 < small["ci_high"]
    assert (large["ci_high"] - large["ci_low"]) < (small["ci_high"] - small["ci_low"])
    assert mean_with_ci([1.0, 0.0] * 10) == small  # seeded
    assert mean_with_ci([])["n"] == 0


def test_prompts_match_medevalkit_wording():
    prompt = multiple_choice("Which drug?", {"A": "x", "B": "y"}, context="c1\nc2")
    assert prompt == ("Context: c1\nc2\nQuestion: Which drug?\nOptions: \nA. x\nB. y\n"
                      "Answer with the option's letter from the given choices directly.")
    assert vqa("Is it?", "yes_no") == "Is it?\nPlease output 'yes' or 'no'(no extra output)."
    assert vqa("Which lobe?", "closed") == "Which lobe?\nAnswer the question using a single word or phrase."
    assert [p.get("text") for p in with_images("Q", 2)] == ["<image_1>: ", None, "<image_2>: ", None, "Q"]


def test_strict_prompt_choice_never_looks_at_the_answer():
    # MedEvalKit picks the yes/no prompt from the gold answer; strict decides from the question
    from lingshu.eval.medevalkit_protocol import Settings, kind_by_rules

    assert vqa_kind("Is there a fracture?", "CLOSED") == "yes_no"
    assert vqa_kind("Is this axial or coronal?", "CLOSED") == "closed"
    assert vqa_kind("What organ is shown?", "OPEN") == "open"
    assert kind_by_rules(Settings().prompt_rules, "yes", "OPEN") == "yes_no"  # medevalkit's default rule reads the gold
    assert vqa_kind("Is there a fracture?", None) == "yes_no"


def test_the_two_protocols_differ_where_the_spec_says():
    from lingshu.eval.score import score_record

    nonsense = {"kind": "mcq", "response": "zzz", "answer": "A", "options": OPTIONS}
    assert score_record(nonsense, "strict") == {"extracted": UNPARSED, "correct": False, "parsed": False}
    assert score_record(nonsense, "medevalkit")["correct"] is True  # MedEvalKit's all-zero fuzzy match picks A
    substring = {"kind": "yes_no", "response": "I know", "answer": "no"}
    assert score_record(substring, "strict")["correct"] is False
    assert score_record(substring, "medevalkit")["correct"] is True
    empty = {"kind": "open", "response": "", "answer": "left lung"}
    assert score_record(empty, "strict")["parsed"] is False and score_record(empty, "medevalkit")["correct"] is False
