"""Config keys of the scale-out backends and engines: each bad value is one line naming its key."""

import importlib.util

import pytest

from credo.config import ConfigError, load_config


@pytest.mark.parametrize("overrides,key", [
    (["train.backend=mpi"], "train.backend"),
    (["engine.kind=sglang"], "engine.kind"),
    (["engine.mode=remote"], "engine.mode"),
    (["engine.gpu_memory_utilization=0"], "engine.gpu_memory_utilization"),
    (["engine.kind=vllm", "engine.mode=server", "engine.url=localhost:8000"], "engine.url"),
    (["engine.kind=vllm", "engine.mode=server", "engine.port=70000"], "engine.port"),
    (["engine.kind=vllm", "engine.mode=server", "engine.serve_args='--x \"y'"], "engine.serve_args"),
    (["engine.kind=vllm", "engine.mode=server", "engine.start_timeout=0"], "engine.start_timeout"),
    (["engine.port=-1"], "engine.port"),  # checked whatever the engine: a typo fails before any work
    (["engine.kind=vllm", "train.backend=ray"], "train.backend"),
    (["algo.tis_cap=-1"], "algo.tis_cap"),
    (["resources={learner: {num_cpus: 1}}"], "resources"),
    (["resources={policy: {num_cpu: 1}}"], "resources"),
    (["resources={policy: {num_gpus: -1}}"], "resources"),
    (["multi.workflow=voting", "multi.agents=[{name: a}, {name: b}]", "train.backend=ddp"], "train.backend"),
    (["multi.workflow=voting", "multi.agents=[{name: a}, {name: b}]", "engine.kind=vllm"], "engine.kind"),
    (["train.backend=ray", "train.device=gpu"], "train.device"),
    (["train.backend=fsdp", "model.lora.r=8"], "model.lora.r"),
    (["train.backend=fsdp", "train.mixed_precision=fp16"], "train.mixed_precision"),
    (["train.backend=fsdp", "rm.enabled=true"], "train.backend"),
    (["multi.workflow=voting", "multi.agents=[{name: a}, {name: b}]", "train.backend=fsdp"], "train.backend"),
    (["multi.workflow=hacpo", "multi.agents=[{name: a}, {name: b}]", "train.backend=ddp"], "train.backend"),
    (["multi.workflow=hacpo", "multi.agents=[{name: a}, {name: b}]", "train.backend=ray",
      "resources={a: {num_cpus: 1}, c: {num_gpus: 1}}"], "resources"),
])
def test_bad_scale_out_values_name_their_key(overrides, key):
    with pytest.raises(ConfigError) as e:
        load_config(None, overrides)
    assert str(e.value).startswith(key) and "\n" not in str(e.value)


def test_good_scale_out_values_load():
    cfg = load_config(None, ["train.backend=ray", "resources={policy: {num_cpus: 2, num_gpus: 1}}",
                             "algo.tis_cap=2", "engine.kind=vllm", "engine.mode=server",
                             "engine.url=http://localhost:8000", "train.backend=single"])
    assert cfg.resources == {"policy": {"num_cpus": 2, "num_gpus": 1}} and cfg.engine.url.endswith("8000")


def test_a_ray_run_may_name_a_device_only_its_actors_have():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert load_config(None, ["train.backend=ray", "train.device=cuda"]).train.device == "cuda"
    with pytest.raises(ConfigError, match="train.device"):
        load_config(None, ["train.device=cuda"])


@pytest.mark.parametrize("backend", ["ddp", "fsdp"])
def test_data_parallel_outside_torchrun_is_one_line(monkeypatch, tmp_path, backend):
    from credo.distributed import trainer_class

    monkeypatch.delenv("WORLD_SIZE", raising=False)
    with pytest.raises(ConfigError, match="torchrun"):
        trainer_class(backend)(load_config(None, [f"train.backend={backend}", f"log.output_dir={tmp_path}"]))


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vllm is installed")
def test_vllm_engine_without_vllm_says_how_to_install(tiny_policy):
    from credo.engines import ENGINES

    model, tok = tiny_policy
    with pytest.raises(ImportError, match=r"credo\[vllm\]"):
        ENGINES.get("vllm")(model, tok)


def test_ray_placement_bundle_from_resources():
    from credo.distributed.ray_backend import bundle

    assert bundle({}, "policy") == {"CPU": 1.0}
    assert bundle({"policy": {"num_cpus": 2, "num_gpus": 1}}, "policy") == {"CPU": 2.0, "GPU": 1.0}


def test_reward_model_needs_the_single_process_backend():
    with pytest.raises(ConfigError, match="train.backend: 'ray'; the reward model"):
        load_config(None, ["rm.enabled=true", "train.backend=ray"])


def test_hacpo_on_ray_places_each_agent_from_its_resources():
    from credo.distributed import trainer_class
    from credo.distributed.ray_backend import RayHACPOTrainer, bundle
    from credo.train.hacpo import HACPOTrainer

    cfg = load_config(None, ["multi.workflow=hacpo", "multi.agents=[{name: a}, {name: b}]", "train.backend=ray",
                             "resources={a: {num_cpus: 2, num_gpus: 1}, b: {num_gpus: 2}}"])
    cls = trainer_class(cfg.train.backend, cfg.multi.workflow)
    assert cls is RayHACPOTrainer and issubclass(cls, HACPOTrainer)
    assert cls.train_step is HACPOTrainer.train_step  # the single-process step itself, not a copy
    assert bundle(cfg.resources, "a") == {"CPU": 2.0, "GPU": 1.0} and bundle(cfg.resources, "b") == {"CPU": 1.0,
                                                                                                     "GPU": 2.0}
