"""J2: SmolLM2-135M-Instruct as a frozen per-item verifier (yes/no next-token log-probabilities) on pairs of the
toy world rendered as words, with the gold rubric and the teacher CtS rubric.

Usage: ``OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python experiments/cdrrm/j2.py --pairs 100``
Writes ``experiments/cdrrm/j2.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from run import cts_rubric
from world import EOS, FILLER, FORBIDDEN, KEYWORDS, LIST, discriminative, make_pairs, satisfied

KEY_WORDS = ["apple", "river", "stone", "cloud", "tiger", "lemon", "piano", "rocket", "garden", "silver"]
BAD_WORDS = ["zebra", "hammer", "violet", "candle", "pepper", "mirror", "falcon", "cotton", "marble", "walnut"]
FILL = ["the", "a", "it", "is", "was", "and", "then", "we", "they", "see", "go", "make", "good", "time", "day",
        "way", "thing", "small", "large", "old", "new", "first", "last", "long", "great", "little", "own", "other",
        "right", "big", "high", "different", "early", "young", "important", "few", "public", "same"]


def word(t: int) -> str:
    if t in KEYWORDS:
        return KEY_WORDS[t - KEYWORDS[0]]
    if t in FORBIDDEN:
        return BAD_WORDS[t - FORBIDDEN[0]]
    if t == LIST:
        return "\n- "
    if t == EOS:
        return "[END]"
    return FILL[t - int(FILLER[0])]


def render(tokens: list[int]) -> str:
    return " ".join(word(t) for t in tokens).replace(" \n- ", "\n- ")


def question(rule: int) -> str:
    if rule < 10:
        return f'Does the response contain the word "{KEY_WORDS[rule]}"?'
    if rule < 20:
        return f'Is the response free of the word "{BAD_WORDS[rule - 10]}"?'
    if rule == 20:
        return "Does the response end with the marker [END]?"
    return 'Does the response contain a bullet line starting with "-"?'


@torch.no_grad()
def yes_margin(model, tok, items: list[tuple[int, list[int]]], batch: int = 16) -> np.ndarray:
    """log p(Yes) - log p(No) for each (rule, response), from one forward pass per item."""
    def first(text: str) -> int:
        return tok(text, add_special_tokens=False)["input_ids"][0]

    yes, no, yes2, no2 = first(" Yes"), first(" No"), first("Yes"), first("No")
    out = []
    for i in range(0, len(items), batch):
        ids = [tok.apply_chat_template([{"role": "user", "content": f"Response:\n{render(t)}\n\n{question(r)} "
                                         "Answer Yes or No."}], add_generation_prompt=True, tokenize=True,
                                       return_dict=False) for r, t in items[i:i + batch]]
        width = max(len(x) for x in ids)
        x = torch.full((len(ids), width), tok.pad_token_id)
        m = torch.zeros_like(x)
        for j, s in enumerate(ids):
            x[j, width - len(s):], m[j, width - len(s):] = torch.tensor(s), 1
        logp = torch.log_softmax(model(input_ids=x, attention_mask=m).logits[:, -1].float(), -1)
        out += (torch.logsumexp(logp[:, [yes, yes2]], -1) - torch.logsumexp(logp[:, [no, no2]], -1)).tolist()
    return np.array(out)


def judge(margins: dict, rubrics: list[set[int]]) -> list[str]:
    out = []
    for i, rb in enumerate(rubrics):
        ha = sum(margins[(i, r, 0)] > 0 for r in rb)
        hb = sum(margins[(i, r, 1)] > 0 for r in rb)
        sa, sb = sum(margins[(i, r, 0)] for r in rb), sum(margins[(i, r, 1)] for r in rb)
        out.append("A" if ha > hb else "B" if hb > ha else ("A" if sa >= sb else "B"))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(1)
    from credo.config import ModelConfig
    from credo.models import load_policy

    t0 = time.time()
    model, tok, _ = load_policy(ModelConfig(path="smollm2"), device="cpu")
    model.eval()
    pairs = make_pairs(40_000 + args.seed * 10 + 1, args.pairs, 0.5, 0.5)  # the balanced split of run.py
    keys = [(args.seed, 2, 1, i) for i in range(len(pairs))]
    rubrics = {"gold": [discriminative(p) for p in pairs], "cts_T": [cts_rubric(p, k) for p, k in zip(pairs, keys)]}
    need = sorted({(i, r, s) for rbs in rubrics.values() for i, rb in enumerate(rbs) for r in rb for s in (0, 1)})
    items = [(r, (pairs[i].a, pairs[i].b)[s]) for i, r, s in need]
    margins = dict(zip(need, yes_margin(model, tok, items)))
    truth = [satisfied(r, t) for r, t in items]
    atomic = float(np.mean([(margins[k] > 0) == y for k, y in zip(need, truth)]))
    yes_rate = float(np.mean([margins[k] > 0 for k in need]))
    res = {"pairs": len(pairs), "items": len(items), "atomic_acc": atomic, "yes_rate": yes_rate,
           "seconds": time.time() - t0}
    for name, rbs in rubrics.items():
        w = judge(margins, rbs)
        res[f"acc_{name}"] = float(np.mean([a == p.gold for a, p in zip(w, pairs)]))
    print(json.dumps(res))
    Path(__file__).with_name("j2.json").write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
