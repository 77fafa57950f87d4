import math
import random

import pytest
import torch

from credo.config import AlgoConfig
from credo.credit import ADVANTAGES, BASELINES, compute_advantages
from credo.trajectory import Trajectory


def _groups(r, g):
    out = {}
    for i, (ri, gi) in enumerate(zip(r, g)):
        out.setdefault(gi, []).append((i, ri))
    return out


def ref_grpo(r, g, eps, centre=lambda v: sum(v) / len(v)):
    adv = [0.0] * len(r)
    for items in _groups(r, g).values():
        vals = [v for _, v in items]
        n = len(vals)
        if n < 2:
            continue
        m = sum(vals) / n
        std = math.sqrt(sum((v - m) ** 2 for v in vals) / (n - 1))
        if std < eps:
            continue
        for i, v in items:
            adv[i] = (v - centre(vals)) / (std + eps)
    return adv


def ref_dr_grpo(r, g, eps):
    adv = [0.0] * len(r)
    for items in _groups(r, g).values():
        vals = [v for _, v in items]
        if len(vals) > 1:
            for i, v in items:
                adv[i] = v - sum(vals) / len(vals)
    return adv


def ref_rloo(r, g, eps):
    adv = [0.0] * len(r)
    for items in _groups(r, g).values():
        vals = [v for _, v in items]
        if len(vals) > 1:
            for i, v in items:
                adv[i] = v - (sum(vals) - v) / (len(vals) - 1)
    return adv


def make_batch(seed):
    """Unsorted arbitrary group ids, sizes 1..6, some all-equal groups, binary and continuous rewards."""
    rng = random.Random(seed)
    r, g = [], []
    for k in range(rng.randint(3, 7)):
        gid = rng.choice([k * 7 + 100, -k - 1, k * 1000])
        size = rng.choice([1, 2, 3, 4, 6])
        kind = rng.choice(["binary", "const", "cont"])
        c = rng.random()
        for _ in range(size):
            r.append(float(rng.randint(0, 1)) if kind == "binary" else c if kind == "const" else rng.gauss(0, 2))
            g.append(gid)
    perm = list(range(len(r)))
    rng.shuffle(perm)
    return [r[p] for p in perm], [g[p] for p in perm]


@pytest.mark.parametrize("name,ref", [("grpo", ref_grpo), ("dr_grpo", ref_dr_grpo), ("rloo", ref_rloo)])
@pytest.mark.parametrize("seed", range(6))
def test_matches_reference(name, ref, seed):
    r, g = make_batch(seed)
    cfg = AlgoConfig(advantage=name)
    rt = torch.tensor(r, dtype=torch.float32)
    adv, metrics = ADVANTAGES.get(name)(rt, torch.tensor(g), cfg)
    assert adv.shape == (len(r),) and adv.dtype == torch.float32
    r32 = rt.double().tolist()  # the reference sees exactly the float32 inputs
    torch.testing.assert_close(adv.double(), torch.tensor(ref(r32, g, cfg.std_eps), dtype=torch.float64),
                               rtol=1e-5, atol=1e-6)
    assert metrics["critic/adv_mean"] == pytest.approx(float(adv.double().mean()), abs=1e-6)


def test_grpo_hand_values():
    cfg = AlgoConfig()
    adv, m = ADVANTAGES.get("grpo")(torch.tensor([1.0, 0.0, 0.5, 0.5, 3.0]), torch.tensor([9, 9, 4, 4, 2]), cfg)
    s = math.sqrt(0.5)  # unbiased std of {1, 0}
    torch.testing.assert_close(adv, torch.tensor([0.5 / (s + 1e-6), -0.5 / (s + 1e-6), 0.0, 0.0, 0.0]))
    assert m["critic/zero_std_frac"] == pytest.approx(2 / 3)  # the constant group and the size-1 group
    assert m["critic/num_groups"] == 3


def test_rloo_hand_and_size_one():
    adv, _ = ADVANTAGES.get("rloo")(torch.tensor([1.0, 0.0, 0.0, 5.0]), torch.tensor([0, 0, 0, 1]), AlgoConfig())
    torch.testing.assert_close(adv, torch.tensor([1.0, -0.5, -0.5, 0.0]))


def test_float_noise_constant_group_is_zero():
    r = torch.tensor([0.1, 0.1, 0.1, 0.1 + 1e-9], dtype=torch.float32)
    adv, m = ADVANTAGES.get("grpo")(r, torch.zeros(4, dtype=torch.long), AlgoConfig())
    assert torch.equal(adv, torch.zeros(4)) and m["critic/zero_std_frac"] == 1.0


def test_custom_baseline_is_used():
    name = "test_median"
    if name not in BASELINES:
        BASELINES.register(name)(lambda v: v.median())
    r, g = torch.tensor([0.0, 1.0, 5.0, 2.0, 2.0, 9.0]), torch.tensor([3, 3, 3, 1, 1, 1])
    adv, _ = ADVANTAGES.get("dr_grpo")(r, g, AlgoConfig(baseline=name))
    torch.testing.assert_close(adv, torch.tensor([-1.0, 0.0, 4.0, 0.0, 0.0, 7.0]))
    adv, _ = ADVANTAGES.get("grpo")(r, g, AlgoConfig(baseline=name))
    expect = ref_grpo(r.tolist(), g.tolist(), 1e-6, centre=lambda v: sorted(v)[len(v) // 2])
    torch.testing.assert_close(adv, torch.tensor(expect, dtype=torch.float32))


def test_compute_advantages_writes_in_place():
    def traj(gid, reward):
        z = torch.zeros(2)
        return Trajectory(z.long(), z.long(), z, z + 1, z.long(), group_id=gid, reward=reward)

    trajs = [traj(5, 1.0), traj(2, 0.0), traj(5, 0.0), traj(2, 0.0)]
    m = compute_advantages(trajs, AlgoConfig(advantage="dr_grpo"))
    assert [t.advantage for t in trajs] == [0.5, 0.0, -0.5, 0.0]
    assert all(isinstance(t.advantage, float) for t in trajs)
    assert m["critic/zero_std_frac"] == 0.5
    assert compute_advantages([], AlgoConfig()) == {}


def test_unknown_names_raise_with_suggestion():
    with pytest.raises(KeyError, match="did you mean 'grpo'"):
        ADVANTAGES.get("grpoo")
    with pytest.raises(KeyError, match="did you mean 'mean'"):
        ADVANTAGES.get("grpo") and BASELINES.get("meen")
    with pytest.raises(KeyError, match="did you mean 'rloo'"):
        compute_advantages([], AlgoConfig(advantage="rlo"))
