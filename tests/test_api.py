"""The Python API builds every trainer from objects, resolves recipes like the CLI and validates its inputs."""

import dataclasses

import pytest
import torch

import credo
from credo.config import Config, ConfigError, ModelConfig, load_config, recipe_path
from credo.models import load_policy

SMALL = ["model.hidden_size=32", "model.num_layers=1", "model.num_heads=2", "model.intermediate_size=64",
         "train.steps=2", "train.prompts_per_step=2", "sampling.n=4", "sampling.max_new_tokens=3", "sft.steps=0",
         "eval.size=4", "eval.pass_k=2", "log.progress=false", "log.tensorboard=false", "log.report=false",
         "task.eval_size=8", "task.size=64"]
ROWS = [{"prompt": f"{a}+{b}=", "answer": str(a + b)} for a in range(6) for b in range(6)]


def starts_right(prompts, completions, answer, **_):
    return [float(c.strip().startswith(a)) for c, a in zip(completions, answer)]


def short(prompts, completions, **_):
    return [-0.1 * len(c) for c in completions]


def test_a_recipe_name_resolves_as_on_the_command_line():
    assert credo.make_config("dapo") == load_config(recipe_path("dapo"))
    assert credo.make_config(None, {"train": {"steps": 7}}).train.steps == 7
    base = Config()
    cfg = credo.make_config(base, ["algo.eps_high=0.28"])
    assert cfg.algo.eps_high == 0.28 and base.algo.eps_high == 0.2  # the caller's dataclass is not touched
    with pytest.raises(ConfigError, match="algo.eps_hig"):
        credo.make_config("grpo", ["algo.eps_hig=0.3"])
    with pytest.raises(ConfigError, match="sampling.temperature"):
        credo.make_config("grpo", {"sampling.temperature": 0})


def test_trainer_from_a_model_object_a_dataset_and_weighted_reward_functions(tmp_path):
    model, tok, _ = load_policy(ModelConfig(hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64), "cpu")
    eval_rows = [{"prompt": "9+9=", "answer": "18"}, {"prompt": "8+9=", "answer": "17"}] * 2
    trainer = credo.Trainer("grpo", SMALL + ["task.eval_size=4"], model=model, tokenizer=tok, train_dataset=ROWS,
                            eval_dataset=eval_rows, reward_funcs=[starts_right, short], reward_weights=[1.0, 0.5],
                            output_dir=tmp_path / "run")
    assert trainer.model is model and trainer.config.task.kind == "dataset"
    assert [r["question"] for r in trainer.trainer.eval_rows] == [r["prompt"] for r in eval_rows]  # verbatim prompts
    before = [p.detach().clone() for p in model.parameters()]
    result = trainer.train()
    assert "eval/accuracy" in result and "eval/reward_mean" in result
    rows = [r for r in credo.train.metrics.read_metrics(tmp_path / "run" / "metrics.jsonl") if "reward/mean" in r]
    assert rows and all("reward/starts_right_mean" in r and "reward/short_mean" in r for r in rows)
    for r in rows:  # the trained reward is the weighted sum of the two functions
        assert r["reward/mean"] == pytest.approx(r["reward/starts_right_mean"] + 0.5 * r["reward/short_mean"])
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    out = trainer.save(tmp_path / "export")
    assert (out / "config.json").is_file() and trainer.run_dir == tmp_path / "run"


def test_a_model_object_gets_a_lora_adapter_when_asked(tmp_path):
    model, tok, _ = load_policy(ModelConfig(hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64), "cpu")
    trainer = credo.Trainer("grpo", SMALL + ["model.lora.r=4", "train.steps=1"], model=model, tokenizer=tok,
                            train_dataset=ROWS, reward_funcs=[starts_right], output_dir=tmp_path)
    assert hasattr(trainer.model, "peft_config") and trainer.trainer.learner.has_reference is False
    trainer.train()
    assert (trainer.save() / "adapter_config.json").is_file()


def test_multi_agent_from_a_workflow_and_agents_with_a_model_object(tmp_path):
    model, tok, _ = load_policy(ModelConfig(hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64,
                                            init_seed=5), "cpu")
    trainer = credo.Trainer("ccpo_voting", SMALL + ["train.steps=1"], workflow="voting", output_dir=tmp_path,
                            agents=[{"name": "a"}, {"name": "b", "model": model, "tokenizer": tok}, {"name": "c"}])
    assert trainer.model["b"] is model and trainer.model["a"] is not model
    trainer.train()
    assert sorted(p.name for p in trainer.save().iterdir()) == ["a", "b", "c"]
    with pytest.raises(ConfigError, match="reward_funcs"):
        credo.Trainer("ccpo_voting", SMALL, workflow="voting", reward_funcs=[short], output_dir=tmp_path / "x")


def test_bad_objects_are_clear_errors(tmp_path):
    with pytest.raises(ConfigError, match="config must be"):
        credo.Trainer(42)
    with pytest.raises(ConfigError, match="eval_dataset needs train_dataset"):
        credo.Trainer("grpo", SMALL, eval_dataset=ROWS, output_dir=tmp_path)
    with pytest.raises(ValueError, match="PreTrainedModel"):
        credo.Trainer("grpo", SMALL, model=torch.nn.Linear(2, 2), tokenizer=None, train_dataset=ROWS,
                      reward_funcs=[short], output_dir=tmp_path / "y")


def test_config_dataclass_round_trip_keeps_nested_sections_apart():
    cfg = credo.make_config("grpo", ["model.lora.r=8"])
    copy = credo.make_config(cfg, ["model.lora.r=2"])
    assert cfg.model.lora.r == 8 and copy.model.lora.r == 2 and dataclasses.is_dataclass(copy)
