"""The ``credo`` command line: train, sft, eval, demo, config, retrieve."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

RECIPES = Path(__file__).parent / "recipes"


def recipe_path(name: str) -> Path:
    """A recipe file path, or the bare name of a recipe shipped with credo (``grpo`` → recipes/grpo.yaml)."""
    p = Path(name)
    if p.is_file():
        return p
    shipped = RECIPES / (name if name.endswith(".yaml") else f"{name}.yaml")
    if shipped.is_file():
        return shipped
    known = sorted(x.stem for x in RECIPES.glob("*.yaml"))
    raise SystemExit(f"credo: recipe {name!r} not found (a YAML path, or one of {known})")


def _quiet() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from transformers.utils import logging

    logging.disable_progress_bar()
    logging.set_verbosity_error()


def cmd_train(args: argparse.Namespace) -> dict:
    from credo.config import load_config
    from credo.train.multi import build_trainer
    from credo.train.report import write_report

    cfg = load_config(recipe_path(args.recipe), args.overrides)
    trainer = build_trainer(cfg, resume=args.resume)
    result = trainer.run()
    trainer.export()
    if cfg.log.report:
        print(f"report: {write_report(trainer.run_dir)}")
    print(json.dumps(result, indent=1))
    return result


def cmd_demo(args: argparse.Namespace) -> dict:
    from credo.config import load_config
    from credo.train.metrics import read_metrics
    from credo.train.report import write_report
    from credo.train.rl import RLTrainer

    cfg = load_config(recipe_path("demo"), args.overrides)
    print(f"credo demo: SFT warm start ({cfg.sft.steps} steps), then GRPO ({cfg.train.steps} steps) on "
          f"reasoning-gym {cfg.task.name} with the embedded model; run folder {cfg.log.output_dir}")
    trainer = RLTrainer(cfg, resume=args.resume)
    after = trainer.run()
    trainer.export()
    evals = [r for r in read_metrics(trainer.run_dir / "metrics.jsonl") if "eval/accuracy" in r]
    before = evals[0] if evals else {}
    report = write_report(trainer.run_dir, title="credo demo: SFT warm start + GRPO")

    def show(key: str) -> str:
        return f"{before.get(key, float('nan')):.3f} before GRPO → {after.get(key, float('nan')):.3f} after"

    print(f"held-out accuracy on {cfg.eval.size} prompts: greedy {show('eval/accuracy')}; "
          f"sampled (pass@1 at temperature {cfg.sampling.temperature}) {show('eval/sampled_accuracy')}")
    print(f"report: {report.resolve()}")
    return after


def cmd_sft(args: argparse.Namespace) -> dict:
    from credo.config import load_config
    from credo.models import encode_prompt, load_policy
    from credo.sft.trainer import sft_train
    from credo.tasks import build_task
    from credo.train.checkpoint import save_hf_dir, seed_everything
    from credo.train.metrics import MetricsLogger

    cfg = load_config(recipe_path(args.recipe), args.overrides)
    if args.wmss:
        from credo.sft.wmss_trainer import run_wmss

        return run_wmss(cfg, resume=args.resume)
    seed_everything(cfg.train.seed)
    model, tok, _ = load_policy(cfg.model)
    task = build_task(cfg.task)
    rows = task.rows("train")[: cfg.sft.size]
    examples = [(encode_prompt(tok, task.prompt(r), cfg.model.chat_template),
                 tok(task.target(r), add_special_tokens=False)["input_ids"] + [tok.eos_token_id]) for r in rows]
    out = Path(cfg.log.output_dir)
    with MetricsLogger(out, tensorboard=cfg.log.tensorboard) as logger:
        metrics = sft_train(model, tok.pad_token_id, examples, cfg.sft, seed=cfg.train.seed, log=logger.log)
    save_hf_dir(out / "policy", model, tok)
    print(f"policy: {out / 'policy'}")
    print(json.dumps(metrics, indent=1))
    return metrics


def cmd_eval(args: argparse.Namespace) -> dict:
    from credo.config import load_config
    from credo.engines import ENGINES
    from credo.models import load_policy
    from credo.tasks import build_task
    from credo.train.evaluate import evaluate

    cfg = load_config(recipe_path(args.recipe), args.overrides)
    if cfg.multi.workflow:
        return _eval_agents(cfg, args.model)
    if args.model:
        cfg.model.path = args.model
    model, tok, path = load_policy(cfg.model)
    task = build_task(cfg.task)
    result = evaluate(ENGINES.get("hf")(model, tok), tok, task, task.rows("eval"), cfg.sampling, cfg.eval,
                      cfg.model.chat_template, seed=cfg.train.seed + 1)
    print(json.dumps({"model": str(path), **result}, indent=1))
    return result


def _eval_agents(cfg, model_root: str | None) -> dict:
    """Held-out evaluation of a multi-agent recipe; ``--model`` is a run's ``agents/`` folder (one HF directory per
    agent that owns a policy)."""
    import tempfile

    import torch

    from credo.agents import build_agents
    from credo.config import ConfigError
    from credo.tasks import build_task
    from credo.workflows import WORKFLOWS

    if model_root:
        root = Path(model_root)
        for a in cfg.multi.agents:
            if not a.get("share"):
                if not (root / a["name"]).is_dir():
                    raise ConfigError(f"--model {root}: no directory for agent {a['name']!r}")
                a["model"] = {**a.get("model", {}), "path": str(root / a["name"])}
    cfg.algo.kl_coef = 0.0
    task = build_task(cfg.task)
    with tempfile.TemporaryDirectory() as tmp:
        agents, _ = build_agents(cfg, Path(tmp))
    workflow = WORKFLOWS.get(cfg.multi.workflow)(cfg, agents, task)
    torch.manual_seed(cfg.train.seed + 1)
    result = workflow.evaluate(task.rows("eval")[: cfg.eval.size], cfg.eval.batch_size)
    print(json.dumps(result, indent=1))
    return result


def cmd_config(args: argparse.Namespace) -> None:
    from credo.config import describe

    print(describe())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="credo", description="RL post-training where credit assignment is the "
                                     "hard part. Recipes are YAML; override any key with key=value.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("train", help="RL training from a recipe")
    p.add_argument("recipe", help="YAML path or shipped recipe name (grpo, dr_grpo, dapo, gspo, rloo, demo, "
                   "ccpo_think_reason, ccpo_voting, dacr_are, hacpo, hacpo_hetero_tokenizer)")
    p.add_argument("overrides", nargs="*", help="dotted overrides, e.g. algo.eps_high=0.28 train.steps=50")
    p.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in log.output_dir")
    p.set_defaults(fn=cmd_train)
    p = sub.add_parser("sft", help="supervised fine-tuning on a task's gold answers (warm start)")
    p.add_argument("recipe")
    p.add_argument("overrides", nargs="*")
    p.add_argument("--wmss", action="store_true", help="WMSS: weak-checkpoint-driven SFT (recipe section wmss)")
    p.add_argument("--resume", action="store_true", help="--wmss: continue from the latest checkpoint")
    p.set_defaults(fn=cmd_sft)
    p = sub.add_parser("eval", help="held-out accuracy, pass@k and length of a model on a recipe's task")
    p.add_argument("recipe")
    p.add_argument("overrides", nargs="*")
    p.add_argument("--model", help="model directory (a run's policy/ or checkpoints/step_N/policy; for a "
                   "multi-agent recipe the run's agents/ folder)")
    p.set_defaults(fn=cmd_eval)
    p = sub.add_parser("demo", help="SFT warm start + GRPO on the embedded model, with an HTML report")
    p.add_argument("overrides", nargs="*")
    p.add_argument("--resume", action="store_true")
    p.set_defaults(fn=cmd_demo)
    p = sub.add_parser("config", help="list every config key with its default and documentation")
    p.set_defaults(fn=cmd_config)
    from credo.retrieval.cli import add_subparsers, run

    add_subparsers(sub).set_defaults(fn=run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _quiet()
    from credo.config import ConfigError
    from credo.models import ModelError
    from credo.tasks.base import TaskError

    try:
        rc = args.fn(args)
    except (ConfigError, ModelError, TaskError) as e:
        print(f"credo: error: {e}", file=sys.stderr)
        return 2
    return rc if isinstance(rc, int) else 0


if __name__ == "__main__":
    sys.exit(main())
