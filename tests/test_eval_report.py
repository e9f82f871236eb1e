"""Report-generation metrics: section parsing, and ROUGE-L / BLEU / METEOR / CIDEr from the real packages."""

import shutil

import pytest

from lingshu.eval.report_metrics import METRICS, findings_scores, parse_sections, report_scores

needs_java = pytest.mark.skipif(shutil.which("java") is None,
                                reason="no java on PATH: pycocoevalcap's PTBTokenizer and METEOR are Java programs")

REFERENCES = [
    "The heart size is normal. The lungs are clear without focal consolidation, effusion or pneumothorax.",
    "There is a small left pleural effusion with adjacent atelectasis. No pneumothorax is seen.",
    "Moderate cardiomegaly is present with mild pulmonary vascular congestion and bilateral edema.",
]
CLOSE = [
    "Heart size is normal. The lungs are clear without consolidation, effusion or pneumothorax.",
    "There is a small left pleural effusion with atelectasis. No pneumothorax.",
    "Moderate cardiomegaly with mild pulmonary vascular congestion and edema.",
]
WORSE = [
    "Heart is enlarged. There is right lower lobe consolidation.",
    "Lungs are clear bilaterally.",
    "No acute process. Normal chest.",
]


# --- parse_sections (no Java) ---

def test_parse_inline_both_orders():
    assert parse_sections("Findings: Lungs are clear. Impression: Normal chest.") == {
        "findings": "Lungs are clear.", "impression": "Normal chest."}
    assert parse_sections("impression: normal chest. findings: lungs are clear.") == {
        "findings": "lungs are clear.", "impression": "normal chest."}


def test_parse_heading_lines_and_other_sections():
    report = ("INDICATION: cough.\n\nFINDINGS:\nNo focal consolidation.\nHeart size normal.\n\n"
              "IMPRESSION:\nNo acute process.\n\nNOTIFICATION: called to Dr. X.")
    assert parse_sections(report) == {"findings": "No focal consolidation. Heart size normal.",
                                      "impression": "No acute process."}
    # a heading line without colon; an upper-case label on the heading's own line is content, not a heading
    assert parse_sections("FINDINGS\nLungs clear.\nImpression\nNormal.") == {
        "findings": "Lungs clear.", "impression": "Normal."}
    assert parse_sections("FINDINGS: PA AND LATERAL: lungs clear.") == {
        "findings": "PA AND LATERAL: lungs clear.", "impression": ""}


def test_parse_missing_sections_and_no_headings():
    assert parse_sections("Findings: Small right effusion.") == {"findings": "Small right effusion.", "impression": ""}
    assert parse_sections("IMPRESSION: No acute process.") == {"findings": "", "impression": "No acute process."}
    # no headings at all: the whole text is taken as findings (documented choice)
    assert parse_sections("  Lungs are clear.\nNo effusion. ") == {"findings": "Lungs are clear. No effusion.",
                                                                  "impression": ""}
    assert parse_sections("") == {"findings": "", "impression": ""}


# --- metrics (Java: PTBTokenizer and METEOR) ---

def test_no_pairs_and_length_mismatch():
    assert report_scores([], []) == {}
    with pytest.raises(ValueError):
        report_scores(["a"], [])


@needs_java
def test_identical_reports_score_full_marks():
    scores = report_scores(REFERENCES, REFERENCES)
    assert tuple(scores) == METRICS
    assert scores["rouge_l"] == pytest.approx(100.0)
    assert scores["bleu_4"] == pytest.approx(100.0, abs=1e-4)
    assert scores["meteor"] == pytest.approx(100.0, abs=1e-4)
    assert scores["cider"] > 0
    assert all(isinstance(v, float) for v in scores.values())


@needs_java
def test_worse_predictions_score_lower_on_every_metric():
    close, worse = report_scores(CLOSE, REFERENCES), report_scores(WORSE, REFERENCES)
    for name in METRICS:
        assert close[name] > worse[name], (name, close[name], worse[name])
        assert 0 <= worse[name] and close[name] < (1000 if name == "cider" else 100)


@needs_java
def test_empty_predictions_score_zero_without_crashing():
    empty = report_scores(["", ""], REFERENCES[:2])
    assert empty == {name: 0.0 for name in METRICS}
    # an empty prediction among good ones (last, where the tokenizer's line handling is most fragile)
    mixed = report_scores(REFERENCES[:2] + [""], REFERENCES)
    assert 0 < mixed["rouge_l"] < 100 and 0 < mixed["meteor"] < 100


@needs_java
def test_findings_scores_use_only_pairs_whose_reference_has_findings():
    references = [f"Findings: {REFERENCES[0]} Impression: Normal.",
                  "IMPRESSION: Small left effusion.",  # no findings: this pair is left out
                  f"FINDINGS:\n{REFERENCES[2]}\nIMPRESSION:\nCardiomegaly."]
    predictions = [f"Findings: {CLOSE[0]} Impression: Normal chest.",
                   "Completely unrelated text about the abdomen.",
                   CLOSE[2]]  # no headings: taken as findings
    expected = report_scores([CLOSE[0], CLOSE[2]], [REFERENCES[0], REFERENCES[2]])
    assert findings_scores(predictions, references) == expected  # also: deterministic across calls
    assert findings_scores(["x"], ["Impression: normal."]) == {}
