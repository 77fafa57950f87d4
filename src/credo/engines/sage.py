"""SAGE: step-wise beam search with a confident stop (Huang et al., "Does Your Reasoning Model Implicitly Know When to
Stop Thinking?", arXiv 2602.08354). See docs/sage.md.

Per prompt a beam of ``width`` (m) chains is kept. Each round every chain is extended by 2m sampled steps (a step is
the text up to ``delimiter``, ``end_think``, EOS or a stop string), the candidates are ranked by Φ (the mean
log-prob of the whole chain; the ablation ``rank=token`` uses ϕ, the log-prob of the step's last token) and the top
m non-finished candidates form the next beam. Confident stop: a candidate that finished thinking is accepted only if
it ranks within the top ``tolerance`` (h) of the round. After r completions (or ``max_steps`` rounds) the top r
chains by score are closed with ``end_think`` and the answer is decoded greedily.

Reconstructed (not fixed by the paper): ϕ as the last token of a step; candidates that finished but were not
accepted are kept as a fallback; when the step budget runs out the best remaining chains (beam and fallback, by
score) are forced to stop; the ``topk`` stop rule checks ``end_think``'s *first* token.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from credo.config import ConfigError, SageConfig, SamplingConfig
from credo.engines.stepwise import PieceText, decode_steps
from credo.models.device import autocast, model_device
from credo.models.forward import response_logits, token_logprobs
from credo.models.lora import activate
from credo.trajectory import Trajectory

RANKS = ("chain", "token")
STOP_RULES = ("rank", "topk")


def check_stops(sage: SageConfig, sampling: SamplingConfig) -> None:
    """A ``sampling.stop`` string inside ``sage.delimiter`` would end every chain at its first step."""
    clash = [s for s in sampling.stop if s and s in sage.delimiter]
    if clash:
        raise ConfigError(f"sage.delimiter: {sage.delimiter!r}; contains the stop string {clash[0]!r} of "
                          "sampling.stop, which would end each chain at its first step (drop it from sampling.stop)")


@dataclass
class Chain:
    """A partial or finished chain of thought: response tokens so far and the sampled distribution's log-prob of
    each; ``last`` is ϕ (log-prob of the latest step's last token), ``kind`` how its latest step ended."""

    tokens: list[int] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    last: float = 0.0
    kind: str = "step"
    steps: int = 0
    check_hit: bool = False  # stop_rule=topk: end_think ranked within stop_top_k where the delimiter was drawn

    @property
    def phi(self) -> float:
        """Φ: mean log-prob over the chain's tokens (nats per token)."""
        return sum(self.scores) / max(len(self.scores), 1)

    def score(self, rank: str) -> float:
        return self.phi if rank == "chain" else self.last


def select_round(cands: list[Chain], sage: SageConfig, end_ids: list[int]) -> tuple[list[Chain], list[Chain],
                                                                                     list[Chain]]:
    """One round's decision for one prompt → (accepted completions, next beam, fallback). ``cands`` have their
    latest step appended; a ``think`` or ``stop`` candidate is accepted within the top ``tolerance`` by score
    (with ``stop_rule=topk`` always, and a ``step`` candidate whose ``check_hit`` is set is closed with ``end_ids``
    and accepted too); ``length`` candidates and rejected completions go to the fallback."""
    ranked = sorted(cands, key=lambda c: c.score(sage.rank), reverse=True)
    accepted, beam, fallback = [], [], []
    for i, c in enumerate(ranked):
        if c.kind in ("think", "stop"):
            (accepted if sage.stop_rule == "topk" or i < sage.tolerance else fallback).append(c)
        elif c.kind == "length":
            fallback.append(c)
        elif c.check_hit:
            c.tokens, c.kind = c.tokens + end_ids, "think"
            accepted.append(c)
        elif len(beam) < sage.width:
            beam.append(c)
    return accepted, beam, fallback


def extend(chain: Chain, step, budget: int) -> Chain:
    """``chain`` + ``step``; a step that used up the response budget of ``budget`` tokens cannot go on (``length``)."""
    tokens = chain.tokens + step.tokens
    kind = "length" if step.kind == "step" and len(tokens) >= budget else step.kind
    return Chain(tokens, chain.scores + step.scores, step.scores[-1] if step.scores else 0.0, kind, chain.steps + 1,
                 step.check_hit)


@torch.no_grad()
def sage_generate(engine, prompts: list[list[int]], r: int, sampling: SamplingConfig, sage: SageConfig,
                  version: int = 0) -> list[Trajectory]:
    """SAGE(m, r) on ``engine`` (an :class:`~credo.engines.hf.HFEngine`) → ``len(prompts) * r`` trajectories, prompt
    i's at ``[i*r:(i+1)*r]``, best Φ first, each tagged ``info["source"] = "sage"``. ``logprobs`` are the policy's
    log-probs of the tokens at ``sampling.temperature``, recomputed by one teacher-forced forward (beam scores may
    come from a processed distribution, and appended ``end_think`` tokens were never sampled)."""
    check_stops(sage, sampling)
    model, tok = engine.model, engine.tok
    was_training = model.training
    model.eval()
    activate(model, engine.adapter)
    dev = model_device(model)
    piece = PieceText(tok)
    end_ids = tok(sage.end_think, add_special_tokens=False)["input_ids"] if sage.end_think else []
    budget = sampling.max_new_tokens
    kw = dict(pad_id=engine.pad_id, eos_ids=engine.eos_ids, temperature=sampling.temperature,
              processors=list(getattr(engine, "logits_processors", [])))
    check = end_ids[0] if sage.stop_rule == "topk" and end_ids else None
    try:
        with autocast(dev, engine.mixed_precision):
            beams = [[Chain()] for _ in prompts]
            done: list[list[Chain]] = [[] for _ in prompts]
            spare: list[list[Chain]] = [[] for _ in prompts]
            for _ in range(sage.max_steps):
                live = [(i, c) for i in range(len(prompts)) if len(done[i]) < r for c in beams[i]]
                if not live:
                    break
                left = [budget - len(c.tokens) for _, c in live]
                steps = decode_steps(model, piece, [prompts[i] + c.tokens for i, c in live], 2 * sage.width,
                                     [sage.step_tokens or budget] * len(live), left, delimiter=sage.delimiter,
                                     end_think=sage.end_think, stop=sampling.stop, check_token=check,
                                     check_k=sage.stop_top_k, **kw)
                cands: dict[int, list[Chain]] = {}
                for j, (i, c) in enumerate(live):
                    for s in steps[j * 2 * sage.width:(j + 1) * 2 * sage.width]:
                        cands.setdefault(i, []).append(extend(c, s, budget))
                for i, cs in cands.items():
                    ok, beams[i], rest = select_round(cs, sage, end_ids)
                    done[i] += ok
                    spare[i] += rest
            chosen = [finish(done[i], beams[i], spare[i], r, sage, end_ids, budget) for i in range(len(prompts))]
            trajs = answer_phase(engine, piece, prompts, chosen, sampling, sage, kw, version)
            attach_policy_logprobs(model, engine.pad_id, trajs, sampling.temperature)
            return trajs
    finally:
        model.train(was_training)


def finish(done: list[Chain], beam: list[Chain], spare: list[Chain], r: int, sage: SageConfig,
           end_ids: list[int], budget: int) -> list[Chain]:
    """The top r completions by score, best first; short of r, the best beam and fallback chains are forced to stop
    (a beam chain is closed with ``end_ids``, cut to the ``budget`` of response tokens)."""
    key = lambda c: c.score(sage.rank)  # noqa: E731
    out = sorted(done, key=key, reverse=True)[:r]
    for c in sorted(beam + spare, key=key, reverse=True)[: r - len(out)]:
        if c.kind == "step":
            closed = (c.tokens + end_ids)[:budget]
            fits = bool(end_ids) and len(closed) == len(c.tokens) + len(end_ids)
            c = Chain(closed, c.scores, c.last, "think" if fits else "length", c.steps)
        out.append(c)
    out.sort(key=key, reverse=True)
    while out and len(out) < r:  # fewer distinct chains than r (tiny budgets): repeat the best
        out.append(out[0])
    return out


def answer_phase(engine, piece, prompts, chosen, sampling, sage, kw, version) -> list[Trajectory]:
    """Greedy answer after ``end_think`` for the chains that stopped thinking → trajectories (log-probs unset)."""
    flat = [(i, c) for i, cs in enumerate(chosen) for c in cs]
    need = [(i, c) for i, c in flat if c.kind == "think" and len(c.tokens) < sampling.max_new_tokens]
    answers = {}
    if need:
        steps = decode_steps(engine.model, piece, [prompts[i] + c.tokens for i, c in need], 1,
                             [sampling.max_new_tokens] * len(need),
                             [sampling.max_new_tokens - len(c.tokens) for _, c in need], greedy=True,
                             stop=sampling.stop, **kw)
        answers = {id(c): s for (_, c), s in zip(need, steps)}
    trajs = []
    for i, c in flat:
        a = answers.get(id(c))
        resp = c.tokens + (a.tokens if a else [])
        reason = (a.kind if a else c.kind) == "stop"
        ids = torch.tensor(resp, dtype=torch.long, device="cpu")
        trajs.append(Trajectory(
            prompt_ids=torch.as_tensor(prompts[i], dtype=torch.long, device="cpu"), response_ids=ids,
            logprobs=torch.zeros(len(resp), dtype=torch.float32, device="cpu"),
            loss_mask=torch.ones(len(resp), dtype=torch.float32, device="cpu"),
            versions=torch.full((len(resp),), version, dtype=torch.long, device="cpu"),
            response_text=engine.tok.decode(ids, skip_special_tokens=True), group_id=i,
            finish_reason="stop" if reason else "length",
            info={"source": "sage", "sage_phi": c.phi, "sage_steps": c.steps, "think_tokens": len(c.tokens)}))
    return trajs


def attach_policy_logprobs(model, pad_id: int, trajs: list[Trajectory], temperature: float) -> None:
    """Set each trajectory's ``logprobs`` [T] to log softmax(logits / temperature) of its tokens under ``model``."""
    rows = [t for t in trajs if t.num_tokens]
    if not rows:
        return
    logits, _ = response_logits(model, [t.prompt_ids for t in rows], [t.response_ids for t in rows], pad_id)
    toks = torch.nn.utils.rnn.pad_sequence([t.response_ids for t in rows], batch_first=True,
                                           padding_value=pad_id).to(logits.device)
    lp = token_logprobs(logits, toks, temperature).cpu()
    for k, t in enumerate(rows):
        t.logprobs = lp[k, : t.num_tokens].float()
