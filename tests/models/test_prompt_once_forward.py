"""The prompt-once forward equals the plain repeated-prompt forward in loss and gradient."""

import pytest
import torch

from credo.models.device import enable_checkpointing
from credo.models.forward import response_logits, response_logits_full, token_logprobs


def _naive(model, prompts, responses):
    out = []
    for p, r in zip(prompts, responses):
        ids = torch.cat([p, r]).unsqueeze(0)
        logits = model(input_ids=ids).logits[0, len(p) - 1:-1]
        out.append(torch.log_softmax(logits, -1).gather(-1, r.unsqueeze(-1)).squeeze(-1))
    return out



@pytest.mark.parametrize("checkpointed", [False, True], ids=["plain", "activation-checkpointing"])
@pytest.mark.parametrize("forward", [response_logits, response_logits_full], ids=["prompt-once", "full-sequence"])
@pytest.mark.parametrize("shuffle", [False, True], ids=["contiguous-groups", "interleaved-rows"])
def test_prompt_once_matches_repeated_prompt_forward(tiny_policy, shuffle, forward, checkpointed):
    model, tok = tiny_policy
    if checkpointed:  # HF drops KV caches in checkpointed training forwards: only the full-sequence path works
        if forward is response_logits:
            pytest.skip("the prompt-once path needs a cache")
        enable_checkpointing(model)
        model.train()
    g = torch.Generator().manual_seed(0)
    prompts = [torch.randint(4, 100, (n,), generator=g) for n in (7, 12, 9)]
    rows_p, rows_r = [], []
    for p in prompts:  # 3 groups of 3 samples with ragged response lengths
        for length in (1, 4, 6):
            rows_p.append(torch.cat([torch.tensor([tok.bos_token_id]), p]))
            rows_r.append(torch.randint(4, 100, (length,), generator=g))
    if shuffle:  # rows of a group not adjacent: the cache is gathered by index instead of repeated
        order = torch.randperm(len(rows_p), generator=g).tolist()
        rows_p, rows_r = [rows_p[i] for i in order], [rows_r[i] for i in order]
    logits, mask = forward(model, rows_p, rows_r, tok.pad_token_id)
    toks = torch.nn.utils.rnn.pad_sequence(rows_r, batch_first=True)
    lp = token_logprobs(logits, toks)
    loss = (lp * mask).sum()
    loss.backward()
    fast = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    ref = _naive(model, rows_p, rows_r)
    ref_loss = sum(x.sum() for x in ref)
    ref_loss.backward()
    for i, r in enumerate(ref):
        assert torch.allclose(lp[i, : len(r)], r, atol=1e-5)
    assert abs(loss.item() - ref_loss.item()) < 1e-4
    for a, p in zip(fast, model.parameters()):
        assert torch.allclose(a, p.grad, atol=1e-5)
