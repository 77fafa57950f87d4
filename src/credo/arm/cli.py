"""``credo arm {train,generate}``; ``add_subparsers(sub)`` hooks into the main argparse CLI."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from credo.cli import add_run_args


def add_subparsers(subparsers) -> argparse.ArgumentParser:
    a = subparsers.add_parser("arm", help="autoregressive reward models (GenARM / PARM / UniARM): train, guided "
                              "generation")
    sub = a.add_subparsers(dest="arm_cmd", required=True)
    t = sub.add_parser("train", help="train an ARM on preference pairs (see recipes/uniarm.yaml)")
    add_run_args(t)
    t.set_defaults(arm_fn=cmd_train)
    g = sub.add_parser("generate", help="sample from the recipe's model guided by trained ARM(s)")
    g.add_argument("recipe")
    g.add_argument("overrides", nargs="*")
    g.add_argument("--arm", required=True, action="append", help="ARM directory (a run's arm/); repeat for "
                   "GenARM's product of single-objective ARMs")
    g.add_argument("--pref", default="", help="preference weights λ, e.g. 0.3,0.7")
    g.add_argument("--alpha", type=float, help="guidance strength (default decode.alpha)")
    g.add_argument("--prompt", action="append", default=[], help="prompt text (repeatable; default: the "
                   "synthetic task's 16 topic prompts)")
    g.add_argument("--n", type=int, default=1, help="samples per prompt")
    g.add_argument("--seed", type=int, default=0)
    g.set_defaults(arm_fn=cmd_generate)
    return a


def run(args: argparse.Namespace):
    return args.arm_fn(args)


def cmd_train(args: argparse.Namespace) -> dict:
    from credo.arm.config import load_arm_config
    from credo.arm.evaluate import evaluate_run
    from credo.arm.train import train_arm
    from credo.config import recipe_path

    cfg = load_arm_config(recipe_path(args.recipe), args.overrides)
    model, tok, result = train_arm(cfg, resume=args.resume, overwrite=args.overwrite)
    if cfg.eval.grid:
        report = evaluate_run(cfg, model, tok, cfg.log.output_dir)
        result |= {"hv": report["arm"]["hv"], "hv_oracle": report["oracle"]["hv"], "hv_ratio": report["hv_ratio"],
                   "mip": report["arm"]["mip"], "slowdown": report["slowdown"]}
        print(f"pareto plot: {Path(cfg.log.output_dir) / 'pareto.png'}")
    print(f"arm: {Path(cfg.log.output_dir) / 'arm'}")
    print(json.dumps(result, indent=1))
    return result


def cmd_generate(args: argparse.Namespace) -> dict:
    from credo.arm.config import load_arm_config
    from credo.arm.generate import build_processor, guided_generate
    from credo.arm.synthetic import TOPICS, TopicTask
    from credo.config import recipe_path, replace_from
    from credo.models import encode_prompt, load_causal_lm, load_tokenizer, resolve_model_dir
    from credo.models.device import resolve_device

    cfg = load_arm_config(recipe_path(args.recipe), args.overrides)
    device = resolve_device(cfg.train.device)
    mcfg = replace_from(cfg.model, {"path": cfg.decode.base}, "decode.base") if cfg.decode.base else cfg.model
    path = resolve_model_dir(mcfg)
    base, tok = load_causal_lm(path, mcfg, device).eval(), load_tokenizer(path, mcfg)
    alpha = cfg.decode.alpha if args.alpha is None else args.alpha
    arms = args.arm if len(args.arm) > 1 else args.arm[0]
    proc = build_processor(arms, args.pref, alpha, base_tokenizer=tok, normalize=cfg.decode.normalize, device=device)
    texts = args.prompt or [TopicTask.prompt(i) for i in range(len(TOPICS))]
    ids = [encode_prompt(tok, t, cfg.model.chat_template) for t in texts]
    _, plain_tps = guided_generate(base, tok, ids, args.n, cfg.decode.max_new_tokens, cfg.decode.temperature,
                                   None, args.seed)
    trajs, tps = guided_generate(base, tok, ids, args.n, cfg.decode.max_new_tokens, cfg.decode.temperature, [proc],
                                 args.seed)
    for i, t in enumerate(trajs):
        print(json.dumps({"prompt": texts[i // args.n], "response": t.response_text}))
    result = {"tokens_per_s": tps, "unguided_tokens_per_s": plain_tps, "slowdown": plain_tps / max(tps, 1e-9)}
    print(json.dumps(result))
    return result
