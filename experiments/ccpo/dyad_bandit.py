"""CCPO dyad decisive miniature: a Thinker that must pass on a digit the Solver cannot see (tabular policies).

A prompt is (p, h): problem p ∈ {0..P-1} and a hidden digit h ∈ {0..H-1} that only the Thinker sees. The answer is
f(p, h) = (p + h) mod H. The Thinker emits one token k from V = H digit tokens + J junk tokens; the Solver sees (p, k)
and answers a ∈ {0..H-1}; alone (the counterfactual) it sees (p, ∅). Without the hint the Solver can only guess
(accuracy 1/H), so the team needs the Thinker. Both are tabular softmax policies: θ_T[p, h, k], θ_S[p, k or ∅, a].
Warm start: the Solver reads digit tokens (π_S(f(p, k) | p, k) = 0.6 for k < H; uniform on junk and on ∅); the
Thinker is uniform over V (so its right token has probability 1/(H + J)).

Per step B prompts × n joint samples (one group per prompt), n solo samples of the Solver alone; credit through
credo's ``dyad_rewards`` (a run-long ``HistoryNormalizer`` for v1) and advantages through
``ADVANTAGES["grpo" | "dr_grpo"]``; both agents updated every step by plain SGD on −1/(B·n) Σ A log π (exact tabular
gradient; the Solver on its joint samples). Arms:
  shared        both paid R_joint, per-prompt GRPO;
  v1            Δ = R_joint − R_solo (k-th solo sample paired with the k-th joint one), EMA/tanh, per-prompt GRPO;
  v1_crn        v1, the solo answer decoded with the joint answer's sampling uniform (common random numbers);
  v1_batch      v1, the GRPO normalisation over the whole batch instead of per prompt;
  v2_dr         v2 event bonus (λ = 0.2), Dr.GRPO (no std division), as the method's v2 specifies;
  v2_grpo       (added after the first run, as an ablation) the v2 bonus with per-prompt GRPO std normalisation.
All arms of a seed share the prompt stream and every sampling uniform.

Measures: primary — corr(A_T, c) over all Thinker samples, c = π_S(f | p, k) − π_S(f | p, ∅) at sampling time (the
expected gain the Thinker's token actually brings), and the sign agreement sign(A_T) = sign(c); then expected joint
accuracy (mean over (p, h) of Σ_k π_T(k) π_S(f | p, k)), steps to the target, the lazy gap (joint − solo expected
accuracy) at the end.

Usage: nice -n 10 python experiments/ccpo/dyad_bandit.py [--calibrate] [--seeds 0-19] -> dyad_bandit.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from credo.config import AlgoConfig
from credo.credit import ADVANTAGES
from credo.credit.ccpo import HistoryNormalizer, dyad_rewards
from credo.experiment_utils import int_list, inverse_cdf

OUT = Path(__file__).parent
P, H, J, B, N, TARGET = 6, 5, 3, 4, 8, 0.8
V = H + J
ARMS = {"shared": ("shared", "grpo", False, False), "v1": ("v1", "grpo", False, False),
        "v1_crn": ("v1", "grpo", True, False), "v1_batch": ("v1", "grpo", False, True),
        "v2_dr": ("v2", "dr_grpo", False, False),
        "v2_grpo": ("v2", "grpo", False, False)}   # post-hoc ablation: separates v2's bonus from Dr.GRPO's scale


def draws(seed: int, steps: int) -> dict:
    g = np.random.default_rng(seed)
    return {"p": g.integers(0, P, (steps, B)), "h": g.integers(0, H, (steps, B)), "u_t": g.random((steps, B, N)),
            "u_s": g.random((steps, B, N)), "u_solo": g.random((steps, B, N))}


def answer_table() -> torch.Tensor:
    """f[p, h] = (p + h) mod H."""
    return (torch.arange(P).unsqueeze(1) + torch.arange(H)) % H


def initial(theta_s_warm: float = 0.6) -> tuple[torch.Tensor, torch.Tensor]:
    theta_t = torch.zeros(P, H, V, dtype=torch.float64)
    theta_s = torch.zeros(P, V + 1, H, dtype=torch.float64)   # row V = no hint (solo)
    f = answer_table()
    lift = float(np.log(theta_s_warm / ((1 - theta_s_warm) / (H - 1))))
    for p in range(P):
        for k in range(H):
            theta_s[p, k, f[p, k]] = lift
    return theta_t, theta_s


def sample(probs: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """One draw per row of ``probs`` [..., V] from its uniform ``u`` [...] → [...]."""
    return inverse_cdf(probs, u.unsqueeze(-1)).squeeze(-1)


def expected(theta_t, theta_s) -> tuple[float, float]:
    """(joint, solo) expected accuracy over uniform (p, h)."""
    f = answer_table()
    pt, ps = torch.softmax(theta_t, -1), torch.softmax(theta_s, -1)
    # right_k[p, k, h] = π_S(f(p, h) | p, k)
    right_k = torch.stack([ps[:, :V, :][torch.arange(P), :, f[:, h]] for h in range(H)], -1)   # [P, V, H]
    joint = (pt * right_k.permute(0, 2, 1)).sum(-1).mean()
    solo = torch.stack([ps[torch.arange(P), V, f[:, h]] for h in range(H)], -1).mean()
    return float(joint), float(solo)


def run(seed: int, arm: str, steps: int, lr: float) -> dict:
    mode, scale, crn, batch_norm = ARMS[arm]
    d = draws(seed, steps)
    f = answer_table()
    theta_t, theta_s = initial()
    hist = HistoryNormalizer()
    gid = torch.zeros(B * N, dtype=torch.long) if batch_norm else torch.arange(B).repeat_interleave(N)
    a_all, c_all = [], []
    hit_at, curve = None, []
    for t in range(steps):
        joint_acc, _ = expected(theta_t, theta_s)
        curve.append(joint_acc)
        if hit_at is None and joint_acc >= TARGET:
            hit_at = t
        p = torch.as_tensor(d["p"][t]).unsqueeze(-1).expand(B, N)
        h = torch.as_tensor(d["h"][t]).unsqueeze(-1).expand(B, N)
        target = f[p, h]
        pt = torch.softmax(theta_t, -1)[p, h]                        # [B, N, V]
        k = sample(pt, torch.as_tensor(d["u_t"][t]))
        ps_all = torch.softmax(theta_s, -1)
        ps = ps_all[p, k]                                            # [B, N, H]
        a = sample(ps, torch.as_tensor(d["u_s"][t]))
        ps_solo = ps_all[p, torch.full_like(k, V)]
        a_solo = sample(ps_solo, torch.as_tensor(d["u_s" if crn else "u_solo"][t]))
        joint = (a == target).double().flatten()
        solo = (a_solo == target).double().flatten()
        r_t, r_s, _ = dyad_rewards(joint, solo, gid, hist, mode)
        adv = ADVANTAGES.get(scale)
        a_t = adv(r_t.float(), gid, AlgoConfig())[0].double().view(B, N)
        a_s = adv(r_s.float(), gid, AlgoConfig())[0].double().view(B, N)
        right_p = ps.gather(-1, target.unsqueeze(-1)).squeeze(-1)
        contribution = right_p - ps_solo.gather(-1, target.unsqueeze(-1)).squeeze(-1)
        a_all.append(a_t.flatten())
        c_all.append(contribution.flatten())
        g_t = a_t.unsqueeze(-1) * (torch.nn.functional.one_hot(k, V).double() - pt) / (B * N)
        g_s = a_s.unsqueeze(-1) * (torch.nn.functional.one_hot(a, H).double() - ps) / (B * N)
        theta_t = theta_t.index_put((p.flatten(), h.flatten()), lr * g_t.view(-1, V), accumulate=True)
        theta_s = theta_s.index_put((p.flatten(), k.flatten()), lr * g_s.view(-1, H), accumulate=True)
    a_c, c_c = torch.cat(a_all), torch.cat(c_all)
    corr = float(torch.corrcoef(torch.stack([a_c, c_c]))[0, 1]) if a_c.std() > 0 and c_c.std() > 0 else 0.0
    agree = float((torch.sign(a_c) == torch.sign(c_c)).double()[c_c != 0].mean())
    joint_acc, solo_acc = expected(theta_t, theta_s)
    return {"seed": seed, "arm": arm, "corr": corr, "sign_agree": agree, "steps_to_target": hit_at,
            "final_joint": joint_acc, "final_solo": solo_acc, "lazy_gap": joint_acc - solo_acc,
            "curve": curve[:: max(steps // 40, 1)]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", default="0-19")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--lr", type=float, default=1.0)
    ap.add_argument("--calibrate", action="store_true", help="the shared arm only, lr in {0.5, 1, 2, 4}")
    ap.add_argument("--out", default=str(OUT / "dyad_bandit.json"))
    a = ap.parse_args()
    torch.set_num_threads(1)
    seeds, rows, t0 = int_list(a.seeds), [], time.time()
    meta = {"steps": a.steps, "P": P, "H": H, "J": J, "B": B, "n": N, "target": TARGET}
    if a.calibrate:
        for lr in (0.5, 1.0, 2.0, 4.0):
            got = [run(s, "shared", a.steps, lr) | {"lr": lr} for s in seeds]
            rows += got
            print(f"lr {lr}: steps to {TARGET}: {[r['steps_to_target'] for r in got]} final joint "
                  f"{np.mean([r['final_joint'] for r in got]):.3f} ({time.time() - t0:.0f}s)", flush=True)
    else:
        for seed in seeds:
            rows += [run(seed, arm, a.steps, a.lr) | {"lr": a.lr} for arm in ARMS]
            print(f"seed {seed} done ({time.time() - t0:.0f}s)", flush=True)
    Path(a.out).write_text(json.dumps(meta | {"lr": a.lr, "runs": rows}))


if __name__ == "__main__":
    main()
