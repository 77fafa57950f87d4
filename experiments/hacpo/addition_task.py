"""Callable task for the HACPO experiment: a + b with ``digits``-digit operands, exact-match reward."""

import random


def rows(split, size, seed, digits=2):
    rng = random.Random(f"{seed}-{split}-{digits}")  # credo removes train questions that also occur held out
    lo, hi = 10 ** (digits - 1), 10 ** digits - 1
    out = []
    for _ in range(size):
        a, b = rng.randint(lo, hi), rng.randint(lo, hi)
        out.append({"question": f"{a}+{b}=", "answer": str(a + b)})
    return out
