"""A callable task with a dense reward: the share of lowercase letters in the answer (about 1/4 at random)."""


def rows(split, size, seed, **kwargs):
    return [{"question": f"{split} {i}:", "answer": "abc"} for i in range(size)]


def verify(row, answer_text):
    return sum(c.islower() for c in answer_text) / max(len(answer_text), 1)
