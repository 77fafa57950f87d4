"""Generation engines. ``ENGINES.get(name)(model, tokenizer, mixed_precision="no", adapter=None)`` → an object with
``generate(prompts: list[list[int]], n: int, sampling: SamplingConfig, version: int) -> list[Trajectory]``
(``len(prompts) * n`` trajectories, the n samples of prompt i at ``[i*n:(i+1)*n]``, ``group_id = i``)."""

from credo.registry import Registry

ENGINES = Registry("engine", "factory(model, tokenizer, mixed_precision='no', adapter=None) -> Engine")

from credo.engines import hf  # noqa: E402,F401  (registers "hf")
