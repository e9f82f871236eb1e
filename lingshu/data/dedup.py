"""Duplicate detection: exact perceptual-hash matches for images, MinHash LSH for near-duplicate text.

Image duplicates use the recipe's Hamming-0 rule, so a hash table lookup finds them in O(1) per image
(no all-pairs comparison); images are hashed as they stream past, so memory holds only the table.
Text near-duplicates use datasketch's MinHash LSH over word unigrams+bigrams; candidates are confirmed
with the estimated Jaccard similarity before a sample is dropped. A text's `TextSketch` (normalised form
and MinHash) is all that matching needs, so Ray tasks compute sketches once; the curate stage groups them
by LSH band (`lingshu.data.resolve`), and `TextIndex` serves audits and benchmark matching.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable

from datasketch import LeanMinHash, MinHash, MinHashLSH

_WORD = re.compile(r"[a-z0-9]+")


def normalise_text(text: str) -> str:
    return " ".join(_WORD.findall(text.lower()))


def shingles(text: str) -> set[str]:
    words = _WORD.findall(text.lower())
    return set(words) | {f"{a} {b}" for a, b in zip(words, words[1:])}


@dataclass
class PHashIndex:
    """First owner of each pHash, per dedup scope (a dataset for instructions, one shared scope for captions)."""

    owners: dict[tuple[str, int], tuple[str, str]] = field(default_factory=dict)

    def claim(self, scope: str, phash: int, sha256: str, sample_id: str, same_file_is_duplicate: bool) -> str | None:
        """Register an image; return the id of the sample that already owns an identical-pHash image, if any.

        With `same_file_is_duplicate` false (instruction data), more questions about the very same image
        file are not duplicates — only a different file with the same pHash is.
        """
        owner = self.owners.get((scope, phash))
        if owner is None:
            self.owners[(scope, phash)] = (sha256, sample_id)
            return None
        if owner[0] == sha256 and not same_file_is_duplicate:
            return None
        return owner[1]


@dataclass(frozen=True)
class TextSketch:
    """What matching needs from a text: its normalised form (exact matches) and MinHash (None: no shingles)."""

    normalised: str
    minhash: LeanMinHash | None


class MinHasher:
    """MinHashes of texts' shingles, all with the same permutations (so any two can be compared)."""

    def __init__(self, num_perm: int = 128, seed: int = 1):
        self.num_perm, self.seed = num_perm, seed
        template = MinHash(num_perm=num_perm, seed=seed)
        self._permutations, self._scheme = template.permutations, template.scheme

    def minhash(self, text: str) -> LeanMinHash:
        mh = MinHash(num_perm=self.num_perm, seed=self.seed, permutations=self._permutations, scheme=self._scheme)
        tokens = shingles(text)
        if tokens:
            mh.update_batch([t.encode() for t in tokens])
        return LeanMinHash(mh)

    def sketch(self, text: str) -> TextSketch:
        return TextSketch(normalise_text(text), self.minhash(text) if shingles(text) else None)


class TextIndex(MinHasher):
    """MinHash LSH over texts; `match` returns (key, similarity) of stored texts at least `threshold` similar.

    Texts can be given as strings or as sketches computed elsewhere (`MinHasher.sketch`, same num_perm).
    """

    def __init__(self, threshold: float, num_perm: int = 128, seed: int = 1):
        super().__init__(num_perm, seed)
        self.threshold = threshold
        self.lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
        self.hashes: dict[str, LeanMinHash] = {}
        self.exact: dict[str, str] = {}

    def match(self, text: str | TextSketch) -> list[tuple[str, float]]:
        sketch = text if isinstance(text, TextSketch) else self.sketch(text)
        found: dict[str, float] = {}
        exact_key = self.exact.get(sketch.normalised)
        if exact_key is not None:
            found[exact_key] = 1.0
        if sketch.minhash is not None:
            for key in self.lsh.query(sketch.minhash):
                similarity = float(sketch.minhash.jaccard(self.hashes[key]))
                if similarity >= self.threshold:
                    found[key] = max(similarity, found.get(key, 0.0))
        return sorted(found.items(), key=lambda kv: -kv[1])

    def add(self, key: str, text: str | TextSketch) -> None:
        if key in self.hashes:
            return
        sketch = text if isinstance(text, TextSketch) else self.sketch(text)
        self.exact.setdefault(sketch.normalised, key)
        if sketch.minhash is not None:
            self.hashes[key] = sketch.minhash
            self.lsh.insert(key, sketch.minhash)

    def __len__(self) -> int:
        return len(self.exact)


def folded(text: str) -> str:
    """The text case- and whitespace-folded: what equality compares for texts without [a-z0-9] words."""
    return " ".join(text.casefold().split())


@dataclass
class TextCandidate:
    """A training text up for the near-duplicate check: only texts about the same images can be duplicates.
    A text without [a-z0-9] words (other scripts, punctuation) has no shingles, so no MinHash, and all such
    texts normalise to ""; it is a duplicate only of an equal text (`exact`), not of any other word-less one."""

    signature: str  # the sha256s of the sample's images, comma-joined ("" for text-only samples)
    sketch: TextSketch
    exact: str = ""  # without a MinHash: the folded text

    @classmethod
    def of(cls, signature: str, text: str, hasher: MinHasher) -> "TextCandidate":
        sketch = hasher.sketch(text)
        return cls(signature, sketch, folded(text) if sketch.minhash is None else "")


def exact_groups(hashes: Iterable[tuple[str, int]]) -> list[frozenset[str]]:
    """Groups (size >= 2) of names sharing a pHash: the duplicate partition of a set of images."""
    by_hash: dict[int, set[str]] = {}
    for name, value in hashes:
        by_hash.setdefault(int(value), set()).add(name)
    return sorted((frozenset(g) for g in by_hash.values() if len(g) > 1), key=sorted)

