"""SAGE-RL through the real trainer: group composition and source tags, the policy's rollout log-probs, per-source
metrics, config errors, exact resume; and ``credo generate`` on the embedded model."""

import json

import pytest
import torch

from credo.cli import main
from credo.config import ConfigError, load_config
from credo.train.rl import RLTrainer

SMALL = ["model.hidden_size=32", "model.num_layers=1", "model.num_heads=2", "model.intermediate_size=64",
         "task.size=64", "task.eval_size=8", "train.prompts_per_step=3", "sampling.n=4", "sampling.max_new_tokens=6",
         "sft.steps=3", "sft.batch_size=8", "eval.every=2", "eval.size=4", "eval.pass_k=2", "log.save_every=2",
         "log.keep_last=1", "log.tensorboard=false", "log.progress=false", "log.report=false", "train.lr=1e-2",
         "sage.rollouts=2", "sage.width=2", "sage.max_steps=3", "sage.delimiter=' '", "sage.end_think="]


def test_groups_hold_r_sage_members_then_samples(tmp_path):
    cfg = load_config(None, SMALL + ["train.steps=1", f"log.output_dir={tmp_path}"])
    trainer = RLTrainer(cfg)
    trajs, _ = trainer.rollout()
    assert len(trajs) == 3 * 4
    for g in range(3):
        group = trajs[4 * g:4 * g + 4]
        assert len({t.group_id for t in group}) == 1
        assert len({tuple(t.prompt_ids.tolist()) for t in group}) == 1
        assert [t.info["source"] for t in group] == ["sage", "sage", "sample", "sample"]
    # rollout log-probs are the policy's log-probs of the tokens (what the PPO ratio divides by)
    sage = [t for t in trajs if t.info["source"] == "sage" and t.num_tokens]
    lp, _, _ = trainer.learner.logprobs(trainer.model, sage)
    for i, t in enumerate(sage):
        assert torch.allclose(t.logprobs, lp[i, : t.num_tokens].cpu(), atol=1e-5)


def test_train_step_logs_per_source_metrics(tmp_path):
    cfg = load_config(None, SMALL + ["train.steps=1", f"log.output_dir={tmp_path}"])
    metrics = RLTrainer(cfg).train_step()
    assert metrics["source/sage/count"] == 6 and metrics["source/sample/count"] == 6
    for src in ("sage", "sample"):
        assert 0 < metrics[f"source/{src}/length_mean"] <= 6
        assert 0 <= metrics[f"source/{src}/accuracy"] <= 1
    # GRPO advantages are centred on each whole group, SAGE members included
    n = 6
    assert metrics["source/sage/advantage_mean"] * n + metrics["source/sample/advantage_mean"] * n == \
        pytest.approx(0.0, abs=1e-4)


def test_plain_grpo_logs_no_source_metrics(tmp_path):
    cfg = load_config(None, SMALL + ["sage.rollouts=0", "train.steps=1", f"log.output_dir={tmp_path}"])
    assert not [k for k in RLTrainer(cfg).train_step() if k.startswith("source/")]


@pytest.mark.parametrize("override, key", [(["sage.rollouts=5"], "sage.rollouts"),
                                           (["sage.width=0"], "sage.width"),
                                           (["sage.sampler=beam"], "sage.sampler"),
                                           (["engine.kind=vllm"], "sage.rollouts"),
                                           (["sage.rank=best"], "sage.rank"),
                                           (["sage.stop_rule=never"], "sage.stop_rule"),
                                           (['sage.delimiter="\\n\\n"', "sampling.stop=[\"\\n\"]"], "sage.delimiter")])
def test_bad_sage_keys_are_one_line_errors(override, key):
    with pytest.raises(ConfigError) as e:
        load_config(None, SMALL + override)
    assert str(e.value).startswith(key) and "\n" not in str(e.value)


def test_sage_rl_resumes_exactly(tmp_path, resume_check):
    resume_check(RLTrainer, lambda out: load_config(None, SMALL + ["train.steps=4", f"log.output_dir={out}"]))


def test_generate_cli_writes_generations_and_summary(tmp_path, capsys):
    out = tmp_path / "gen.jsonl"
    args = ["generate", "sage_rl", "--sampler", "sage", "--n", "2", "--out", str(out), "model.hidden_size=32",
            "model.num_layers=1", "model.num_heads=2", "model.intermediate_size=64", "task.eval_size=8",
            "eval.size=3", f"log.output_dir={tmp_path}", "sampling.max_new_tokens=6"]
    assert main(args) == 0
    summary = json.loads(capsys.readouterr().out)
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(lines) == 6 and summary["gen/samples"] == 6 and summary["gen/prompts"] == 3
    assert all(x["sampler"] == "sage" and 0 < x["tokens"] <= 6 and "sage_phi" in x for x in lines)
    assert summary["gen/tokens_mean"] == pytest.approx(sum(x["tokens"] for x in lines) / 6)
    assert summary["gen/accuracy"] == pytest.approx(sum(x["score"] >= 1 for x in lines) / 6)
    assert main(args[:3] + ["greedy"] + args[4:]) == 0
    assert all(json.loads(x)["sampler"] == "greedy" for x in out.read_text().splitlines())


def test_generate_cli_rejects_unknown_sampler(capsys):
    assert main(["generate", "sage_rl", "--sampler", "beam"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("credo: error: --sampler") and err.count("\n") == 1
