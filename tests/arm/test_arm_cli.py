"""``credo arm train`` (with the λ-grid evaluation and Pareto plot) and ``credo arm generate`` through the CLI;
the ArmTrainer API on in-memory pairs."""

import json

from credo.cli import main

TINY = ["model.hidden_size=32", "model.num_layers=1", "model.num_heads=2", "model.intermediate_size=64",
        "data.size=64", "data.eval_size=16", "train.batch_size=8", "train.steps=3", "train.device=cpu",
        "decode.max_new_tokens=4"]


def test_cli_train_evaluate_and_generate(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["arm", "train", "recipes/uniarm.yaml", *TINY, "eval.grid=3", "eval.prompts=4", "eval.samples=1",
                 f"log.output_dir={run}"]) == 0
    report = json.loads((run / "eval.json").read_text())
    assert len(report["arm"]["means"]) == 3 and len(report["oracle"]["means"]) == 3
    assert report["oracle"]["hv"] >= 0 and report["arm"]["tokens_per_s"] > 0 and report["slowdown"] > 0
    assert report["arm"]["lams"][0] == [1.0, 0.0] and len(report["arm"]["monotonicity"]) == 2
    assert (run / "pareto.png").stat().st_size > 1000
    capsys.readouterr()
    assert main(["arm", "generate", "recipes/uniarm.yaml", *TINY, "--arm", str(run / "arm"), "--pref", "0.3,0.7",
                 "--prompt", "topic C:", "--n", "2"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.strip().splitlines()]
    assert [x["prompt"] for x in lines[:2]] == ["topic C:"] * 2 and lines[-1]["slowdown"] > 0
    assert main(["arm", "generate", "recipes/uniarm.yaml", *TINY, "--arm", str(run / "arm"), "--pref", "1"]) == 2
    assert "--pref" in capsys.readouterr().err


def test_cli_genarm_product_of_two_arms(tmp_path, capsys):
    for obj in ("help", "harmless"):
        assert main(["arm", "train", "recipes/genarm.yaml", *TINY, "eval.grid=0", f"data.objective={obj}",
                     f"log.output_dir={tmp_path / obj}"]) == 0
    capsys.readouterr()
    assert main(["arm", "generate", "recipes/genarm.yaml", *TINY, "--arm", str(tmp_path / "help" / "arm"), "--arm",
                 str(tmp_path / "harmless" / "arm"), "--pref", "0.5,0.5"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 17  # 16 topic prompts + the throughput line


def test_arm_trainer_api_on_pairs(tmp_path):
    import credo

    pairs = [{"prompt": "topic A:", "responses": ["abc", "xyz"], "prefer": {"help": i % 2, "harmless": 0}}
             for i in range(16)]
    t = credo.ArmTrainer("parm", TINY, train_pairs=pairs, eval_pairs=pairs[:4], output_dir=tmp_path)
    out = t.train()
    # 1 layer × q/k/v (32 → 32): A 8×32, B 32×8, W1 4×4, W2 2×16
    assert out["trainable_parameters"] == 3 * (8 * 32 + 32 * 8 + 16 + 2 * 16)
    proc = t.processor("0.5,0.5")
    assert proc.terms[0].pref == [0.5, 0.5]


def test_credo_generate_with_arm_guidance(tmp_path, capsys):
    """``credo generate --arm DIR --pref ..`` hands the ARM's processor to the engine: same seed, other samples. The
    small ARM guides a larger embedded model (weak-to-strong, shared character vocabulary); guiding the ARM's own base
    would change little, as an untrained adapter leaves the ARM equal to its base."""
    run = tmp_path / "run"
    assert main(["arm", "train", "recipes/uniarm.yaml", *TINY, "eval.grid=0", f"log.output_dir={run}"]) == 0
    gen = ["generate", "sage_rl", "--sampler", "sample", "--n", "2", "model.hidden_size=64", "model.num_layers=2",
           "model.num_heads=2", "model.intermediate_size=128", "task.eval_size=8", "eval.size=4",
           f"log.output_dir={tmp_path / 'gen'}", "sampling.max_new_tokens=8"]
    plain, guided = tmp_path / "plain.jsonl", tmp_path / "guided.jsonl"
    assert main([*gen, "--out", str(plain)]) == 0
    assert main([*gen, "--out", str(guided), "--arm", str(run / "arm"), "--pref", "0.3,0.7", "--alpha", "4"]) == 0
    texts = [[json.loads(x)["response"] for x in p.read_text().splitlines()] for p in (plain, guided)]
    assert len(texts[0]) == len(texts[1]) == 8 and texts[0] != texts[1]
    capsys.readouterr()
    assert main([*gen, "--out", str(guided), "--arm", str(run / "arm"), "--pref", "1"]) == 2
    assert "--pref" in capsys.readouterr().err
