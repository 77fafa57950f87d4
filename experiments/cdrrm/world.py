"""A synthetic instruction-following world whose causal rules and spurious features are known (spec A.7).

Tokens (V = 64): 0 PAD, 1 EOS, 2 LIST, 3-5 unused, 6-15 keywords, 16-25 forbidden tokens, 26-63 filler.
Rules (R = 25): 0-9 "include keyword i", 10-19 "never use forbidden token i", 20 "ends with EOS (not truncated)",
21 "uses list format"; 22-24 are generic items ("helpful", "detailed", "well organized") with no ground truth.
An instruction is 3-5 instruction rules with severities 1-3. Gold preference: the larger severity-weighted count of
satisfied rules. Spurious features: the chosen answer is longer with probability ``p_long`` and sits in slot A with
probability ``p_slot_a``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

V, R, N_INSTR, GENERIC = 64, 25, 22, (22, 23, 24)
EOS, LIST, KEYWORDS, FORBIDDEN, FILLER = 1, 2, range(6, 16), range(16, 26), np.arange(26, 64)
FEAT = 2 * V + 1  # token counts, last-token one-hot, length


@dataclass
class Pair:
    rules: list[int]  # instruction rules
    severity: dict[int, int]
    a: list[int]
    b: list[int]
    gold: str  # "A" or "B"


def satisfied(rule: int, tokens: list[int]) -> bool:
    """Ground truth of an instruction rule on a response."""
    if rule < 10:
        return KEYWORDS[rule] in tokens
    if rule < 20:
        return FORBIDDEN[rule - 10] not in tokens
    if rule == 20:
        return bool(tokens) and tokens[-1] == EOS
    if rule == 21:
        return LIST in tokens
    raise ValueError(f"rule {rule} has no ground truth (generic item)")


def make_response(rng: np.random.Generator, rules: list[int], sat: set[int], length: int) -> list[int]:
    """Filler of ``length`` tokens plus the tokens that make exactly the rules in ``sat`` hold (among ``rules``);
    rules outside the instruction get random distractor tokens."""
    toks = list(rng.choice(FILLER, size=length))
    inserts = []
    for r in range(10):
        if (r in rules and r in sat) or (r not in rules and rng.random() < 0.15):
            inserts.append(KEYWORDS[r])
    for r in range(10, 20):
        if (r in rules and r not in sat) or (r not in rules and rng.random() < 0.15):
            inserts.append(FORBIDDEN[r - 10])
    if (21 in rules and 21 in sat) or (21 not in rules and rng.random() < 0.3):
        inserts.append(LIST)
    for t in inserts:
        toks.insert(int(rng.integers(0, len(toks) + 1)), int(t))
    if (20 in rules and 20 in sat) or (20 not in rules and rng.random() < 0.8):
        toks.append(EOS)
    return [int(t) for t in toks]


def score(rules: list[int], severity: dict[int, int], tokens: list[int]) -> int:
    return sum(severity[r] for r in rules if satisfied(r, tokens))


def make_pair(rng: np.random.Generator, p_long: float, p_slot_a: float) -> Pair:
    while True:
        rules = sorted(int(r) for r in rng.choice(N_INSTR, size=int(rng.integers(3, 6)), replace=False))
        severity = {r: int(rng.integers(1, 4)) for r in rules}
        sats = [{r for r in rules if rng.random() < 0.5} for _ in range(2)]
        w = [sum(severity[r] for r in s) for s in sats]
        if w[0] != w[1]:
            break
    good, bad = (sats[0], sats[1]) if w[0] > w[1] else (sats[1], sats[0])
    short, long = int(rng.integers(6, 13)), int(rng.integers(16, 27))
    lc, lr = (long, short) if rng.random() < p_long else (short, long)
    chosen, rejected = make_response(rng, rules, good, lc), make_response(rng, rules, bad, lr)
    assert score(rules, severity, chosen) > score(rules, severity, rejected)
    if rng.random() < p_slot_a:
        return Pair(rules, severity, chosen, rejected, "A")
    return Pair(rules, severity, rejected, chosen, "B")


def make_pairs(seed: int, n: int, p_long: float, p_slot_a: float) -> list[Pair]:
    rng = np.random.default_rng(seed)
    return [make_pair(rng, p_long, p_slot_a) for _ in range(n)]


def pad(tokens: list[int], rng: np.random.Generator, k: int = 6) -> list[int]:
    """``k`` neutral filler tokens inserted before the final EOS (rule statuses unchanged)."""
    body, tail = (tokens[:-1], tokens[-1:]) if tokens and tokens[-1] == EOS else (tokens, [])
    return body + [int(t) for t in rng.choice(FILLER, size=k)] + tail


def swap(p: Pair) -> Pair:
    return Pair(p.rules, p.severity, p.b, p.a, "B" if p.gold == "A" else "A")


def features(tokens: list[int]) -> np.ndarray:
    """[FEAT]: token counts / 4, last-token one-hot, length / 20."""
    f = np.zeros(FEAT, dtype=np.float32)
    for t in tokens:
        f[t] += 0.25
    if tokens:
        f[V + tokens[-1]] = 1.0
    f[-1] = len(tokens) / 20
    return f


def instruction(p: Pair) -> np.ndarray:
    f = np.zeros(R, dtype=np.float32)
    for r in p.rules:
        f[r] = p.severity[r] / 3
    return f


def discriminative(p: Pair) -> set[int]:
    """Gold-discriminative rules: instruction rules whose truth differs between the two responses."""
    return {r for r in p.rules if satisfied(r, p.a) != satisfied(r, p.b)}
