"""Generators without a ``verify`` hook (exact-match scoring) for test_tasks_custom.py."""


def words(split, size, seed):
    base = ["cat", "dog", "emu", "fox", "gnu", "hen", "owl", "pig", "rat", "yak"]
    start = 0 if split == "eval" else 3
    return [{"question": f"Reverse '{w}'.", "answer": w[::-1]} for w in base[start : start + size]]


def no_answer(split, size, seed):
    return [{"question": "q"}]


def broken(split, size, seed):
    raise RuntimeError("generator exploded")


not_callable = 3
