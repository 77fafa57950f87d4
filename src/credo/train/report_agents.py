"""Multi-agent panels of ``report.html``: team-level credit curves and one panel group per agent.

Keys as the trainers write them: ``<agent>/<role>/{reward_mean, score_mean, adv_mean, adv_var, zero_adv_frac,
length_mean}`` (``credo.train.multi``), ``<policy>/actor/*`` (the learner of the policy the agent owns),
``vote/<agent>/{accuracy, pivotal_rate}``, ``ccpo/*``, ``dacr/*``, ``eval/<agent>/*``; HACPO
(``credo.train.hacpo``): ``<agent>/{reward_mean, adv_mean, length_mean}``, ``<agent>/hacpo/{self,cross}_*``,
``hacpo/<agent>/capability``, ``hacpo/omega/<k>/<j>``, ``pool/<agent>/accuracy``.
"""

from __future__ import annotations

import re

from credo.train.report_parts import Section, Spec


def _roles(keys: list[str], agent: str) -> list[str]:
    pat = re.compile(rf"{re.escape(agent)}/([^/]+)/reward_mean")
    return sorted({m.group(1) for k in keys if (m := pat.fullmatch(k))})


def _per_role(agent: str, roles: list[str], metric: str) -> tuple[list[str], dict[str, str]]:
    keys = [f"{agent}/{r}/{metric}" for r in roles] + [f"{agent}/{metric}"]
    return keys, {k: k.removeprefix(f"{agent}/").removesuffix(f"/{metric}").removesuffix(metric) or "all turns"
                  for k in keys}


def agent_sections(rows: list[dict], cfg: dict, agents: list[str]) -> list[Section]:
    """One section per agent (``data-group`` = its name): reward, advantage, length per role; its policy's update;
    its credit (pivotal rate, capability, ω, cross-sample clipping) and held-out accuracy."""
    keys = sorted({k for r in rows for k in r})
    out = []
    for a in agents:
        roles = _roles(keys, a)
        s = Section(f"Agent {a}" + (f" (roles: {', '.join(roles)})" if roles else ""), group=a)
        rk, rl = _per_role(a, roles, "reward_mean")
        sk, sl = _per_role(a, roles, "score_mean")
        s.add(rows, Spec(f"{a}: training reward by role", [x for pair in zip(rk, sk) for x in pair],
                         labels={**rl, **{k: f"{v} (verifier score)" for k, v in sl.items()}}))
        k, lab = _per_role(a, roles, "adv_mean")
        s.add(rows, Spec(f"{a}: advantage mean by role", k, flat="group-normalised per (agent, role)", labels=lab))
        k, lab = _per_role(a, roles, "adv_var")
        s.add(rows, Spec(f"{a}: advantage variance by role", k, labels=lab))
        k, lab = _per_role(a, roles, "zero_adv_frac")
        s.add(rows, Spec(f"{a}: share of samples with zero advantage", k, labels=lab))
        k, lab = _per_role(a, roles, "length_mean")
        s.add(rows, Spec(f"{a}: response length by role", k, "tokens", labels=lab))
        s.add(rows, Spec(f"{a}: entropy", [f"{a}/actor/entropy"]))
        s.add(rows, Spec(f"{a}: clip fraction", [f"{a}/actor/clipfrac", f"{a}/actor/clipfrac_low",
                                                f"{a}/actor/clipfrac_high"], flat=_one_update(cfg)))
        s.add(rows, Spec(f"{a}: gradient norm", [f"{a}/actor/grad_norm"]))
        s.add(rows, Spec(f"{a}: scheduled for update", [f"schedule/{a}"], flat=f"multi.schedule = "
                         f"{(cfg.get('multi') or {}).get('schedule', '?')}"))
        s.add(rows, Spec(f"{a}: votes (training, sampled)", [f"vote/{a}/pivotal_rate", f"vote/{a}/accuracy"],
                         labels={f"vote/{a}/pivotal_rate": "pivotal rate", f"vote/{a}/accuracy": "own accuracy"}))
        s.add(rows, Spec(f"{a}: capability (mean reward over the window) and pool accuracy",
                         [f"hacpo/{a}/capability", f"pool/{a}/accuracy"]))
        s.add(rows, Spec(f"{a}: ω(k, {a}) = P_k / P_{a}", [f"hacpo/omega/{j}/{a}" for j in agents if j != a],
                         labels={f"hacpo/omega/{j}/{a}": f"k = {j}" for j in agents}))
        s.add(rows, Spec(f"{a}: clip fractions, own vs cross samples",
                         [f"{a}/hacpo/{w}_clipfrac_{side}" for w in ("self", "cross") for side in ("low", "high")],
                         flat=_one_update(cfg), labels={f"{a}/hacpo/{w}_clipfrac_{side}": f"{w} {side}"
                                                        for w in ("self", "cross") for side in ("low", "high")}))
        s.add(rows, Spec(f"{a}: cross-sample ratio and lower clip bound",
                         [f"{a}/hacpo/cross_ratio_mean", f"{a}/hacpo/cross_lower_bound_last"]))
        s.add(rows, Spec(f"{a}: held-out accuracy (greedy)", [f"eval/{a}/accuracy", f"eval/{a}/answer_accuracy",
                                                              f"eval/{a}/rewrite_accuracy"]))
        out.append(s)
    return out


def _one_update(cfg: dict) -> str:
    t = cfg.get("train") or {}
    return "one update per batch: ratio ≡ 1, nothing to clip" if t.get("epochs", 1) == 1 and \
        t.get("mini_batches", 1) == 1 else ""


def credit_section(rows: list[dict], cfg: dict, agents: list[str]) -> Section:
    """Team-level credit: CCPO help rate and gate, vote pivotal rates side by side, DACR improvement, the lazy-agent
    gap, HACPO capabilities and ω."""
    multi = cfg.get("multi") or {}
    s = Section(f"Credit assignment: workflow {multi.get('workflow', '?')}, credit {multi.get('credit', '?')}",
                group="credit")
    s.add(rows, Spec("CCPO: does the plan help? (training, sampled)",
                     ["ccpo/help_rate", "ccpo/hurt_rate", "ccpo/same_rate"]))
    s.add(rows, Spec("CCPO: Solver gate", ["ccpo/gate"]))
    s.add(rows, Spec("CCPO: joint vs solo accuracy (training, sampled)", ["ccpo/joint_accuracy",
                                                                          "ccpo/solo_accuracy"]))
    s.add(rows, Spec("CCPO: Δ = R_joint − R_solo", ["ccpo/delta_mean", "ccpo/ema_delta_mean", "ccpo/ema_delta_std"]))
    s.add(rows, Spec("Answer leaks", ["ccpo/leak_rate", "dacr/leak_rate", "eval/leak_rate"]))
    s.add(rows, Spec("Lazy-agent check (held-out, greedy)", ["eval/team_accuracy", "eval/solo_accuracy",
                                                             "eval/lazy_accuracy", "eval/lazy_gap"]))
    s.add(rows, Spec("Held-out help and hurt rates (greedy)", ["eval/help_rate", "eval/hurt_rate"]))
    s.add(rows, Spec("Voting: pivotal rate per agent (training, sampled)",
                     [f"vote/{a}/pivotal_rate" for a in agents], labels={f"vote/{a}/pivotal_rate": a for a in agents}))
    s.add(rows, Spec("Voting: team accuracy (training, sampled)", ["vote/team_accuracy"]))
    s.add(rows, Spec("DACR: rewrites that improve / degrade (training, sampled)",
                     ["dacr/improved_rate", "dacr/degraded_rate"]))
    s.add(rows, Spec("DACR: answer vs rewrite accuracy (training, sampled)",
                     ["dacr/answer_accuracy", "dacr/rewrite_accuracy", "dacr/critique_gain_mean"]))
    s.add(rows, Spec("HACPO: capability per agent", [f"hacpo/{a}/capability" for a in agents],
                     labels={f"hacpo/{a}/capability": a for a in agents}))
    omega = [f"hacpo/omega/{k}/{j}" for k in agents for j in agents if k != j]
    s.add(rows, Spec("HACPO: ω(k, j) = P_k / P_j", omega, flat="capabilities equal, or hacpo.warmup not over",
                     labels={k: "ω(" + ", ".join(k.split("/")[2:]) + ")" for k in omega}))
    return s
