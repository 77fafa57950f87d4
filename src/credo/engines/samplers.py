"""Rollout samplers: ``SAMPLERS.get(name)(engine, prompts, n, sampling, sage, version=0) -> list[Trajectory]``
(``len(prompts) * n`` trajectories, prompt i's at ``[i*n:(i+1)*n]``, each tagged ``info["source"] = name``).

``sample`` (ordinary sampling at ``sampling.temperature``), ``greedy`` and ``sage`` (SAGE(sage.width, n), see
:mod:`credo.engines.sage`). All honour the engine's ``logits_processors``. :func:`group_rollout` builds SAGE-RL groups.
"""

from __future__ import annotations

from collections import defaultdict

from credo.config import SageConfig, SamplingConfig
from credo.engines.sage import sage_generate
from credo.registry import Registry
from credo.trajectory import Trajectory

SAMPLERS = Registry("sampler", "fn(engine, prompts, n, sampling, sage, version=0) -> list[Trajectory]")


def tag(trajs: list[Trajectory], source: str) -> list[Trajectory]:
    for t in trajs:
        t.info["source"] = source
    return trajs


@SAMPLERS.register("sample")
def sample(engine, prompts: list[list[int]], n: int, sampling: SamplingConfig, sage: SageConfig | None = None,
           version: int = 0) -> list[Trajectory]:
    return tag(engine.generate(prompts, n, sampling, version=version), "sample")


@SAMPLERS.register("greedy")
def greedy(engine, prompts: list[list[int]], n: int, sampling: SamplingConfig, sage: SageConfig | None = None,
           version: int = 0) -> list[Trajectory]:
    return tag(engine.generate(prompts, n, sampling, version=version, greedy=True), "greedy")


@SAMPLERS.register("sage")
def sage(engine, prompts: list[list[int]], n: int, sampling: SamplingConfig, sage: SageConfig | None = None,
         version: int = 0) -> list[Trajectory]:
    return sage_generate(engine, prompts, n, sampling, sage or SageConfig(), version=version)


def group_rollout(engine, prompts: list[list[int]], sampling: SamplingConfig, sage: SageConfig,
                  version: int = 0) -> list[Trajectory]:
    """SAGE-RL groups: for each prompt ``sage.rollouts`` (r) members from the sampler ``sage.sampler`` (default
    SAGE(sage.width, r)) followed by ``sampling.n - r`` ordinary samples → ``len(prompts) * sampling.n``
    trajectories, prompt i's group at ``[i*n:(i+1)*n]``. With r = 0 this is plain sampling (same calls, same
    random stream)."""
    n, r = sampling.n, sage.rollouts
    if r == 0:
        return sample(engine, prompts, n, sampling, version=version)
    beams = SAMPLERS.get(sage.sampler)(engine, prompts, r, sampling, sage, version=version)
    plain = sample(engine, prompts, n - r, sampling, version=version) if n > r else []
    out: list[Trajectory] = []
    for i in range(len(prompts)):
        out += beams[i * r:(i + 1) * r] + plain[i * (n - r):(i + 1) * (n - r)]
    for k, t in enumerate(out):
        t.group_id = k // n
    return out


def source_metrics(trajs: list[Trajectory]) -> dict[str, float]:
    """``source/<name>/{count,length_mean,accuracy,advantage_mean}`` per ``info["source"]`` (accuracy: share with
    verifier score 1; advantage: mean scalar advantage once computed). Empty when no trajectory is tagged."""
    by: dict[str, list[Trajectory]] = defaultdict(list)
    for t in trajs:
        if "source" in t.info:
            by[t.info["source"]].append(t)
    out: dict[str, float] = {}
    for name, ts in sorted(by.items()):
        k = len(ts)
        out[f"source/{name}/count"] = float(k)
        out[f"source/{name}/length_mean"] = sum(t.num_tokens for t in ts) / k
        out[f"source/{name}/accuracy"] = sum(t.score >= 1.0 for t in ts) / k
        adv = [float(t.advantage) for t in ts if not hasattr(t.advantage, "shape") or t.advantage.dim() == 0]
        if adv:
            out[f"source/{name}/advantage_mean"] = sum(adv) / len(adv)
    return out
