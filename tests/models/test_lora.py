"""LoRA through peft: adapter-only training, the disabled adapter as KL reference, exports, shared bases, resume."""

import json

import pytest
import torch
from transformers import AutoModelForCausalLM

from credo.config import LoraConfig, ModelConfig, load_config
from credo.models import load_policy
from credo.train.learner import Learner
from credo.train.multi import MultiAgentTrainer
from credo.train.rl import RLTrainer
from credo.trajectory import Trajectory

SHAPE = dict(hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64)
TINY = ["model.hidden_size=32", "model.num_layers=1", "model.num_heads=2", "model.intermediate_size=64",
        "task.size=32", "task.eval_size=8", "train.prompts_per_step=2", "sampling.n=4", "sampling.max_new_tokens=4",
        "eval.size=4", "eval.pass_k=2", "eval.every=0", "log.tensorboard=false", "log.progress=false",
        "train.device=cpu", "model.lora.r=4", "model.lora.target_modules=[q_proj,v_proj,down_proj]",
        "train.lr=5e-2", "log.report=false", "reward.noise_p=0.5"]  # noise: non-zero advantages from step 1


def rows(tok, n=3):
    out = []
    for i in range(n):
        p = torch.tensor(tok(f"{i}+{i}=")["input_ids"])
        r = torch.tensor(tok(str(2 * i), add_special_tokens=False)["input_ids"])
        out.append(Trajectory(prompt_ids=p, response_ids=r, logprobs=torch.zeros(len(r)),
                              loss_mask=torch.ones(len(r)), versions=torch.zeros(len(r), dtype=torch.long)))
    return out


def test_disabled_adapter_reference_equals_a_separate_copy_of_the_base():
    cfg = load_config(None, ["algo.kl_coef=0.1"])
    base, tok, _ = load_policy(ModelConfig(**SHAPE), "cpu")
    model, _, _ = load_policy(ModelConfig(**SHAPE, lora=LoraConfig(r=4)), "cpu")
    with torch.no_grad():  # a trained-looking adapter: B != 0 changes the policy's outputs
        for n, p in model.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 0.5)
    learner = Learner(model, tok.pad_token_id, cfg.algo, cfg.train, cfg.sampling, adapter="default")
    assert learner.ref is None and learner.has_reference  # no second copy of the weights
    batch = rows(tok)
    with torch.no_grad():
        ref = learner.reference_logprobs(batch)
        separate = learner.logprobs(base.eval(), batch)[0]
        policy = learner.logprobs(model, batch)[0]
    torch.testing.assert_close(ref, separate, rtol=0, atol=1e-6)
    assert (policy - separate).abs().max() > 1e-3  # the adapter is active outside the reference


def test_only_adapter_weights_change_and_the_merged_export_reloads_with_transformers(tmp_path):
    cfg = load_config("src/credo/recipes/grpo.yaml", TINY + ["train.steps=3", "algo.kl_coef=0.05",
                                                            "model.lora.merge_on_export=true",
                                                            f"log.output_dir={tmp_path}"])
    tr = RLTrainer(cfg)
    before = {n: p.detach().clone() for n, p in tr.model.named_parameters()}
    tr.run()
    tr.export()
    after = dict(tr.model.named_parameters())
    lora = [n for n in before if "lora_" in n]
    assert lora and all(not before[n].requires_grad or "lora_" in n for n in before)
    assert all(torch.equal(before[n], after[n]) for n in before if "lora_" not in n)
    assert any(not torch.equal(before[n], after[n]) for n in lora)
    policy = tmp_path / "policy"
    assert json.loads((policy / "adapter_config.json").read_text())["r"] == 4
    assert not (policy / "model.safetensors").exists()  # the adapter alone, not a copy of the base
    merged = AutoModelForCausalLM.from_pretrained(policy / "merged")
    ids = torch.tensor([tr.tok("12+7=")["input_ids"]])
    with torch.no_grad():
        torch.testing.assert_close(merged(ids).logits, tr.model.eval()(ids).logits, rtol=1e-4, atol=1e-4)
    reloaded, _, _ = load_policy(ModelConfig(path=str(policy)), "cpu")  # `credo eval --model <run>/policy`
    with torch.no_grad():
        torch.testing.assert_close(reloaded.eval()(ids).logits, tr.model(ids).logits, rtol=1e-5, atol=1e-5)


def test_sft_warm_start_is_merged_so_the_reference_is_the_policy_as_rl_starts(tmp_path):
    cfg = load_config("src/credo/recipes/grpo.yaml", TINY + ["train.steps=0", "sft.steps=3", "sft.batch_size=4",
                                                            "algo.kl_coef=0.1", f"log.output_dir={tmp_path}"])
    tr = RLTrainer(cfg)
    assert (tmp_path / "base" / "config.json").is_file()
    base, _, _ = load_policy(ModelConfig(**SHAPE), "cpu")
    warmed = AutoModelForCausalLM.from_pretrained(tmp_path / "base")
    assert any(not torch.equal(a, b) for a, b in zip(base.state_dict().values(), warmed.state_dict().values()))
    batch = rows(tr.tok)
    with torch.no_grad():
        torch.testing.assert_close(tr.learner.reference_logprobs(batch), tr.learner.logprobs(tr.model, batch)[0])


def test_lora_resume_reproduces_the_uninterrupted_run(resume_check):
    resume_check(RLTrainer, lambda out: load_config(None, TINY + [
        "train.steps=4", "log.save_every=2", "train.mini_batches=2", "algo.kl_coef=0.1", "sft.steps=2",
        "sft.batch_size=4", f"log.output_dir={out}"]))


def agents_cfg(out, extra=()):
    return load_config("src/credo/recipes/ccpo_voting.yaml", TINY + [
        "train.steps=2", "log.save_every=1", "multi.agents=[{name: a}, {name: b}, {name: c, trainable: false}]",
        f"log.output_dir={out}", *extra])


def test_agents_share_one_frozen_base_and_train_their_own_adapters(tmp_path):
    tr = MultiAgentTrainer(agents_cfg(tmp_path))
    models = {id(p.model) for p in tr.policies.values()}
    assert len(models) == 1  # three agents, one base in memory
    model = tr.policies["a"].model
    base_params = sum(p.numel() for n, p in model.named_parameters() if "lora_" not in n)
    assert base_params == sum(p.numel() for p in load_policy(ModelConfig(**SHAPE), "cpu")[0].parameters())
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    tr.run()
    tr.export()
    moved = {n for n, p in model.named_parameters() if not torch.equal(before[n], p)}
    assert moved and all("lora_" in n for n in moved)
    assert any(".agent_a." in n for n in moved) and any(".agent_b." in n for n in moved)
    assert not any(".agent_c." in n for n in moved)  # the frozen agent's adapter never trains
    for name in "abc":
        cfg = json.loads((tmp_path / "agents" / name / "adapter_config.json").read_text())
        assert cfg["r"] == 4
    # each exported agent runs alone, with its own adapter
    a, _, _ = load_policy(ModelConfig(path=str(tmp_path / "agents" / "a")), "cpu")
    ids = torch.tensor([tr.policies["a"].tok("3+4=")["input_ids"]])
    model.set_adapter("agent_a")
    with torch.no_grad():
        torch.testing.assert_close(a.eval()(ids).logits, model.eval()(ids).logits, rtol=1e-5, atol=1e-5)


def test_exported_lora_agents_evaluate_with_their_trained_adapters(tmp_path):
    """`credo eval <recipe> --model <run>/agents` points each agent at its exported adapter directory."""
    from credo.agents import build_agents

    tr = MultiAgentTrainer(agents_cfg(tmp_path / "run"))
    tr.run()
    tr.export()
    cfg = agents_cfg(tmp_path / "eval")
    cfg.multi.agents = [{**a, "model": {"path": str(tmp_path / "run" / "agents" / a["name"])}}
                        for a in cfg.multi.agents]
    _, policies = build_agents(cfg, tmp_path / "eval")
    ids = torch.tensor([tr.policies["a"].tok("3+4=")["input_ids"]])
    for name in "ab":
        trained, loaded = tr.policies[name], policies[name]
        trained.model.set_adapter(trained.adapter)
        loaded.model.set_adapter(loaded.adapter)
        with torch.no_grad():
            torch.testing.assert_close(loaded.model.eval()(ids).logits, trained.model.eval()(ids).logits,
                                       rtol=1e-5, atol=1e-5)
    assert len({id(p.model) for p in policies.values()}) == 1  # still one base in memory


def test_shared_base_agents_resume_exactly(resume_check):
    resume_check(MultiAgentTrainer, lambda out: agents_cfg(out), kill_at=1)


@pytest.mark.parametrize("precision", ["bf16", pytest.param("fp16", marks=pytest.mark.slow)])  # CPU fp16 is slow
def test_mixed_precision_step_keeps_fp32_weights_and_learns_finite(precision, tmp_path):
    cfg = load_config("src/credo/recipes/grpo.yaml", TINY + ["train.steps=1", f"train.mixed_precision={precision}",
                                                            "model.lora.r=0", f"log.output_dir={tmp_path}"])
    tr = RLTrainer(cfg)
    before = {n: p.detach().clone() for n, p in tr.model.named_parameters()}
    m = tr.train_step()
    assert all(p.dtype == torch.float32 for p in tr.model.parameters())
    assert m["actor/loss"] == m["actor/loss"] and m["actor/grad_norm"] == m["actor/grad_norm"]
    if precision == "bf16":  # no scaler: the step must be taken (fp16 may skip its first, scale-finding step)
        assert m["actor/skipped_updates"] == 0
    if m["actor/skipped_updates"] == 0:
        assert any(not torch.equal(before[n], p) for n, p in tr.model.named_parameters())
    else:
        assert all(torch.equal(before[n], p) for n, p in tr.model.named_parameters())
