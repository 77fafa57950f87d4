"""TRL-style reward functions used by the reward-function tests through ``module:function`` paths."""

import math


def count_a(prompts, completions, **fields):
    """Share of 'a' characters in each completion."""
    return [c.count("a") / max(len(c), 1) for c in completions]


def gold_is_a(prompts, completions, answer, bonus=0.0, **fields):
    """Reads a row field (``answer``, one value per completion) and a bound kwarg."""
    return [float(a == "a") + bonus for a in answer]


def bad(prompts, completions, kind="nan", at=5, **fields):
    """0.5 for every completion except completion ``at``, which gets what ``kind`` names."""
    if kind == "raise" and any(q.endswith(" 1:") for q in fields["question"]):
        raise ValueError("reward bug")
    out = [0.5] * len(completions)
    if kind == "wrong_length":
        return out[:-1]
    if kind == "not_a_list":
        return 0.5
    if kind != "raise" and at < len(out):
        out[at] = {"nan": math.nan, "inf": -math.inf, "none": None, "string": "0.5"}[kind]
    return out
