"""The order-dependent decisions, distributed: image pHash claims and near-duplicate texts.

Both are found with one group-by over keys every kept candidate emits, so that only records that share a
key ever meet:
- `p|scope|pHash` per image of a training sample. A group of one decides nothing (its image is the first
  with that pHash, and nobody else asks). A group of two or more replays `PHashIndex.claim` over its
  claims in (source priority, record) order — the single-pass rule exactly, including that instruction
  data may ask several questions about the very same file. When every claimant has one image, the group
  decides alone and only its losers come back to the driver; a group with a multi-image sample comes back
  whole, because a sample stops claiming at its first duplicate image, which may be in another group: the
  driver replays those groups together.
- `t|signature|band|hash` per LSH band of a training text's MinHash (the bands of datasketch's MinHashLSH
  for the threshold, so the candidates are the ones its index would return), and `e|signature|digest` for
  texts without any [a-z0-9] word (other scripts, punctuation: no shingles, no MinHash), which are
  duplicates only of an equal text (case and whitespace folded). A group's pairs are verified with the
  MinHash Jaccard estimate; the edges come back to the driver.
The driver then joins texts into connected components (union-find over the edges between samples that
survived the pHash step) and keeps the best-priority member of each. A chain A~B, B~C with A≁C is one
component, so B and C are both dropped; a greedy pass that compares only with kept texts keeps C, because
B, its only near-duplicate, was dropped. (That pass also compared a word-less text with the first word-less
text kept anywhere, whatever it said and whichever images it was about; here only equal texts about the same
images meet.) The driver holds only duplicates and edges, never the corpus.
"""

from __future__ import annotations

import hashlib
import pickle
from array import array
from collections import defaultdict
from dataclasses import dataclass
from itertools import combinations
from typing import Iterable

import numpy as np
import pyarrow as pa
from datasketch import MinHashLSH

from lingshu.data.dedup import PHashIndex
from lingshu.data.reading import Pending
from lingshu.data.schema import Rejected

# A MinHash's values are below 2**32 (datasketch masks them to 32 bits), so the group-by carries them as uint32: a
# text's sketch rides on each of its band rows, and half the bytes halves what the shuffle moves.
SKETCH_DTYPE = np.uint32
KEYS = pa.schema([("key", pa.string()), ("order", pa.int64()), ("data", pa.binary())])
FOUND = pa.schema([("kind", pa.string()), ("data", pa.binary())])


def band_ranges(threshold: float, num_perm: int) -> list[tuple[int, int]]:
    """The (start, end) of each band of the MinHash LSH datasketch builds for this threshold."""
    return list(MinHashLSH(threshold=threshold, num_perm=num_perm).hashranges)


def shuffle_keys(batch: pa.Table, bands: list[tuple[int, int]]) -> pa.Table:
    """map_batches UDF: the group-by keys of each kept candidate (its images' pHashes, its text's bands)."""
    rows = []
    for order, payload, alive in zip(batch["order"].to_pylist(), batch["payload"].to_pylist(),
                                     batch["alive"].to_pylist()):
        if not alive:
            continue
        pending: Pending = pickle.loads(payload)
        sample = pending.record
        same_file = pending.record.task == "caption"
        for position, (phash, sha256) in enumerate(pending.claims):
            rows.append({"key": f"p|{pending.scope}|{phash:016x}", "order": order,
                         "data": pickle.dumps((order, position, pending.scope, phash, sha256, sample.id, same_file,
                                               len(pending.claims)))})
        if pending.text is None:
            continue
        minhash, signature = pending.text.sketch.minhash, pending.text.signature
        if minhash is None:  # no words: only an equal text about the same images is a duplicate
            exact = hashlib.sha256(pending.text.exact.encode()).hexdigest()
            rows.append({"key": f"e|{signature}|{exact}", "order": order,
                         "data": pickle.dumps((order, sample.id, None))})
            continue
        values = np.asarray(minhash.hashvalues)
        data = pickle.dumps((order, sample.id, values.astype(SKETCH_DTYPE).tobytes()))  # each band row carries it
        for band, (start, end) in enumerate(bands):
            rows.append({"key": f"t|{signature}|{band}|{values[start:end].byteswap().tobytes().hex()}",
                         "order": order, "data": data})
    return pa.Table.from_pylist(rows, schema=KEYS)


def resolve_group(group: pa.Table, threshold: float) -> pa.Table:
    """map_groups UDF: a group's pHash claims (when it has two or more) or its verified text edges."""
    key = group["key"][0].as_py() if len(group) else ""
    entries = [pickle.loads(d) for d in group["data"].to_pylist()]
    rows = []
    if len(entries) > 1 and key.startswith("p|"):
        if all(entry[-1] == 1 for entry in entries):  # single-image samples only: the group decides alone
            rows = [{"kind": "lost", "data": pickle.dumps(item)} for item in image_duplicates(entries).items()]
        else:
            rows = [{"kind": "claim", "data": pickle.dumps(e)} for e in entries]
    elif len(entries) > 1:
        for (a, id_a, h_a), (b, id_b, h_b) in combinations(sorted(entries, key=lambda e: e[0]), 2):
            if a == b:
                continue
            similarity = _similarity(h_a, h_b)
            if similarity >= threshold:
                rows.append({"kind": "edge", "data": pickle.dumps((a, b, similarity, id_a, id_b))})
    return pa.Table.from_pylist(rows, schema=FOUND)


def _similarity(a: bytes | None, b: bytes | None) -> float:
    """The MinHash Jaccard estimate of two carried sketches (datasketch's `jaccard`); 1.0 for equal word-less texts."""
    if a is None:
        return 1.0
    values_a, values_b = np.frombuffer(a, dtype=SKETCH_DTYPE), np.frombuffer(b, dtype=SKETCH_DTYPE)
    return float(np.count_nonzero(values_a == values_b)) / len(values_a)


@dataclass(frozen=True, slots=True)
class Decision:
    reason: str
    detail: str
    step: str


def image_duplicates(claims: list[tuple]) -> dict[int, Decision]:
    """Replay the pHash claims of the shared groups in (order, image) order: the records that lose."""
    index, lost = PHashIndex(), {}
    for order, _, scope, phash, sha256, sample_id, same_file, _ in sorted(claims, key=lambda c: (c[0], c[1])):
        if order in lost:  # a sample stops claiming at its first duplicate image
            continue
        owner = index.claim(scope, phash, sha256, sample_id, same_file_is_duplicate=same_file)
        if owner is not None:
            lost[order] = Decision("duplicate_image", f"same pHash as an image of {owner}", "image_dedup")
    return lost


class UnionFind:
    def __init__(self):
        self.parent: dict[int, int] = {}

    def find(self, x: int) -> int:
        self.parent.setdefault(x, x)
        root = x
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[x] != root:
            self.parent[x], x = root, self.parent[x]
        return root

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:  # the smaller order (the better priority) becomes the root: it is the component's keeper
            self.parent[max(ra, rb)] = min(ra, rb)


def text_duplicates(edges: Iterable[tuple], excluded: set[int]) -> dict[int, Decision]:
    """Connected components of the near-duplicate edges between texts not `excluded`; every member but the
    best-priority one (the smallest order) loses. The detail names the most similar earlier neighbour, and
    the kept text too when that neighbour is not it (a chain)."""
    uf, ids = UnionFind(), {}
    neighbours: dict[int, dict[int, float]] = defaultdict(dict)
    for a, b, similarity, id_a, id_b in edges:
        if a in excluded or b in excluded:
            continue
        ids[a], ids[b] = id_a, id_b
        uf.union(a, b)
        neighbours[a][b] = neighbours[b][a] = max(similarity, neighbours[a].get(b, 0.0))
    lost = {}
    for node in sorted(neighbours):
        keeper = uf.find(node)
        if keeper == node:
            continue
        near = neighbours[node]
        best = keeper if keeper in near else min(near, key=lambda other: (-near[other], other))
        detail = f"similarity {near[best]:.2f} to {ids[best]}"
        if best != keeper:
            detail += f" (a near-duplicate chain whose kept text is {ids[keeper]})"
        lost[node] = Decision("near_duplicate_text", detail, "text_dedup")
    return lost


class Resolution:
    """The group-by's output, gathered batch by batch on the driver (never all of its rows at once): the image
    losers groups decided alone, the claims of groups with multi-image samples, and the text edges, kept as two
    orders and a similarity each plus every text's id once."""

    def __init__(self):
        self.lost: dict[int, Decision] = {}
        self.claims: list[tuple] = []
        self.edges = (array("q"), array("q"), array("d"))
        self.ids: dict[int, str] = {}

    def add(self, kind: str, data: bytes) -> None:
        """One `FOUND` row."""
        item = pickle.loads(data)
        if kind == "lost":
            order, decision = item
            self.lost[order] = decision
        elif kind == "claim":
            self.claims.append(item)
        else:
            a, b, similarity, self.ids[a], self.ids[b] = item
            for column, value in zip(self.edges, (a, b, similarity)):
                column.append(value)

    def add_batch(self, batch: pa.Table) -> None:
        for kind, data in zip(batch["kind"].to_pylist(), batch["data"].to_pylist()):
            self.add(kind, data)

    def decide(self) -> dict[int, Decision]:
        """The losers of both steps: images first, then texts among the survivors."""
        lost = self.lost | image_duplicates(self.claims)
        edges = ((a, b, similarity, self.ids[a], self.ids[b]) for a, b, similarity in zip(*self.edges))
        return lost | text_duplicates(edges, set(lost))


def apply_decision(pending: Pending, decision: Decision | None) -> Sample | Rejected:
    if decision is None:
        return pending.record
    return Rejected.of(pending.record, decision.reason, decision.detail, decision.step)
