import torch

from credo.config import SFTConfig
from credo.sft.trainer import packed_batch, padded_batch, sft_loss, sft_train


def _examples():
    g = torch.Generator().manual_seed(0)
    return [(torch.randint(4, 90, (int(lp),), generator=g).tolist(), torch.randint(4, 90, (int(la),), generator=g)
             .tolist()) for lp, la in [(5, 3), (9, 2), (3, 6), (7, 4), (4, 1)]]


def test_loss_only_on_answer_tokens():
    b = padded_batch(_examples(), pad_id=0)
    assert int((b["labels"] != -100).sum()) == 3 + 2 + 6 + 4 + 1
    assert torch.all(b["labels"][0, :5] == -100) and b["labels"][0, 5:8].tolist() == _examples()[0][1]


def test_packed_equals_padded(tiny_policy):
    model, tok = tiny_policy
    ex = _examples()
    padded, n1 = sft_loss(model, padded_batch(ex, tok.pad_token_id))
    packed_b = packed_batch(ex, tok.pad_token_id, length=24)
    assert packed_b["input_ids"].shape[0] < len(ex)  # really packed
    packed, n2 = sft_loss(model, packed_b)
    assert n1 == n2 and torch.allclose(padded, packed, rtol=1e-4)


def test_sft_lowers_the_loss(tiny_policy):
    model, tok = tiny_policy
    ex = _examples()
    before, n = sft_loss(model, padded_batch(ex, tok.pad_token_id))
    sft_train(model, tok.pad_token_id, ex, SFTConfig(steps=30, batch_size=5, lr=3e-3), seed=0)
    after, _ = sft_loss(model, padded_batch(ex, tok.pad_token_id))
    assert float(after) / n < 0.5 * float(before) / n
