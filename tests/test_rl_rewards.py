"""The verifiable rewards (lingshu/rl/rewards.py) RL optimises.

Accuracy must be exactly the benchmark scorer's verdict, or RL would optimise something the evaluation
does not measure; format must be strict, or the policy learns to pad its answers. Both take TRL's
calling convention, so completions come as strings or as message lists.
"""

from __future__ import annotations

import math

import pytest

from lingshu.rl.config import RewardConfig
from lingshu.rl.rewards import accuracy_reward, format_reward, reward_functions, weighted_sum

OPTIONS = {"A": "Aspirin", "B": "Warfarin", "C": "Heparin"}


def _one(reward, completion, kind: str, answer: str = "", options: dict | None = None, **kwargs):
    """The reward of a single completion, called the way TRL calls reward functions (columns as lists)."""
    return reward(prompts=["p"], completions=[completion], kind=[kind], answer=[answer], options=[options],
                  **kwargs)[0]


# --- accuracy -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("completion,kind,answer,options,expected", [
    ("B", "mcq", "B", OPTIONS, 1.0),
    ("The answer is B.", "mcq", "B", OPTIONS, 1.0),
    ("C", "mcq", "B", OPTIONS, 0.0),
    ("I cannot tell.", "mcq", "B", OPTIONS, 0.0),            # unparsed scores 0, never a guess
    ("Yes, there is.", "yes_no", "yes", None, 1.0),
    ("No.", "yes_no", "yes", None, 0.0),
    ("yes and no", "yes_no", "yes", None, 0.0),             # ambiguous: unparsed
    ("The Left lung.", "closed", "left lung", None, 1.0),   # case, article and punctuation normalised
    ("right lung", "closed", "left lung", None, 0.0),
    ("Two", "open", "2", None, 1.0),                        # number words as digits
    ("two nodules", "open", "2", None, 0.0),                # exact match, not containment
])
def test_accuracy_is_the_evaluation_verdict(completion, kind, answer, options, expected):
    assert _one(accuracy_reward, completion, kind, answer, options) == expected


@pytest.mark.parametrize("reply,kind,answer,options", [
    ("B", "mcq", "B", OPTIONS), ("no", "yes_no", "yes", None), ("left lung", "closed", "left lung", None)])
def test_accuracy_of_conversational_completion_equals_plain(reply, kind, answer, options):
    conversational = [{"role": "assistant", "content": reply}]
    assert _one(accuracy_reward, conversational, kind, answer, options) == _one(accuracy_reward, reply, kind, answer, options)


# --- format -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("reply,kind,expected", [
    ("B", "mcq", 1.0),
    ("B.", "mcq", 1.0),
    ("B. because warfarin is an anticoagulant", "mcq", 0.0),
    ("D", "mcq", 0.0),                              # not among the options
    ("yes", "yes_no", 1.0),
    ("No.", "yes_no", 1.0),
    ("yes, it is", "yes_no", 0.0),
    ("left upper lobe", "closed", 1.0),
    ("one two three four five", "closed", 1.0),     # max_short_words is 5
    ("one two three four five six", "closed", 0.0),
    ("a small nodule in the left upper lobe", "open", 1.0),
    ("B\nbecause", "mcq", 0.0),                      # more than one line
    ("left\nlung", "closed", 0.0),
    ("", "closed", 0.0),
])
def test_format_is_strict(reply, kind, expected):
    assert _one(format_reward, reply, kind, options=OPTIONS) == expected


def test_format_open_limit_is_max_open_words():
    cfg = RewardConfig(max_open_words=3)
    assert _one(format_reward, "mass in liver", "open", cfg=cfg) == 1.0
    assert _one(format_reward, "mass in right liver", "open", cfg=cfg) == 0.0


@pytest.mark.parametrize("reply,expected", [
    ("<think>warfarin is the anticoagulant</think><answer>B</answer>", 1.0),
    ("<think>step 1\nstep 2</think>\n<answer> B. </answer>", 1.0),
    ("<think>warfarin</think><answer>B because warfarin</answer>", 0.0),   # the inner answer is checked
    ("<answer>B</answer>", 0.0),                                          # reasoning is required
    ("<think>warfarin</think>B", 0.0),
    ("B", 0.0),
])
def test_think_style_needs_tags_around_a_well_formed_answer(reply, expected):
    assert _one(format_reward, reply, "mcq", options=OPTIONS, cfg=RewardConfig(format_style="think")) == expected


def test_format_skips_reports():
    assert _one(format_reward, "Findings: clear lungs. Impression: normal.", "report") is None


# --- combining rewards --------------------------------------------------------------------------------

def test_weighted_sum_skips_none_and_gives_nan_when_all_skip():
    totals = weighted_sum([[1.0, None, 0.0, None], [1.0, 1.0, None, None]], [0.5, 1.0])
    assert totals[:3] == [1.5, 1.0, 0.0]
    assert math.isnan(totals[3])


def test_reward_functions_pass_the_config_to_format():
    fmt, acc = reward_functions(["format", "accuracy"], RewardConfig(max_short_words=1))
    assert acc is accuracy_reward
    assert _one(fmt, "left lung", "closed") == 0.0  # two words are over the configured limit


def test_unknown_reward_name_is_named():
    with pytest.raises(ValueError, match="length_penalty"):
        reward_functions(["format", "length_penalty"], RewardConfig())
