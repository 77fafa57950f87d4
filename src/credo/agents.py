"""Agents of a multi-agent run: each holds its own policy (weights, tokenizer, engine, optimizer) or shares one.

A :class:`Policy` is what gets trained and checkpointed; an :class:`Agent` is a named user of a policy with its own
prompt templates and sampling. Agents exchange *text*; each encodes its own prompts with its own tokenizer, so
agents with different models and tokenizers work together (token-in/token-out within each agent).
"""

from __future__ import annotations

import dataclasses
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from transformers import AutoModelForCausalLM, PreTrainedModel, PreTrainedTokenizerBase

from credo.config import AgentConfig, Config, ModelConfig, SamplingConfig, agent_configs, replace_from
from credo.engines import ENGINES
from credo.models import encode_prompt, load_policy
from credo.train.checkpoint import save_hf_dir
from credo.train.learner import Learner
from credo.trajectory import Trajectory


class TemplateError(ValueError):
    """A prompt template that names a field the workflow does not provide."""


@dataclass
class Policy:
    """One set of weights. ``learner`` is None for a frozen policy."""

    name: str
    model: PreTrainedModel
    tok: PreTrainedTokenizerBase
    engine: Any
    learner: Learner | None
    model_cfg: ModelConfig

    @property
    def trainable(self) -> bool:
        return self.learner is not None


class Agent:
    """A named user of a policy: role prompt templates and sampling settings."""

    def __init__(self, cfg: AgentConfig, policy: Policy, sampling: SamplingConfig):
        self.cfg, self.policy, self.sampling = cfg, policy, sampling
        self.name = cfg.name

    @property
    def trainable(self) -> bool:
        return self.cfg.trainable and self.policy.trainable

    def template(self, role: str, default: str) -> str:
        return self.cfg.prompts.get(role, default)

    def format(self, role: str, default: str, **fields: Any) -> str:
        """Fill the role's template with ``fields``; a TemplateError names the agent, role and missing field."""
        tpl = self.template(role, default)
        try:
            return tpl.format(**fields)
        except (KeyError, IndexError, ValueError) as e:
            names = [f for _, f, _, _ in string.Formatter().parse(tpl) if f]
            raise TemplateError(f"agent {self.name!r}, role {role!r}: template {tpl!r} uses {names}; available "
                                f"fields are {sorted(fields)} ({e!r})") from e

    def generate(self, texts: list[str], n: int, role: str, version: int = 0,
                 greedy: bool = False) -> list[Trajectory]:
        """Sample ``n`` responses per prompt text (rows ordered prompt-major: ``[p0s0, p0s1, ..., p1s0, ...]``)."""
        p = self.policy
        ids = [encode_prompt(p.tok, t, p.model_cfg.chat_template) for t in texts]
        trajs = p.engine.generate(ids, n, self.sampling, version=version, greedy=greedy)
        for i, t in enumerate(trajs):
            t.agent, t.role, t.prompt_text = self.name, role, texts[i // n]
            t.info["policy"] = p.name
        return trajs


def build_agents(cfg: Config, run_dir: Path, ckpt: Path | None = None) -> tuple[dict[str, Agent], dict[str, Policy]]:
    """Agents in ``multi.agents`` order and their policies (keyed by the owning agent's name).

    A policy is loaded from ``ckpt/<name>`` when resuming. With ``algo.kl_coef > 0`` each trainable policy gets a
    frozen reference saved once under ``run_dir/reference/<name>`` and always read back, so resume is exact.
    """
    specs = agent_configs(cfg)
    if not specs:
        raise ValueError(f"multi.workflow={cfg.multi.workflow!r} needs agents in multi.agents")
    agents: dict[str, Agent] = {}
    policies: dict[str, Policy] = {}
    for spec in specs:
        sampling = replace_from(cfg.sampling, spec.sampling, f"agent {spec.name}.sampling")
        if spec.share:
            policy = agents[spec.share].policy
        else:
            model_cfg = replace_from(cfg.model, spec.model, f"agent {spec.name}.model")
            load_cfg = dataclasses.replace(model_cfg, path=str(ckpt / spec.name)) if ckpt is not None else model_cfg
            model, tok, _ = load_policy(load_cfg)
            learner = None
            if spec.trainable:
                train = dataclasses.replace(cfg.train, lr=spec.lr or cfg.train.lr)
                ref = _reference(model, run_dir / "reference" / spec.name, ckpt is not None) \
                    if cfg.algo.kl_coef > 0 else None
                learner = Learner(model, tok.pad_token_id, cfg.algo, train, sampling, reference=ref)
            policy = Policy(spec.name, model, tok, ENGINES.get("hf")(model, tok), learner, model_cfg)
            policies[spec.name] = policy
        agents[spec.name] = Agent(spec, policy, sampling)
    return agents, policies


def _reference(model: PreTrainedModel, path: Path, resuming: bool) -> PreTrainedModel:
    if not (resuming and path.is_dir()):
        save_hf_dir(path, model)
    return AutoModelForCausalLM.from_pretrained(path, dtype=model.dtype)
