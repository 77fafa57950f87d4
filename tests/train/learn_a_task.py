"""A callable task whose reward is the share of 'a' characters in the response: learnable in a few GRPO steps."""


def rows(split, size, seed, **kwargs):
    return [{"question": f"{split} prompt {i}:", "answer": "a"} for i in range(size)]


def verify(row, answer_text):
    return sum(c == "a" for c in answer_text) / max(len(answer_text), 1)
