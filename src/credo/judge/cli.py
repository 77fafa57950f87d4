"""``credo rubric profile|synthesize|filter|judge|eval`` and ``credo serve MODEL``.

Every rubric command talks to one chat client: ``--endpoint URL --model NAME`` (an OpenAI-compatible server; the
key is read from the variable named by ``--api-key-env``) or ``--local MODEL`` (a causal LM through credo's model
loading). Replies are cached under ``--cache`` (default ``$CREDO_CACHE/judge``), so a re-run makes no call. Pairs
are a preference JSONL file or ``source:NAME`` (a reader of credo.rewards.pairs.PAIR_SOURCES). Each command writes
its records plus ``config.json`` (the arguments, never a key) and prints a JSON summary with parse-failure rates.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from credo.judge.clients import CachedClient, ChatClient, Sampling
from credo.rewards.pairs import PAIR_SOURCES, Pair, PairError, read_pairs


def add_client_args(p: argparse.ArgumentParser, prefix: str = "") -> None:
    dash = f"--{prefix}-" if prefix else "--"
    who = f"{prefix} " if prefix else ""
    p.add_argument(f"{dash}endpoint", default="", help=f"{who}OpenAI-compatible base URL, e.g. http://127.0.0.1:8000/v1")
    p.add_argument(f"{dash}model", default="", help=f"{who}model name at the endpoint")
    p.add_argument(f"{dash}local", default="", help=f"{who}local model (embedded, smollm2, a directory, a Hub id)")


def add_common(p: argparse.ArgumentParser) -> None:
    add_client_args(p)
    p.add_argument("--api-key-env", default="OPENAI_API_KEY", help="environment variable holding the API key")
    p.add_argument("--device", default="auto")
    p.add_argument("--cache", default="", help="response cache directory (default $CREDO_CACHE/judge)")
    p.add_argument("--max-tokens", type=int, default=512)
    p.add_argument("--timeout", type=float, default=60.0)
    p.add_argument("--retries", type=int, default=2, help="re-asks on malformed JSON (and HTTP retries)")
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="output directory")


def make_client(args: argparse.Namespace, prefix: str = "") -> ChatClient | None:
    get = (lambda k: getattr(args, f"{prefix}_{k}" if prefix else k))
    endpoint, model, local = get("endpoint"), get("model"), get("local")
    if not endpoint and not local:
        if prefix:
            return None
        raise PairError("give --endpoint URL --model NAME or --local MODEL")
    if endpoint:
        from credo.judge.openai_client import OpenAIClient

        if not model:
            raise PairError(f"--{prefix + '-' if prefix else ''}endpoint needs --{prefix + '-' if prefix else ''}model")
        inner: ChatClient = OpenAIClient(model, endpoint, args.api_key_env, timeout=args.timeout,
                                         max_retries=args.retries, concurrency=args.concurrency)
    else:
        from credo.judge.hf import HFClient

        inner = HFClient.load(local, device=args.device)
    from credo.models import cache_dir

    return CachedClient(inner, args.cache or cache_dir() / "judge")


def load_pairs(spec: str, limit: int, seed: int) -> list[Pair]:
    if spec.startswith("source:"):
        name = spec.removeprefix("source:")
        if name not in PAIR_SOURCES:
            raise PairError(f"unknown pair source {name!r}; one of {PAIR_SOURCES.names()}")
        return PAIR_SOURCES.get(name)(n=limit, seed=seed)
    return read_pairs(spec, limit or None)


def start(args: argparse.Namespace) -> Path:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    saved = {k: v for k, v in vars(args).items() if k != "fn" and not callable(v)}
    (out / "config.json").write_text(json.dumps(saved, indent=1, default=str))
    return out


def write_jsonl(path: Path, rows: list[dict]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def read_syntheses(path: str):
    from credo.jsonl import read_jsonl
    from credo.judge.pipeline import Synthesis

    out = []
    for line, row in read_jsonl(path, PairError):
        try:
            out.append(Synthesis.from_dict(row))
        except (KeyError, TypeError, ValueError) as e:
            raise PairError(f"{path}:{line}: not a profile/rubric record ({str(e).splitlines()[0]})") from e
    return out


def finish(out: Path, summary: dict) -> dict:
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary, indent=1))
    return summary


def run_stage(args, items, stage, records: str, prefix: str) -> dict:
    """Run one pipeline stage (profile or synthesize) over ``items`` in place; write them to ``records``."""
    out, client = start(args), make_client(args)
    stats = stage(client, items, Sampling(max_tokens=args.max_tokens), args.retries)
    write_jsonl(out / records, [s.to_dict() for s in items])
    return finish(out, stats.to_dict(prefix))


def cmd_profile(args):
    from credo.judge.pipeline import order_pairs, profile

    items = order_pairs(load_pairs(args.pairs, args.limit, args.seed), args.seed)
    return run_stage(args, items, profile, "profiles.jsonl", "profile/")


def cmd_synthesize(args):
    from credo.judge.pipeline import synthesize

    return run_stage(args, read_syntheses(args.input), synthesize, "rubrics.jsonl", "synthesize/")


def cmd_filter(args):
    from credo.judge.pipeline import filter_rubrics, sft_rows

    items = read_syntheses(args.input)
    out = start(args)
    judge = make_client(args) if args.mode == "rejudge" else None
    kept, counts = filter_rubrics(items, args.mode, judge, not args.pairwise, Sampling(max_tokens=args.max_tokens))
    write_jsonl(out / "kept.jsonl", [s.to_dict() for s in kept])
    write_jsonl(out / "sft.jsonl", sft_rows(kept))
    return finish(out, counts)


def cmd_judge(args):
    from credo.judge.judging import evaluate

    pairs = load_pairs(args.pairs, args.limit, args.seed)
    out, client = start(args), make_client(args)
    ev = evaluate(client, pairs, args.mode, make_client(args, "generator"),
                  seed=args.seed, sampling=Sampling(max_tokens=args.max_tokens))
    write_jsonl(out / "verdicts.jsonl", [{"winner": w, "gold": g} for w, g in zip(ev.winners, ev.gold)])
    return finish(out, ev.to_dict())


def cmd_eval(args):
    from credo.judge.judging import evaluate
    from credo.judge.probes import format_adversarial, length_adversarial, swap_consistency

    pairs = load_pairs(args.pairs, args.limit, args.seed)
    out, client = start(args), make_client(args)
    gen, sampling = make_client(args, "generator"), Sampling(max_tokens=args.max_tokens)
    summary = {}
    for mode in args.modes.split(","):
        def run(ps, swap=False, mode=mode):
            return evaluate(client, ps, mode, gen, seed=args.seed, swap=swap, sampling=sampling)

        base, swapped = run(pairs), run(pairs, True)
        summary[mode] = {"iid": base.to_dict(), "swap_consistency": swap_consistency(base.winners,
                                                                                      swapped.winners).to_dict(),
                         "length_adversarial": run(length_adversarial(pairs)).to_dict(),
                         "format_adversarial": run(format_adversarial(pairs)).to_dict()}
    return finish(out, summary)


def cmd_serve(args):
    from credo.judge.server import serve

    serve(args.model, args.host, args.port, args.device, max_tokens=args.max_tokens)
    return 0


def add_subparsers(sub) -> None:
    p = sub.add_parser("serve", help="serve a local model as an OpenAI-compatible chat endpoint")
    p.add_argument("model", help="embedded, smollm2, a local HF directory or a cached Hub id")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--device", default="auto")
    p.add_argument("--max-tokens", type=int, default=512, help="default max_tokens of a request")
    p.set_defaults(fn=cmd_serve)
    rubric = sub.add_parser("rubric", help="CDRRM rubric reward models: profile, synthesize, filter, judge, eval")
    rsub = rubric.add_subparsers(dest="rubric_command", required=True)
    for name, fn, helptext in (("profile", cmd_profile, "evidence-anchored profile of each response"),
                               ("synthesize", cmd_synthesize, "rubric per pair from two label-free profiles"),
                               ("filter", cmd_filter, "keep rubrics that reproduce the gold preference; SFT rows"),
                               ("judge", cmd_judge, "judge preference pairs (direct, one_step or cdrrm)"),
                               ("eval", cmd_eval, "accuracy, swap consistency, length/format-adversarial probes")):
        p = rsub.add_parser(name, help=helptext)
        add_common(p)
        if name in ("synthesize", "filter"):
            p.add_argument("--in", dest="input", required=True, help="records of the previous stage (JSONL)")
        else:
            p.add_argument("--pairs", required=True, help="preference JSONL or source:NAME")
            p.add_argument("--limit", type=int, default=0, help="pairs to use (0 = all)")
        if name == "filter":
            p.add_argument("--mode", choices=("self_check", "rejudge"), default="self_check")
            p.add_argument("--pairwise", action="store_true", help="drop single pairs, not whole instructions")
        if name == "judge":
            p.add_argument("--mode", choices=("direct", "one_step", "cdrrm"), default="direct")
        if name == "eval":
            p.add_argument("--modes", default="direct,one_step,cdrrm")
        if name in ("judge", "eval"):
            add_client_args(p, "generator")
        p.set_defaults(fn=fn)
