"""Row generator and verifier used by test_tasks_custom.py through ``task.name = "tasks_callable_helper:rows"``."""

import random


def rows(split, size, seed, offset=0):
    rng = random.Random(f"{split}-{seed}")
    out = []
    for _ in range(size):
        a, b = rng.randint(0, 99), rng.randint(0, 99)
        out.append({"question": f"{a} + {b} + {offset} =", "answer": a + b + offset, "a": a})
    return out


def verify(row, answer_text):
    """1 for the exact sum, 0.5 when off by one, else 0."""
    try:
        diff = abs(int(answer_text) - int(row["answer"]))
    except ValueError:
        return 0.0, {"why": "not an integer"}
    return (1.0 if diff == 0 else 0.5 if diff == 1 else 0.0), {"diff": diff}
