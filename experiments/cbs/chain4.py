"""4-term single-digit chain sums with a canonical scratchpad, and a noisy verifier (efficiency.md B.6).

Question ``3+5+2+7``, prompt ``3+5+2+7=``, gold response ``3+5=8,8+2=10,10+7=17`` (<= 24 characters; the embedded
model reads characters). The answer is the text after the last ``=``. A wrong answer is scored 1 with probability
``ETA`` (a false positive); the verdict keeps ``correct`` and ``fp`` so the true accuracy stays measurable.
"""

import random

ETA = 0.2
NOISE = random.Random(0)


def reseed(seed: int) -> None:
    NOISE.seed(seed)


def chain(digits: list[int]) -> str:
    steps, acc = [], digits[0]
    for d in digits[1:]:
        steps.append(f"{acc}+{d}={acc + d}")
        acc += d
    return ",".join(steps)


def rows(split, size, seed, **kwargs):
    rng = random.Random(f"{split}-{seed}")
    out = []
    for _ in range(size):
        digits = [rng.randint(0, 9) for _ in range(4)]
        out.append({"question": "+".join(map(str, digits)), "answer": chain(digits), "sum": str(sum(digits))})
    return out


def correct(row, answer_text: str) -> bool:
    return answer_text.strip() == row["sum"]


def verify(row, answer_text):
    ok = correct(row, answer_text)
    fp = (not ok) and NOISE.random() < ETA
    return float(ok or fp), {"correct": ok, "fp": fp}
