"""Reward functions (TRL convention) through the real trainer path: weights, several functions each logged, bad
returns (raise, wrong length, NaN, inf, None with and without skip, a string), Python callables via the API hook."""

import math
from pathlib import Path

import pytest
import torch

from credo.config import RewardConfig, load_config
from credo.rewards import REWARD_FUNCTIONS, RewardError, build_reward_set
from credo.train.rl import RLTrainer
from credo.trajectory import Trajectory

HERE = Path(__file__).parent
TINY = ["model.hidden_size=32", "model.num_layers=1", "model.num_heads=2", "model.intermediate_size=64",
        "task.kind=callable", "task.name=learn_a_task:rows", "task.size=16", "task.eval_size=2",
        "train.prompts_per_step=2", "sampling.n=4", "sampling.max_new_tokens=5", "sampling.stop=[]",
        "log.tensorboard=false", "log.progress=false", "eval.size=2", "eval.pass_k=0", "train.threads=1"]


@pytest.fixture(autouse=True)
def _helpers_on_path(monkeypatch):
    monkeypatch.syspath_prepend(str(HERE))
    monkeypatch.syspath_prepend(str(HERE.parent / "train"))


def trainer(tmp_path, *overrides):
    return RLTrainer(load_config(None, TINY + [f"log.output_dir={tmp_path}", *overrides]))


def test_weighted_functions_each_written_and_logged(tmp_path):
    funcs = ("[{name: verifier, weight: 0.5}, {name: 'reward_helpers:count_a', weight: 2.0}, "
             "{name: length, kwargs: {target: 2, scale: 0.1}}, {name: format, weight: 0.0, kwargs: {pattern: a}}, "
             "{name: 'reward_helpers:gold_is_a', weight: -1, kwargs: {bonus: 0.25}}]")
    tr = trainer(tmp_path, f"reward.functions={funcs}")
    assert tr.rewards.names == ["verifier", "count_a", "length", "format", "gold_is_a"]
    batch, metrics = tr.rollout()
    assert len(batch) == 8
    for t in batch:
        text = t.response_text
        share = text.count("a") / max(len(text), 1)
        assert t.rewards["count_a"] == pytest.approx(share)
        assert t.rewards["length"] == pytest.approx(-0.1 * abs(len(text) - 2))
        assert t.rewards["format"] == (1.0 if "a" in text else 0.0)
        assert t.rewards["gold_is_a"] == 1.25
        assert t.rewards["verifier"] == t.rewards["score"] == t.score  # learn_a_task's verify: share of 'a'
        assert t.reward == pytest.approx(0.5 * t.rewards["verifier"] + 2.0 * share - 0.1 * abs(len(text) - 2)
                                         - 1.25)
    for name in tr.rewards.names:
        assert metrics[f"reward/{name}_mean"] == pytest.approx(sum(t.rewards[name] for t in batch) / 8)
    assert metrics["reward/skipped"] == 0.0
    step = tr.train_step()  # the whole step: advantages from the weighted sum, an update, per-function metrics
    assert {f"reward/{n}_mean" for n in tr.rewards.names} <= set(step) and step["actor/skipped_updates"] == 0.0


def test_rewards_are_not_clamped(tmp_path):
    tr = trainer(tmp_path, "reward.functions=[{name: 'reward_helpers:gold_is_a', weight: 3, kwargs: {bonus: 4}}]")
    batch, _ = tr.rollout()
    assert {t.reward for t in batch} == {15.0}


def test_default_is_the_verifier_alone(tmp_path):
    tr = trainer(tmp_path)
    batch, metrics = tr.rollout()
    assert tr.rewards.names == ["verifier"]
    assert all(t.reward == t.rewards["score"] == t.rewards["verifier"] for t in batch)
    assert metrics["reward/verifier_mean"] == pytest.approx(sum(t.reward for t in batch) / len(batch))


BAD = "reward.functions=[{name: 'reward_helpers:bad', kwargs: {kind: %s}}]"


@pytest.mark.parametrize(
    "kind,message",
    [
        ("raise", r"'bad' raised ValueError\('reward bug'\) on prompt \d \(completion \d, 'train prompt 1: Answer:'\)"),
        ("wrong_length", "'bad' returned 7 values for 8 completions"),
        ("not_a_list", "'bad' returned float, expected a list of 8 numbers"),
        ("nan", r"'bad' on prompt 1 \(completion 5, 'train prompt \d+: Answer:'\) returned nan"),
        ("inf", r"'bad' on prompt 1 \(completion 5, .*\) returned -inf"),
        ("none", r"'bad' on prompt 1 \(completion 5, .*\) returned NoneType None"),
        ("string", r"'bad' on prompt 1 \(completion 5, .*\) returned str '0.5'"),
    ],
)
def test_bad_returns_raise_naming_function_and_row(tmp_path, kind, message):
    tr = trainer(tmp_path, "task.size=2", BAD % kind)  # 2 rows: both prompts of the batch ("... 0:", "... 1:")
    with pytest.raises(RewardError, match=message):
        tr.train_step()


@pytest.mark.parametrize("kind", ["nan", "inf", "none"])
def test_skip_masks_the_sample_out_and_counts_it(tmp_path, kind):
    tr = trainer(tmp_path, BAD % kind, "reward.on_invalid=skip")
    batch, metrics = tr.rollout()
    assert len(batch) == 7 and metrics["reward/skipped"] == 1.0  # completion 5 left the batch
    assert all(math.isfinite(t.reward) and t.reward == 0.5 for t in batch)
    assert metrics["reward/bad_mean"] == 0.5  # the mean is over the samples kept, never a 0 for the skipped one
    step = tr.train_step()
    assert step["reward/skipped"] == 1.0 and math.isfinite(step["actor/loss"])


@pytest.mark.parametrize("kind", ["string", "raise", "wrong_length"])
def test_skip_never_covers_type_errors_or_exceptions(tmp_path, kind):
    tr = trainer(tmp_path, "task.size=2", BAD % kind, "reward.on_invalid=skip")
    with pytest.raises(RewardError, match="'bad'"):
        tr.train_step()


def test_python_callables_through_the_api_hook(tmp_path):
    """``build_reward_set(..., funcs=[...], weights=[...])``: callables named by ``__name__``, next to config ones."""
    import reward_helpers

    def shorter(prompts, completions, **fields):
        return [-len(c) for c in completions]

    tr = trainer(tmp_path, "reward.functions=[{name: 'reward_helpers:count_a', weight: 1}]")
    tr.rewards = build_reward_set(tr.cfg.reward, tr.task, funcs=[shorter, reward_helpers.count_a, "format"],
                                  weights=[0.5, 2.0, 1.0])
    assert tr.rewards.names == ["count_a", "shorter", "count_a_2", "format"]
    batch, metrics = tr.rollout()
    for t in batch:
        share = t.response_text.count("a") / max(len(t.response_text), 1)
        has = 1.0 if tr.task.extract(tr.train_rows[0], t.response_text) else 0.0
        assert t.reward == pytest.approx(share - 0.5 * len(t.response_text) + 2.0 * share + has)
    assert {"reward/shorter_mean", "reward/count_a_2_mean", "reward/format_mean"} <= set(metrics)


def trajs(texts):
    z = torch.zeros(1)
    return [Trajectory(z.long(), z.long(), z, torch.ones(1), z.long(), response_text=s) for s in texts]


def test_reward_set_by_hand_and_accumulated_metrics():
    """Two prompts x 2 completions; hand-computed weighted sums; metrics summed over two calls until popped."""

    class NoVerify:
        name, has_answers = "t", False

        def prompt(self, row):
            return row["question"]

    def n_chars(prompts, completions, **fields):
        return [len(c) for c in completions]

    def from_field(prompts, completions, target, **fields):
        return [float(c == t) for c, t in zip(completions, target)]

    rs = build_reward_set(RewardConfig(), NoVerify(), funcs=[n_chars, from_field], weights=[0.1, 2.0])
    rows = [{"question": "q0", "target": "ab"}, {"question": "q1", "target": "x"}]
    ts = trajs(["ab", "abcd", "x", "yy"])
    m = rs.score(ts, rows)
    assert [t.reward for t in ts] == pytest.approx([0.2 + 2.0, 0.4, 0.1 + 2.0, 0.2])
    assert all("score" not in t.rewards for t in ts)  # no gold answers: no verifier score
    assert m == {"reward/n_chars_mean": 2.25, "reward/from_field_mean": 0.5, "reward/skipped": 0.0}
    rs.score(trajs(["abcdef", "a", "b", "c"]), rows)
    assert rs.pop_metrics() == {"reward/n_chars_mean": 18 / 8, "reward/from_field_mean": 0.25, "reward/skipped": 0.0}
    assert rs.pop_metrics() == {}


@pytest.mark.parametrize(
    "functions,message",
    [
        ([{"name": "formt"}], "unknown reward function 'formt'"),
        ([{"name": "format", "wieght": 1}], r"unknown keys \['wieght'\]"),
        ([{"name": "format", "weight": "high"}], "weight must be a finite number"),
        ([{"name": "format", "weight": float("nan")}], "weight must be a finite number"),
        ([{"name": "length", "kwargs": {"tagret": 3}}], "'length' does not take kwargs"),
        ([{"name": "no_such_module_xyz:f"}], "cannot import module 'no_such_module_xyz'"),
        ([{"name": "reward_helpers:nothing"}], "has no callable 'nothing'"),
        (["verifier", 3], r"reward.functions\[1\]: expected a mapping"),
    ],
)
def test_bad_reward_config_is_one_clear_error(functions, message):
    with pytest.raises(RewardError, match=message):
        build_reward_set(RewardConfig(functions=functions), task=None)
    with pytest.raises(RewardError, match="reward.on_invalid must be one of"):
        build_reward_set(RewardConfig(on_invalid="ignore"), task=None)


def test_registry_has_the_builtins():
    assert {"verifier", "format", "length", "correct_and_concise"} <= set(REWARD_FUNCTIONS.names())


def test_cli_reports_reward_errors_in_one_line(tmp_path, capsys):
    from credo.cli import main

    base = ["train", "grpo", *TINY, "sft.steps=0", "train.steps=1", f"log.output_dir={tmp_path}"]
    assert main([*base, "reward.functions=[{name: formt}]"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("credo: error: reward.functions[0]: unknown reward function 'formt'") and "\n" not in err
    assert main([*base, BAD % "nan"]) == 2
    err = capsys.readouterr().err.strip()
    assert "reward function 'bad' on prompt 1 (completion 5" in err and "Traceback" not in err


def test_cli_eval_reports_the_reward_on_a_dataset_without_gold(tmp_path, capsys):
    import json

    from credo.cli import main

    data = tmp_path / "p.jsonl"
    data.write_text("".join(json.dumps({"prompt": f"p{i}:"}) + "\n" for i in range(6)))
    args = ["eval", "grpo", *TINY, "task.kind=dataset", f"task.path={data}", "task.eval_size=2",
            "reward.functions=[{name: 'reward_helpers:gold_is_a', kwargs: {bonus: 0.5}}]"]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["eval/reward_mean"] == 0.5 and "eval/accuracy" not in out  # gold_is_a: answer None != "a", + 0.5
    assert main(args[:-1]) == 2  # no reward functions and no gold answers: nothing can score the responses
    assert "has no gold answers" in capsys.readouterr().err
