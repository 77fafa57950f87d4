"""The embedded default policy: a tiny character-level Llama built deterministically from a seed.

It is saved with ``save_pretrained`` under the cache dir and reloads with plain ``transformers``
(``AutoModelForCausalLM.from_pretrained(dir)``, ``AutoTokenizer.from_pretrained(dir)``).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import string
import tempfile
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, processors
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from credo.train.rundir import respect_umask

SPECIALS = ["<pad>", "<bos>", "<eos>", "<unk>"]
# Printable ASCII (95 incl. space) plus newline and tab: 97 characters, 101 tokens with the specials.
CHARS = [c for c in string.printable if c not in "\r\x0b\x0c"]


# The ``pair`` variant's merges: every digit pair and every lowercase pair (100 + 676 extra tokens).
PAIRS = [(a, b) for a in string.digits for b in string.digits] + \
    [(a, b) for a in string.ascii_lowercase for b in string.ascii_lowercase]
TOKENIZERS = ("char", "pair")


def vocab_size(kind: str = "char") -> int:
    return len(SPECIALS) + len(CHARS) + (len(PAIRS) if kind == "pair" else 0)


def char_tokenizer(kind: str = "char") -> PreTrainedTokenizerFast:
    """A character-level fast tokenizer: one token per character, ``<bos>`` prepended, unknown chars → ``<unk>``.

    ``kind="pair"`` appends 2-character tokens (BPE merges of digit and lowercase pairs), so "1234" is 2 tokens
    instead of 4: a second, different tokenizer over the same text for heterogeneous-tokenizer runs.
    """
    if kind not in TOKENIZERS:
        raise ValueError(f"model.tokenizer must be one of {TOKENIZERS}, got {kind!r}")
    pairs = PAIRS if kind == "pair" else []
    vocab = {tok: i for i, tok in enumerate(SPECIALS + CHARS + [a + b for a, b in pairs])}
    # BPE without merges splits any input into single characters; no pre-tokenizer keeps spaces as tokens.
    tok = Tokenizer(models.BPE(vocab=vocab, merges=pairs, unk_token="<unk>"))
    tok.decoder = decoders.Fuse()
    tok.post_processor = processors.TemplateProcessing(single="<bos> $A", pair="<bos> $A $B", special_tokens=[
        ("<bos>", vocab["<bos>"])])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<bos>", eos_token="<eos>", pad_token="<pad>",
                                   unk_token="<unk>", padding_side="left")
    return fast


def embedded_config(hidden_size: int = 128, num_layers: int = 4, num_heads: int = 4, intermediate_size: int = 384,
                    max_positions: int = 256, tokenizer: str = "char") -> LlamaConfig:
    n = vocab_size(tokenizer)
    return LlamaConfig(vocab_size=n, hidden_size=hidden_size, num_hidden_layers=num_layers,
                       num_attention_heads=num_heads, num_key_value_heads=num_heads,
                       intermediate_size=intermediate_size, max_position_embeddings=max_positions,
                       tie_word_embeddings=True, pad_token_id=0, bos_token_id=1, eos_token_id=2,
                       rms_norm_eps=1e-6, attn_implementation="sdpa")


def build_embedded(cache_dir: Path, seed: int = 0, **shape: int) -> Path:
    """Create (once) and return the directory of the embedded model for this shape and seed.

    Written to a temp dir and renamed, so a killed build never leaves a half-written model behind.
    """
    kind = shape.pop("tokenizer", "char")
    cfg = embedded_config(**shape, tokenizer=kind)
    extra = {"tokenizer": kind} if kind != "char" else {}  # the default's cache key is unchanged
    key = hashlib.sha256(json.dumps({"seed": seed, **cfg.to_dict(), **extra}, sort_keys=True, default=str).encode())
    out = Path(cache_dir) / f"embedded-{key.hexdigest()[:12]}"
    if (out / "config.json").is_file():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".embedded-", dir=out.parent))
    respect_umask(tmp)  # mkdtemp makes 0o700; the cache gets the modes a mkdir would
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = LlamaForCausalLM(cfg)
        model.save_pretrained(tmp, safe_serialization=True)
        char_tokenizer(kind).save_pretrained(tmp)
        try:
            os.replace(tmp, out)
        except OSError:  # another process won the race; its copy is identical
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out
