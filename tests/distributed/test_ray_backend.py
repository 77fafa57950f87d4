"""Ray backend on a local Ray cluster: the same GRPO, CCPO and HACPO metrics as the single-process trainers, and
exact resume.

Ray's start-up alone takes several seconds on a shared 2-core machine, so these tests are marked slow."""

import pytest

from credo.config import load_config
from credo.train.metrics import read_metrics
from credo.train.rl import RLTrainer

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.slow

TINY = ["train.steps=3", "train.prompts_per_step=3", "sampling.n=4", "sampling.max_new_tokens=6",
        "model.hidden_size=32", "model.num_layers=1", "model.intermediate_size=64", "task.size=32",
        "task.eval_size=4", "eval.size=4", "eval.every=2", "eval.pass_k=2", "log.save_every=1",
        "log.tensorboard=false", "log.progress=false", "log.report=false", "train.threads=1", "train.device=cpu",
        "train.lr=0.01", "algo.kl_coef=0.05", "train.mini_batches=2"]


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=16, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"OMP_NUM_THREADS": "1"}})
    yield
    ray.shutdown()


def clean(run):
    return [{k: v for k, v in r.items() if not k.startswith(("timing/", "perf/generated_tokens_per_s"))}
            for r in read_metrics(run / "metrics.jsonl")]


def single_and_ray(recipe, overrides, tmp_path, ray_type, agents=()):
    """Run ``recipe`` in one process and on Ray (asserting the Ray trainer's type and that it exports each agent, or
    the single policy), then return (ray trainer, single-process metrics, Ray metrics) without timings."""
    from credo.train.multi import build_trainer

    single = build_trainer(load_config(recipe, overrides + [f"log.output_dir={tmp_path / 'single'}"]))
    single.run()
    trainer = build_trainer(load_config(recipe, overrides + [f"log.output_dir={tmp_path / 'ray'}",
                                                              "train.backend=ray"]))
    assert isinstance(trainer, ray_type)
    trainer.run()
    root = trainer.export()
    assert all((root / a / "config.json").is_file() for a in agents or [""])
    trainer.close()
    return trainer, single, clean(tmp_path / "single"), clean(tmp_path / "ray")


def test_ray_grpo_matches_the_single_process_trainer(cluster, tmp_path):
    from credo.distributed.ray_backend import RayTrainer

    _, first, single, remote = single_and_ray("recipes/grpo.yaml", TINY, tmp_path, RayTrainer)
    assert type(first) is RLTrainer
    assert len(single) == len(remote) == 6  # eval 0, steps 1-3, eval 2, eval 3
    assert single == remote
    assert any(r.get("actor/grad_norm", 0) > 0 for r in remote)


def test_ray_run_resumes_exactly(cluster, resume_check):
    from credo.distributed.ray_backend import RayTrainer

    extra = ["train.backend=ray", "log.save_every=2"]
    resume_check(RayTrainer, lambda d: load_config("recipes/grpo.yaml", TINY + extra + [f"log.output_dir={d}"]))


CCPO = ["train.steps=3", "train.prompts_per_step=3", "sampling.n=3", "sampling.max_new_tokens=5", "sft.steps=5",
        "sft.batch_size=8", "model.hidden_size=32", "model.num_layers=1", "model.intermediate_size=64",
        "task.size=32", "task.eval_size=4", "eval.size=4", "eval.every=2", "multi.period=1", "log.save_every=3",
        "log.tensorboard=false", "log.progress=false", "log.report=false", "train.threads=1", "train.device=cpu",
        "train.lr=0.01", "resources={thinker: {num_cpus: 1}, solver: {num_cpus: 2}}"]


def test_ray_ccpo_two_agents_match_the_single_process_trainer(cluster, tmp_path):
    """Each agent's policy in its own actor (its own placement group); the same metrics as one process."""
    from credo.distributed.ray_backend import RayMultiAgentTrainer

    trainer, _, single, remote = single_and_ray("src/credo/recipes/ccpo_think_reason.yaml", CCPO, tmp_path,
                                                RayMultiAgentTrainer, agents=("thinker", "solver"))
    assert len(trainer.actors) == 2
    assert len(single) == len(remote) >= 5
    assert single == remote
    assert any(k.startswith("thinker/actor/") for r in remote for k in r)
    assert any(k.startswith("solver/actor/") for r in remote for k in r)


def test_ray_ccpo_resumes_exactly(cluster, resume_check):
    from credo.distributed.ray_backend import RayMultiAgentTrainer

    extra = ["train.backend=ray", "log.save_every=2", "sft.steps=0"]
    resume_check(RayMultiAgentTrainer, lambda d: load_config("src/credo/recipes/ccpo_think_reason.yaml",
                                                             CCPO + extra + [f"log.output_dir={d}"]))


HACPO = ["train.steps=3", "train.prompts_per_step=2", "sampling.n=2", "sampling.max_new_tokens=5", "sft.steps=3",
         "sft.batch_size=8", "task.size=32", "task.eval_size=4", "eval.size=4", "eval.every=2", "log.save_every=3",
         "log.tensorboard=false", "log.progress=false", "log.report=false", "train.threads=1", "train.device=cpu",
         "train.lr=0.01", "algo.kl_coef=0.05", "train.mini_batches=2",
         "multi.agents=[{name: char, model: {hidden_size: 32, num_layers: 1, num_heads: 2, intermediate_size: 64, "
         "init_seed: 1}, sft_prompt: '{question} Answer:'}, {name: pair, model: {tokenizer: pair, hidden_size: 48, "
         "num_layers: 1, num_heads: 2, intermediate_size: 64, init_seed: 2}}]",
         "resources={char: {num_cpus: 1}, pair: {num_cpus: 2}}",
         # untrained agents solve nothing: contaminated rewards give the pools non-zero advantages to learn from
         "reward.noise_p=0.5", "reward.noise_scale=0.5"]


def test_ray_hacpo_two_tokenizers_match_the_single_process_trainer(cluster, tmp_path):
    """Two HACPO agents with different tokenizers, each in its own actor: the cross rows re-encoded on the driver
    with the learner's tokenizer are scored (reference log-probs) and trained on in the learner's actor, and every
    metric equals the single-process HACPO trainer's."""
    from credo.distributed.ray_backend import RayHACPOTrainer
    from credo.train.hacpo import HACPOTrainer

    trainer, first, single, remote = single_and_ray("src/credo/recipes/hacpo_hetero_tokenizer.yaml", HACPO,
                                                    tmp_path, RayHACPOTrainer, agents=("char", "pair"))
    assert type(first) is HACPOTrainer
    assert len(trainer.actors) == len(trainer.placements) == 2
    assert [b.bundle_specs for b in trainer.placements] == [[{"CPU": 1.0}], [{"CPU": 2.0}]]
    assert len(single) == len(remote) >= 5
    assert single == remote
    steps = [r for r in remote if "char/hacpo/pool_size" in r]
    assert len(steps) == 3
    for name in ("char", "pair"):  # the other agent's answers reached each learner and moved it
        assert all(r[f"{name}/hacpo/cross_rows"] > 0 for r in steps)
        assert any(r[f"{name}/actor/grad_norm"] > 0 for r in steps)
        assert all(f"{name}/hacpo/cross_ratio_mean" in r and f"{name}/actor/kl" in r for r in steps)


def test_ray_hacpo_resumes_exactly(cluster, resume_check):
    from credo.distributed.ray_backend import RayHACPOTrainer

    extra = ["train.backend=ray", "log.save_every=2", "sft.steps=0"]
    resume_check(RayHACPOTrainer, lambda d: load_config("src/credo/recipes/hacpo_hetero_tokenizer.yaml",
                                                         HACPO + extra + [f"log.output_dir={d}"]))
