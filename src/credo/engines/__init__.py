"""Generation engines. ``ENGINES.get(name)(model, tokenizer, mixed_precision="no", adapter=None, config=None)`` → an
object with ``generate(prompts: list[list[int]], n: int, sampling: SamplingConfig, version: int, greedy: bool =
False) -> list[Trajectory]`` (``len(prompts) * n`` trajectories, the n samples of prompt i at ``[i*n:(i+1)*n]``,
``group_id = i``, ``logprobs`` of the sampled tokens at the sampling temperature; random draws come from torch's
global generator, so ``torch.manual_seed`` makes a call reproducible) and ``sync_weights(version: int)`` (called
after each update; a no-op for an engine that samples from the trainer's own model). ``tests/engine_contract.py``
is the suite every engine passes."""

from credo.registry import Registry

ENGINES = Registry("engine", "factory(model, tokenizer, mixed_precision='no', adapter=None, config=None) -> Engine")
ENGINE_MODES = ("colocate", "server")


def build_engine(kind: str, model, tokenizer, mixed_precision: str = "no", adapter: str | None = None, config=None):
    """The engine ``kind`` (``engine.kind``) over ``model``; ``config`` is the ``engine`` section."""
    return ENGINES.get(kind)(model, tokenizer, mixed_precision=mixed_precision, adapter=adapter, config=config)


from credo.engines import hf, vllm  # noqa: E402,F401  (register "hf", "vllm")
