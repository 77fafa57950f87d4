"""A task where a one-character hint helps: "a+b" with a two-digit a and a one-digit b.

The hint is the carry of the units column ("1" if a % 10 + b >= 10 else "0"): with it the Solver only needs the
units digit and the tens digit + carry. Rows also carry SFT fields: ``sft_plan`` (the true carry in half the rows,
empty in the others, so the warmed Solver can answer with or without a plan) and ``noisy_hint`` (the carry, flipped
with probability 0.3, so the warmed Thinker starts imperfect).
"""

import random


def rows(split, size, seed, **kwargs):
    pairs = [(a, b) for a in range(10, 100) for b in range(10)]
    random.Random(seed).shuffle(pairs)
    # held-out questions come from the first 150 pairs, training ones from the rest (disjoint)
    pool = pairs[:150] if split == "eval" else pairs[150:]
    rng = random.Random(seed * 31 + (split == "eval"))
    out = []
    for a, b in pool[:size]:
        carry = str(int(a % 10 + b >= 10))
        noisy = carry if rng.random() > 0.3 else str(1 - int(carry))
        out.append({"question": f"{a}+{b}", "answer": str(a + b), "hint": carry,
                    "sft_plan": carry if rng.random() < 0.5 else "", "noisy_hint": noisy})
    return out
