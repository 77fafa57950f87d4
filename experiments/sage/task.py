"""The SAGE decisive-miniature task (efficiency.md C.8): 4-term single-digit chain sums with partial sums, a first
answer "ans s", then checks.

With probability q the first answer has a one-digit error; a random-order re-check ("chk ...") then writes
"fix s*". A right first answer is followed by 0-3 redundant checks (uniform). Checks never corrupt, so the best
policy stops right after a right first answer and checks after a wrong one. Thinking ends with "#", then " s".
Steps are lines ("\\n").
"""

from __future__ import annotations

import random

END = "#"


def corrupt(s: int, rng: random.Random) -> int:
    """``s`` with one digit changed (never a leading zero, never equal to ``s``)."""
    digits = list(str(s))
    i = rng.randrange(len(digits))
    choices = [d for d in "0123456789" if d != digits[i] and not (i == 0 and d == "0" and len(digits) > 1)]
    digits[i] = rng.choice(choices)
    return int("".join(digits))


def trace(terms: list[int], rng: random.Random, q: float = 0.25, max_checks: int = 3) -> tuple[str, dict]:
    """(response text incl. the final answer, facts: first answer right?, checks, first-answer step index)."""
    lines, acc = [], terms[0]
    for t in terms[1:]:
        lines.append(f"{acc}+{t}={acc + t}")
        acc += t
    wrong = rng.random() < q
    first = corrupt(acc, rng) if wrong else acc
    lines.append(f"ans {first}")
    checks = 1 if wrong else rng.randint(0, max_checks)
    for _ in range(checks):
        order = terms[:]
        rng.shuffle(order)
        lines.append(f"chk {'+'.join(map(str, order))}={acc}")
    if wrong:
        lines.append(f"fix {acc}")
    return "\n".join(lines) + f"\n{END} {acc}", {"wrong_first": wrong, "checks": checks}


def rows(split: str, size: int, seed: int, q: float = 0.25) -> list[dict]:
    """Rows {question "a+b+c+d", answer, target (an SFT trace), terms}; train and eval use different seeds."""
    rng = random.Random(seed * 1000 + (0 if split == "train" else 1))
    out = []
    for _ in range(size):
        terms = [rng.randint(1, 9) for _ in range(4)]
        text, facts = trace(terms, rng, q)
        out.append({"question": "+".join(map(str, terms)), "answer": str(sum(terms)), "target": text,
                    "terms": terms, **facts})
    return out


def prompt(row: dict) -> str:
    return f"{row['question']}=\n"


def final_answer(response: str) -> str:
    """The text after the last "#" (first line), or "" if thinking never ended."""
    return response.rsplit(END, 1)[1].strip().split("\n", 1)[0].strip() if END in response else ""


def analyse(response: str, answer: str) -> dict:
    """Parse a sampled response: correct, think tokens (characters before "#"), first answer and whether it was
    right, redundant checks after a right first answer, RFCS (1-based index of the first line stating the right
    answer as "ans"/"fix"/final, over all lines incl. the final one)."""
    think = response.split(END, 1)[0] if END in response else response
    lines = [x for x in response.split("\n") if x.strip()]
    first = next((x[4:].strip() for x in lines if x.startswith("ans ")), None)
    stated = [i for i, x in enumerate(lines) if (x.startswith(("ans ", "fix ")) and x[4:].strip() == answer) or
              (x.startswith(END) and x[1:].strip() == answer)]
    first_idx = next((i for i, x in enumerate(lines) if x.startswith("ans ")), None)
    checks_after = sum(1 for x in lines[(first_idx or 0) + 1:] if x.startswith("chk ")) if first_idx is not None \
        else 0
    return {"correct": final_answer(response) == answer, "think_tokens": len(think),
            "first_right": first == answer if first is not None else None, "checks_after_first": checks_after,
            "rfcs": (stated[0] + 1) / len(lines) if stated and lines else None}
