"""Near-duplicate text benchmark: lingshu's TextIndex (datasketch MinHash LSH) on planted near-duplicates.

Why: the curate stage calls `TextIndex.match` and then `TextIndex.add` for every instruction sample, so
their speed bounds text dedup throughput, and MinHash LSH only estimates Jaccard similarity: it can miss
true near-duplicates or report false ones. This generates seeded texts with known near-duplicates (base
sentences of 15-40 words from a Zipf-weighted vocabulary, each with noisy variants made by a few word
substitutions, insertions or deletions), runs match + add for every document in stream order in one
process on one core, and scores each reported pair against the exact Jaccard similarity of the same
shingles (word unigrams + bigrams, `lingshu.data.dedup.shingles`).
"""

from __future__ import annotations

from _common import section, single_core, timed

CPU = single_core()  # before numpy is imported

import argparse  # noqa: E402
import random  # noqa: E402
import string  # noqa: E402
import time  # noqa: E402
from itertools import accumulate, combinations  # noqa: E402

from tqdm import tqdm  # noqa: E402

from lingshu.config import CurateConfig  # noqa: E402
from lingshu.data.dedup import TextIndex, shingles  # noqa: E402

CFG = CurateConfig(sources=[], benchmarks=[], source_priority=[])  # the recipe's thresholds


def generate(docs: int, variants: int, max_edits: int, seed: int) -> tuple[list[str], list[int]]:
    """`docs` texts in shuffled order and the group (base sentence) of each; a group is a base + its variants."""
    rng = random.Random(seed)
    letters = ("".join(rng.choices(string.ascii_lowercase, k=rng.randint(3, 10))) for _ in range(20_000))
    vocabulary = sorted(set(letters))  # sorted: a set's order depends on PYTHONHASHSEED
    rng.shuffle(vocabulary)
    weights = list(accumulate(1 / rank for rank in range(1, len(vocabulary) + 1)))  # Zipf: few common words

    def words(k: int) -> list[str]:
        return rng.choices(vocabulary, cum_weights=weights, k=k)

    def variant(base: list[str]) -> list[str]:
        text = list(base)
        for _ in range(rng.randint(1, max_edits)):
            at = rng.randrange(len(text))
            edit = rng.choice(("substitute", "insert", "delete"))
            if edit == "substitute":
                old = text[at]
                while text[at] == old:
                    text[at] = words(1)[0]
            elif edit == "insert":
                text.insert(at, words(1)[0])
            elif len(text) > 1:
                del text[at]
        return text

    rows = []
    for group in range(docs // (1 + variants)):
        base = words(rng.randint(15, 40))
        rows += [(group, " ".join(w)) for w in [base] + [variant(base) for _ in range(variants)]]
    rng.shuffle(rows)
    return [text for _, text in rows], [group for group, _ in rows]


def jaccard(a: str, b: str) -> float:
    x, y = shingles(a), shingles(b)
    return len(x & y) / len(x | y)


def run_index(texts: list[str], threshold: float, num_perm: int) -> tuple[set[tuple[int, int]], float, float]:
    """match + add every text in order, as the curate stage does; return (earlier, later) matches and seconds."""
    index = TextIndex(threshold, num_perm)
    found: set[tuple[int, int]] = set()
    match_s = add_s = 0.0
    for position, text in enumerate(tqdm(texts, desc="match+add", unit="doc", disable=None)):  # bar on a terminal only
        seconds, matches = timed(lambda: index.match(text))
        match_s += seconds
        found.update((int(key), position) for key, _ in matches)
        add_s += timed(lambda: index.add(str(position), text))[0]
    return found, match_s, add_s


def truth(texts: list[str], groups: list[int], threshold: float) -> tuple[dict[tuple[int, int], float], int]:
    """Pairs within a group whose exact Jaccard is >= threshold (with it), and the number of within-group pairs."""
    members: dict[int, list[int]] = {}
    for position, group in enumerate(groups):
        members.setdefault(group, []).append(position)
    pairs = [pair for positions in members.values() for pair in combinations(positions, 2)]
    similarities = {(a, b): jaccard(texts[a], texts[b]) for a, b in pairs}
    return {pair: j for pair, j in similarities.items() if j >= threshold}, len(pairs)


def ratio(part: int, whole: int) -> str:
    return f"{part}/{whole} = {part / max(whole, 1):.2%}"


def score(texts: list[str], groups: list[int], found: set[tuple[int, int]], threshold: float) -> None:
    true_pairs, group_pairs = truth(texts, groups, threshold)
    hits = found & true_pairs.keys()
    false = found - true_pairs.keys()
    near_miss = [jaccard(texts[a], texts[b]) for a, b in false if groups[a] == groups[b]]
    print(f"planted pairs (same base sentence): {group_pairs}; exact Jaccard >= {threshold}: "
          f"{ratio(len(true_pairs), group_pairs)}")
    print(f"recall: {ratio(len(hits), len(true_pairs))} of the true near-duplicate pairs found")
    edges = [threshold] + [e for e in (0.9, 0.95) if e > threshold] + [1.0]
    for low, high in zip(edges, edges[1:]):
        pairs = [p for p, j in true_pairs.items() if low <= j < high or j == high == 1.0]
        print(f"  exact Jaccard {low:.2f}-{high:.2f}: {ratio(sum(p in hits for p in pairs), len(pairs))}")
    span = f" (exact Jaccard {min(near_miss):.3f}-{max(near_miss):.3f})" if near_miss else ""
    print(f"false positives: {ratio(len(false), len(found))} of the reported pairs: {len(near_miss)} same-sentence "
          f"pairs below the threshold{span}, {len(false) - len(near_miss)} between unrelated sentences")
    later = {b for _, b in true_pairs}
    flagged = {b for _, b in found}
    print(f"per doc (curate drops a doc matching an earlier one): {len(later)} docs have an earlier true "
          f"near-duplicate, {ratio(len(flagged & later), len(later))} flagged; {len(flagged - later)} flagged wrongly")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=100_000, help="number of texts (default: %(default)s)")
    parser.add_argument("--variants", type=int, default=4, help="near-duplicate variants per base (default: 4)")
    parser.add_argument("--max-edits", type=int, default=3, help="1..this many word edits per variant (default: 3)")
    parser.add_argument("--threshold", type=float, default=CFG.near_dup_threshold,
                        help="TextIndex Jaccard threshold (default: curate's near_dup_threshold, %(default)s)")
    parser.add_argument("--num-perm", type=int, default=CFG.minhash_num_perm,
                        help="MinHash permutations (default: curate's minhash_num_perm, %(default)s)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    start = time.perf_counter()
    texts, groups = generate(args.docs, args.variants, args.max_edits, args.seed)
    words = sorted(len(t.split()) for t in texts)
    print(f"{len(texts)} docs: {len(set(groups))} base sentences x (1 + {args.variants} variants with "
          f"1-{args.max_edits} word edits), {words[0]}-{words[-1]} words (median {words[len(words) // 2]}), "
          f"seed {args.seed}; generated in {time.perf_counter() - start:.1f} s")

    section(f"TextIndex(threshold={args.threshold}, num_perm={args.num_perm}): match + add per doc, "
            f"one core (CPU {CPU})")
    found, match_s, add_s = run_index(texts, args.threshold, args.num_perm)
    total = match_s + add_s
    print(f"{len(texts) / total:.0f} docs/s for match+add ({total:.1f} s: match {match_s:.1f} s, add {add_s:.1f} s)")
    if total > 300:
        print(f"note: over 5 minutes for {len(texts)} docs on this machine")

    section("Found pairs vs exact Jaccard of the same shingles")
    score(texts, groups, found, args.threshold)
    print(f"\ntotal benchmark time: {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
