"""A callable task whose ``verify`` hook returns what ``kwargs["bad"]`` names (test_verify_honest.py)."""

import math


def rows(split, size, seed, bad="ok"):
    return [{"question": f"{split} question {i} =", "answer": "1", "bad": bad} for i in range(size)]


def verify(row, answer_text):
    bad = row["bad"]
    if bad == "raise":
        raise ZeroDivisionError("verifier bug")
    return {"ok": 1.0, "nan": math.nan, "inf": math.inf, "none": None, "str": "1.0", "tuple": (1.0, 2.0, 3.0),
            "pair_no_dict": (1.0, "why"), "big": 1.5, "negative": -0.5, "numpy": _np_half()}[bad]


def _np_half():
    import numpy as np

    return np.float32(0.5)
