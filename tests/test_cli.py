import json

import pytest

from credo.cli import main

TINY = ["model.hidden_size=32", "model.num_layers=1", "model.num_heads=2", "model.intermediate_size=64",
        "task.size=32", "task.eval_size=8", "train.prompts_per_step=2", "sampling.n=2", "sampling.max_new_tokens=4",
        "sft.steps=2", "sft.batch_size=4", "eval.size=4", "eval.pass_k=2", "log.tensorboard=false",
        "log.progress=false"]


def test_help_lists_the_commands(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for cmd in ("train", "sft", "eval", "demo", "config"):
        assert cmd in out


def test_train_writes_a_run_folder_then_eval_reads_its_policy(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "grpo", *TINY, "train.steps=2", f"log.output_dir={run}"]) == 0
    for name in ("config.yaml", "metrics.jsonl", "report.html", "policy/config.json",
                 "checkpoints/step_000002/trainer/state.json"):
        assert (run / name).is_file(), name
    capsys.readouterr()
    assert main(["eval", "grpo", *TINY, "--model", str(run / "policy"), "--out", str(tmp_path / "ev")]) == 0
    result = json.loads(capsys.readouterr().out)
    assert 0.0 <= result["eval/accuracy"] <= 1.0 and "eval/pass@2" in result
    assert json.loads((tmp_path / "ev" / "eval.json").read_text())["eval/pass@2"] == result["eval/pass@2"]
    page = (tmp_path / "ev" / "report.html").read_text()
    assert "accuracy, greedy" in page and "pass@2, sampled at T = 1.0" in page


def test_sft_command_saves_a_policy(tmp_path):
    assert main(["sft", "grpo", *TINY, f"log.output_dir={tmp_path}"]) == 0
    assert (tmp_path / "policy" / "model.safetensors").is_file()


def test_bad_inputs_are_clear_errors(tmp_path, capsys):
    assert main(["train", "grpo", "algo.eps_hgh=0.3"]) == 2
    assert "did you mean 'algo.eps_high'" in capsys.readouterr().err
    assert main(["eval", "grpo", "--model", str(tmp_path / "missing")]) == 2
    assert "model directory not found" in capsys.readouterr().err
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "1+1", "answer": "2"}\n{"question": "2+2"}\n')
    assert main(["train", "grpo", *TINY, "task.kind=math_file", f"task.path={bad}", "task.eval_size=1", "eval.size=1",
                 f"log.output_dir={tmp_path / 'r'}"]) == 2
    err = capsys.readouterr().err
    assert "bad.jsonl" in err and "2" in err and "answer" in err
    assert main(["train", "no_such_recipe"]) == 2
    assert "recipe 'no_such_recipe' not found" in capsys.readouterr().err


@pytest.mark.parametrize("recipe", ["ccpo_think_reason", "ccpo_voting", "dacr_are"])
def test_multi_agent_recipes_train_and_their_agents_evaluate(recipe, tmp_path, capsys):
    run = tmp_path / "run"
    tiny = TINY + ["train.steps=1", "eval.every=0", f"log.output_dir={run}", "log.report=false"]
    assert main(["train", recipe, *tiny]) == 0
    agents = sorted(p.name for p in (run / "agents").iterdir())
    assert len(agents) >= 2 and all((run / "agents" / a / "config.json").is_file() for a in agents)
    assert all((run / "checkpoints" / "step_000001" / a / "model.safetensors").is_file() for a in agents)
    capsys.readouterr()
    assert main(["eval", recipe, *tiny, "--model", str(run / "agents")]) == 0
    result = json.loads(capsys.readouterr().out)
    assert 0.0 <= result["eval/accuracy"] <= 1.0
