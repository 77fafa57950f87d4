"""A callable task for the dynamic-sampling test: 'fixed' rows always score 1, 'varied' rows score by parity."""


def rows(split, size, seed, **kwargs):
    return [{"question": f"{split} q{i}", "answer": "fixed" if i % 2 == 0 else "varied"} for i in range(size)]


def verify(row, answer_text):
    if row["answer"] == "fixed":
        return 1.0
    return float(len(answer_text) % 2)
