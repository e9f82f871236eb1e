"""The texts of the scale corpus (lingshu.data.scale_corpus): random clinical-sounding questions, answers
and captions, and near-duplicate edits that curation's text dedup must catch.

Texts are random word sequences from a few hundred medical and plain words, so two independent texts
share almost no word bigrams and are never near-duplicates by chance; lowercase words without digits
leave de-identification nothing to replace, so the text curation compares is the text written here.

A near-duplicate is an earlier text with one or two words replaced. It counts only when it is one
under every rule curation applies: the exact Jaccard of the two texts' shingles (`dedup.shingles`) is at
least 0.9, their MinHash estimate (`dedup.MinHasher`, the curate config's permutations) reaches
`near_dup_threshold`, and at least one band of the MinHash LSH built for that threshold is identical, so
the pair is a candidate at all (at Jaccard 0.95 about 1% of pairs share no band). An edit that misses
is tried at other positions; if none passes, the copy differs from the original only in letter case and
punctuation, which normalises to the same text (an exact duplicate, also `near_duplicate_text`).
"""

from __future__ import annotations

import random

import numpy as np

from lingshu.data.dedup import MinHasher, shingles

MEDICAL = """abdomen abscess acute adenoma adrenal airway alveolar aneurysm angle anterior aorta apex appendix
artery atelectasis atrial atrophy axial basal benign bile biliary bladder bleeding bowel brain bronchial
calcification calculus cardiac carotid cartilage cavity cerebellum cerebral cervical chamber chest cholecyst
chronic cirrhosis clavicle colon compression consolidation contrast coronal cortex cortical cranial cyst
cystic debris deep degenerative density dilated disc distal diverticulum dorsal duct duodenum edema effusion
embolism emphysema enhancement enlarged epidural esophagus extrinsic fascia fat femur fibrosis fissure fistula
fluid focal foramen fracture frontal fundus gallbladder ganglion gastric gland glioma graft gyrus hematoma
hemorrhage hepatic hernia hilar hip humerus hyperdense hypodense ileum iliac infarct inferior infiltrate
inguinal intestine intracranial ischemia jejunum joint kidney knee laceration lateral lesion ligament liver
lobe lobar lumbar lung lymph malignant mandible margin mass medial mediastinum membrane meniscus mesentery
metastasis midline mucosa muscle myocardium nasal necrosis neck nerve nodule nodular obstruction occipital
opacity orbit osseous ovary pancreas parenchyma parietal patella pelvis pericardial perineal peripheral
peritoneum pituitary plaque pleural pneumonia pneumothorax portal posterior prostate proximal pulmonary
radius rectum renal retroperitoneal rib rupture sacrum sagittal sclerosis scoliosis septum shadow shoulder
sinus skull soft spine spleen stenosis sternum stomach subdural superior suture synovial temporal tendon
testis thalamus thickening thoracic thrombus thyroid tibia tissue trachea tumor ulcer ulna ureter urethra
uterus vascular vein ventricle vertebra vessel wall"""
PLAIN = """about above across after again against along also among appear around aside because before behind
below beneath beside between beyond both bright broad careful center change clear close common compare
consider contain continue could course curved dark describe detail different direction distinct during each
early edge either entire even evident extend faint few finding follow form found further given greater
group half have here high however inner irregular itself large later least left less level likely line
little long lower main many mark middle might more most much narrow near nearly never next none normal
note often only open other outer over part partly perhaps place plain point present prior quite rather
region regular remain right round same seen several shape sharp short show side similar single size small
smooth some still such there thick thin three through toward under upper usual various very visible whole
wide within without"""
WORDS = tuple(sorted(set(MEDICAL.split()) | set(PLAIN.split())))
OPENERS = ("what", "which", "where", "how", "is", "does", "are", "can")
ANSWERS_CLOSED = ("yes", "no")
MIN_EXACT_JACCARD = 0.9


def words(rng: random.Random, low: int, high: int) -> list[str]:
    return [rng.choice(WORDS) for _ in range(rng.randint(low, high))]


def question(rng: random.Random, low: int = 5, high: int = 14) -> str:
    """A question of low..high words (plus the opener)."""
    return f"{rng.choice(OPENERS).capitalize()} {' '.join(words(rng, low, high))}?"


def answer(rng: random.Random) -> tuple[str, str]:
    """(answer, answer type): a yes/no answer or a few words."""
    if rng.random() < 0.4:
        return rng.choice(ANSWERS_CLOSED), "CLOSED"
    return " ".join(words(rng, 1, 4)), "OPEN"


def caption(rng: random.Random, tokens: int) -> str:
    """A caption of `tokens` words and a full stop (tokens + 1 tokens as curation counts them)."""
    return " ".join([rng.choice(WORDS) for _ in range(tokens)]).capitalize() + "."


class NearDuplicates:
    """Edits texts into near-duplicates that curation's text dedup finds (see the module docstring)."""

    def __init__(self, threshold: float, num_perm: int):
        from datasketch import MinHashLSH

        self.threshold = threshold
        self.hasher = MinHasher(num_perm)
        self.bands = MinHashLSH(threshold=threshold, num_perm=num_perm).hashranges
        self.cosmetic = 0  # copies that fell back to a case/punctuation edit

    def found(self, original: str, copy: str) -> bool:
        a, b = shingles(original), shingles(copy)
        if len(a & b) / len(a | b) < MIN_EXACT_JACCARD:
            return False
        ha, hb = self.hasher.minhash(original), self.hasher.minhash(copy)
        if float(ha.jaccard(hb)) < self.threshold:
            return False
        return any(np.array_equal(ha.hashvalues[s:e], hb.hashvalues[s:e]) for s, e in self.bands)

    def edit(self, text: str, answer_text: str, rng: random.Random) -> str:
        """`text` (a question) edited so that text + "\\n" + answer_text is a near-duplicate of the original's."""
        tokens = text.rstrip("?").split(" ")
        for _ in range(6):
            edited = list(tokens)
            for position in rng.sample(range(1, len(tokens)), 2 if len(tokens) >= 80 else 1):
                edited[position] = rng.choice(WORDS)
                if edited[position] == tokens[position]:
                    edited[position] = WORDS[(WORDS.index(tokens[position]) + 1) % len(WORDS)]
            copy = " ".join(edited) + "?"
            if self.found(f"{text}\n{answer_text}", f"{copy}\n{answer_text}"):
                return copy
        self.cosmetic += 1
        return text.upper().rstrip("?") + " ?"
