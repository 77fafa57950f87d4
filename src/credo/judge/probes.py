"""Bias probes, each a rate with its count: A/B swap consistency, length-adversarial pairs (the rejected answer is
padded longer) and format-adversarial pairs (the rejected answer dressed in markdown)."""

from __future__ import annotations

from dataclasses import dataclass

from credo.rewards.pairs import Pair

PADDING = (" To add some general context, this topic is often discussed, and many people have different views on "
           "it, so it is worth keeping an open mind.")


@dataclass(frozen=True)
class Rate:
    count: int
    total: int

    @property
    def rate(self) -> float:
        return self.count / self.total if self.total else 0.0

    def to_dict(self) -> dict:
        return {"count": self.count, "total": self.total, "rate": self.rate}


def swap_consistency(original: list[str | None], swapped: list[str | None]) -> Rate:
    """Pairs where the judge picks the same response in both orders (A then B, or B then A). A parse failure in
    either order is inconsistent. ``original[i]`` and ``swapped[i]`` are winners of pair i before and after the
    swap."""
    if len(original) != len(swapped):
        raise ValueError(f"{len(original)} original winners for {len(swapped)} swapped ones")
    same = sum((a, b) in (("A", "B"), ("B", "A")) for a, b in zip(original, swapped))
    return Rate(same, len(original))


def accuracy(winners: list[str | None], gold: list[str]) -> Rate:
    return Rate(sum(w == g for w, g in zip(winners, gold)), len(gold))


def length_adversarial(pairs: list[Pair], padding: str = PADDING, times: int = 2) -> list[Pair]:
    """The rejected answer grows by ``times`` neutral padding sentences (chosen stays; the gold label is unchanged)."""
    return [Pair(p.prompt, p.chosen, p.rejected + padding * times, p.source + "+length_adv", p.meta) for p in pairs]


def format_adversarial(pairs: list[Pair]) -> list[Pair]:
    """The rejected answer gets a heading, bold and bullet points; its words are unchanged."""
    def dress(text: str) -> str:
        parts = [s.strip() for s in text.replace("\n", " ").split(". ") if s.strip()]
        return "## Answer\n\n**Summary:** " + parts[0] + "\n\n" + "\n".join(f"- {s}" for s in parts[1:])
    return [Pair(p.prompt, p.chosen, dress(p.rejected), p.source + "+format_adv", p.meta) for p in pairs]


def padded_chosen(pairs: list[Pair], padding: str = PADDING) -> list[Pair]:
    """The chosen answer padded with neutral text: a judge that flips here reacts to length, not content."""
    return [Pair(p.prompt, p.chosen + padding, p.rejected, p.source + "+padded_chosen", p.meta) for p in pairs]


def flip_rate(before: list[str | None], after: list[str | None]) -> Rate:
    """Pairs whose winner changed (same A/B placement before and after a perturbation)."""
    return Rate(sum(a != b for a, b in zip(before, after)), len(before))
