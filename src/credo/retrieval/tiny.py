"""A randomly initialised tiny BERT + word-level vocabulary written as a local HF directory (tests, CI, smoke runs).

It goes through exactly the same loader as a real encoder (``model.path=<dir>``); it knows nothing before training.
"""

from __future__ import annotations

import re
from pathlib import Path

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def build_tiny_encoder(
    out: str | Path,
    texts: list[str],
    hidden: int = 32,
    layers: int = 1,
    heads: int = 2,
    seed: int = 0,
    max_positions: int = 512,
    dropout: float = 0.0,
) -> Path:
    """Wide init, damped positions, no dropout unless asked; vocabulary = lower-cased words/punctuation of ``texts``."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    words = sorted({w for t in texts for w in re.findall(r"\w+|[^\w\s]", t.lower())})
    (out / "vocab.txt").write_text("\n".join(SPECIAL + words) + "\n", encoding="utf-8")
    for f in ("tokenizer.json", "tokenizer_config.json"):
        (out / f).unlink(missing_ok=True)
    tok = BertTokenizerFast.from_pretrained(out, do_lower_case=True)  # reads vocab.txt (transformers 4 and 5)
    if tok.convert_tokens_to_ids(words[:1])[0] != len(SPECIAL):
        raise RuntimeError("tiny tokenizer did not load its vocabulary")
    tok.save_pretrained(out)
    torch.manual_seed(seed)
    cfg = BertConfig(
        vocab_size=len(SPECIAL) + len(words),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=2 * hidden,
        max_position_embeddings=max_positions,
        hidden_dropout_prob=dropout,
        attention_probs_dropout_prob=dropout,
        initializer_range=0.5,
    )
    model = BertModel(cfg)
    with torch.no_grad():  # word identity dominates the (otherwise near-constant) mean-pooled vector
        model.embeddings.position_embeddings.weight.mul_(0.05)
        model.embeddings.token_type_embeddings.weight.zero_()
    model.save_pretrained(out)
    return out
