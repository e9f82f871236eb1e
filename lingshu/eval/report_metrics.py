"""Report-generation metrics (radiology reports): ROUGE-L, BLEU-1..4, METEOR and CIDEr, as percentages.

What: `report_scores(predictions, references)` scores generated reports against reference reports at
corpus level; `findings_scores` does the same on the findings sections only, as `parse_sections` reads
them ("Findings: ... Impression: ...", inline or as "FINDINGS:" heading lines, in either order).

Why these packages: the numbers should be comparable with the report-generation literature (R2Gen,
MIMIC-CXR / IU X-ray tables, Lingshu), which computes them with the COCO caption toolkit, so nothing is
reimplemented here:
- ROUGE-L: Google's `rouge-score` (`rougeL`, its own tokenizer, no stemming), the F-measure per pair,
  averaged over pairs.
- BLEU-1..4, METEOR, CIDEr: `pycocoevalcap` 1.2 (the COCO caption evaluation code), after its
  PTBTokenizer (Stanford CoreNLP 3.4.1: lowercases, splits, drops punctuation). BLEU is its corpus BLEU
  (n-gram counts pooled over the corpus, "closest" reference length); METEOR is METEOR 1.5 (`-l en
  -norm`, with its paraphrase table), the corpus score the jar reports; CIDEr is pycocoevalcap's `Cider`
  (CIDEr-D: sigma 6, clipped counts, x10), with IDF computed over the references given, averaged over
  pairs. So CIDEr depends on the whole reference set: it is 0 for a single pair (every n-gram's IDF is
  0) and not comparable between test sets of different composition.
All are reported x100 (CIDEr too: 100 here is the COCO toolkit's 1.0). SPICE is deliberately left out
(it needs to download Stanford CoreNLP models and is not used for reports).

Java requirement: the PTBTokenizer and METEOR are Java programs bundled inside the pycocoevalcap wheel
(stanford-corenlp-3.4.1.jar, meteor-1.5.jar + data/paraphrase-en.gz); they run offline but need `java`
(8 or later) on PATH. `report_scores` raises a RuntimeError naming this when Java is missing. METEOR
starts one JVM (about 5 s to load its paraphrase table, up to 2 GB heap), kept for the life of the
process and shared by later calls; the tokenizer starts one short JVM per call and writes its input to a
temporary file next to its jar, so the pycocoevalcap install folder must be writable.

Empty predictions do not crash and score 0 for their pair (they still count in corpus BLEU's length
and in every average). All metrics are deterministic.
"""

from __future__ import annotations

import re
import shutil
import threading

# Section headings: "Findings:" / "IMPRESSION:" anywhere (inline form), or a heading line of its own
# with or without the colon. Another upper-case heading at the start of a line ("COMPARISON:",
# "RECOMMENDATION(S):") ends the current section.
_HEADING = re.compile(r"\b(findings|impression)[ \t]*:|^[ \t]*(findings|impression)[ \t]*$", re.I | re.M)
_OTHER_HEADING = re.compile(r"^[ \t]*[A-Z][A-Z /()&-]*[A-Z)][ \t]*:", re.M)

METRICS = ("rouge_l", "bleu_1", "bleu_2", "bleu_3", "bleu_4", "meteor", "cider")


def parse_sections(report: str) -> dict[str, str]:
    """Findings and impression text of a report; keys "findings" and "impression", "" where missing.

    A section runs from its heading to the next findings/impression heading, or to another upper-case
    heading at the start of a line ("COMPARISON:", "NOTIFICATION:"), or the end. Text before the first
    heading (indication, technique, ...) is dropped. A report with NO findings/impression heading at all
    is taken as findings in full (generated reports often have no headings); a repeated heading's texts
    are joined. Whitespace inside a section is collapsed to single spaces.
    """
    text = report or ""
    matches = list(_HEADING.finditer(text))
    sections = {"findings": [], "impression": []}
    if not matches:
        sections["findings"].append(text)
    for i, match in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        other = _OTHER_HEADING.search(text, match.end(), end)  # "^" here: real line starts only
        sections[(match.group(1) or match.group(2)).lower()].append(text[match.end():other.start() if other else end])
    return {name: " ".join(" ".join(parts).split()) for name, parts in sections.items()}


_meteor = None
_meteor_lock = threading.Lock()


def _meteor_score(gts: dict, res: dict) -> float:
    """Corpus METEOR from one shared METEOR 1.5 JVM (started on first use; restarted after a failure)."""
    global _meteor
    from pycocoevalcap.meteor.meteor import Meteor

    with _meteor_lock:
        if _meteor is None:
            _meteor = Meteor()
        try:
            score, _ = _meteor.compute_score(gts, res)
        except Exception:
            _meteor = None  # its own lock may be left held, and its pipe out of step: start afresh next time
            raise
    return float(score)


def report_scores(predictions: list[str], references: list[str]) -> dict[str, float]:
    """Corpus-level rouge_l, bleu_1..bleu_4, meteor and cider of predictions against references, x100.

    One reference per prediction. Returns {} when there are no pairs. Needs Java (see module docstring).
    """
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions but {len(references)} references")
    if not predictions:
        return {}
    if shutil.which("java") is None:
        raise RuntimeError("report metrics need Java on PATH: pycocoevalcap's PTBTokenizer and METEOR are "
                           "Java programs (e.g. apt-get install default-jre-headless)")
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    rouge = [scorer.score(ref or "", pred or "")["rougeL"].fmeasure for pred, ref in zip(predictions, references)]

    # One tokenizer run (one JVM) for both sides; keys are ("ref"|"pred", index).
    captions = {("ref", i): [{"caption": ref or ""}] for i, ref in enumerate(references)}
    captions.update({("pred", i): [{"caption": pred or ""}] for i, pred in enumerate(predictions)})
    tokens = PTBTokenizer().tokenize(captions)
    gts = {i: tokens[("ref", i)] for i in range(len(references))}
    res = {i: tokens[("pred", i)] for i in range(len(predictions))}

    bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
    cider, _ = Cider().compute_score(gts, res)
    scores = {"rouge_l": sum(rouge) / len(rouge)}
    scores.update({f"bleu_{n + 1}": float(b) for n, b in enumerate(bleu)})
    scores["meteor"] = _meteor_score(gts, res)
    scores["cider"] = float(cider)
    return {name: 100.0 * scores[name] for name in METRICS}


def findings_scores(predictions: list[str], references: list[str]) -> dict[str, float]:
    """`report_scores` on findings sections only, over the pairs whose reference has findings.

    Both sides go through `parse_sections` (so a prediction without headings counts as findings in
    full, and one with only an impression has empty findings, scoring 0). Returns {} when no reference
    has findings.
    """
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions but {len(references)} references")
    pairs = [(parse_sections(pred)["findings"], parse_sections(ref)["findings"])
             for pred, ref in zip(predictions, references)]
    pairs = [(pred, ref) for pred, ref in pairs if ref]
    return report_scores([p for p, _ in pairs], [r for _, r in pairs])
