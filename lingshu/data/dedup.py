"""Duplicate detection: exact perceptual-hash matches for images, MinHash LSH for near-duplicate text.

Image duplicates use the recipe's Hamming-0 rule, so a hash table lookup finds them in O(1) per image
(no all-pairs comparison); images are hashed as they stream past, so memory holds only the table.
Text near-duplicates use datasketch's MinHash LSH over word unigrams+bigrams; candidates are confirmed
with the estimated Jaccard similarity before a sample is dropped.
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


class TextIndex:
    """MinHash LSH over texts; `match` returns (key, similarity) of stored texts at least `threshold` similar."""

    def __init__(self, threshold: float, num_perm: int = 128, seed: int = 1):
        self.threshold = threshold
        self.num_perm = num_perm
        template = MinHash(num_perm=num_perm, seed=seed)
        self._permutations, self._scheme = template.permutations, template.scheme
        self._seed = seed
        self.lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
        self.hashes: dict[str, LeanMinHash] = {}
        self.exact: dict[str, str] = {}

    def minhash(self, text: str) -> LeanMinHash:
        mh = MinHash(num_perm=self.num_perm, seed=self._seed, permutations=self._permutations,
                     scheme=self._scheme)
        tokens = shingles(text)
        if tokens:
            mh.update_batch([t.encode() for t in tokens])
        return LeanMinHash(mh)

    def match(self, text: str, minhash: LeanMinHash | None = None) -> list[tuple[str, float]]:
        found: dict[str, float] = {}
        exact_key = self.exact.get(normalise_text(text))
        if exact_key is not None:
            found[exact_key] = 1.0
        if shingles(text):
            minhash = minhash or self.minhash(text)
            for key in self.lsh.query(minhash):
                similarity = float(minhash.jaccard(self.hashes[key]))
                if similarity >= self.threshold:
                    found[key] = max(similarity, found.get(key, 0.0))
        return sorted(found.items(), key=lambda kv: -kv[1])

    def add(self, key: str, text: str, minhash: LeanMinHash | None = None) -> None:
        if key in self.hashes:
            return
        self.exact.setdefault(normalise_text(text), key)
        if shingles(text):
            minhash = minhash or self.minhash(text)
            self.hashes[key] = minhash
            self.lsh.insert(key, minhash)

    def __len__(self) -> int:
        return len(self.exact)


def exact_groups(hashes: Iterable[tuple[str, int]]) -> list[frozenset[str]]:
    """Groups (size >= 2) of names sharing a pHash: the duplicate partition of a set of images."""
    by_hash: dict[int, set[str]] = {}
    for name, value in hashes:
        by_hash.setdefault(int(value), set()).add(name)
    return sorted((frozenset(g) for g in by_hash.values() if len(g) > 1), key=sorted)

