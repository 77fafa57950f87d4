"""A binary task the random embedded model can learn from scratch in a few dozen GRPO steps: the answer scores 1
when it contains the letter 'a' (about 8% of random 8-character answers do), else 0."""


def rows(split, size, seed, **kwargs):
    return [{"question": f"{split} prompt {i}:", "answer": "a"} for i in range(size)]


def verify(row, answer_text):
    return float("a" in answer_text)
