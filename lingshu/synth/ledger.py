"""Per-generator accounting: every attempt ends accepted or rejected with a reason, and LLM calls are costed.

A generator's yield is only comparable across runs when nothing can disappear between "tried" and
"kept", so the ledger is the one place that records outcomes, and `conserved()` is checked before the
stage publishes anything. Rejections keep the input's ids and the step that failed, for the rejected table.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Rejection:
    id: str
    generator: str
    step: str
    reason: str
    detail: str
    source_ids: list[str]
    provenance_file: str = ""

    def to_row(self) -> dict[str, Any]:
        return {"id": self.id, "generator": self.generator, "step": self.step, "reason": self.reason,
                "detail": self.detail[:2000], "source_ids": list(self.source_ids),
                "provenance_file": self.provenance_file}


@dataclass
class Ledger:
    generator: str
    attempts: int = 0
    accepted: int = 0
    rejected: Counter = field(default_factory=Counter)
    rejections: list[Rejection] = field(default_factory=list)
    skipped: str = ""          # why the generator (or its LLM steps) did not run
    calls: int = 0
    cached_calls: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    notes: dict[str, Any] = field(default_factory=dict)

    def attempt(self, n: int = 1) -> None:
        self.attempts += n

    def accept(self, n: int = 1) -> None:
        self.accepted += n

    def reject(self, id: str, step: str, reason: str, detail: str = "", source_ids: list[str] | None = None,
               provenance_file: str = "") -> None:
        self.rejected[reason] += 1
        self.rejections.append(Rejection(id, self.generator, step, reason, detail, source_ids or [], provenance_file))

    def charge(self, completions: list, price: dict[str, float] | None) -> None:
        """Count LLM calls and their tokens; only uncached calls cost money (a rerun costs nothing)."""
        for completion in completions:
            self.calls += 1
            if completion.cached:
                self.cached_calls += 1
                continue
            self.tokens_in += completion.tokens_in
            self.tokens_out += completion.tokens_out
            if price:
                self.cost_usd += (completion.tokens_in * price.get("input", 0.0)
                                  + completion.tokens_out * price.get("output", 0.0)) / 1e6

    def conserved(self) -> bool:
        return self.attempts == self.accepted + sum(self.rejected.values())

    def summary(self) -> dict[str, Any]:
        return {
            "status": "skipped" if self.skipped and not self.attempts else "ran",
            "skipped_because": self.skipped,
            "attempts": self.attempts,
            "accepted": self.accepted,
            "rejected": sum(self.rejected.values()),
            "rejected_by_reason": dict(sorted(self.rejected.items())),
            "yield": round(self.accepted / self.attempts, 4) if self.attempts else None,
            "llm_calls": self.calls,
            "llm_cached_calls": self.cached_calls,
            "tokens_in": self.tokens_in,
            "tokens_out": self.tokens_out,
            "cost_usd": round(self.cost_usd, 6),
            **self.notes,
        }
