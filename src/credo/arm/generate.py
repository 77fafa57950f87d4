"""Guided generation: ``build_processor(arm_dir, pref, alpha)`` (the hook ``credo generate --arm/--pref`` and any
engine with ``logits_processors`` take) and :func:`guided_generate` (sampling through credo's HF engine, with the
decoding throughput measured)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from credo.arm.guide import GuidedLogits, GuideTerm
from credo.arm.model import ArmError, load_arm, read_arm_meta
from credo.config import ConfigError, SamplingConfig


def parse_pref(text: str | list[float] | None) -> list[float] | None:
    """``"0.3,0.7"`` → [0.3, 0.7] (non-negative, normalised to sum 1); a one-line ConfigError otherwise."""
    if text is None or text == "":
        return None
    try:
        vals = [float(x) for x in text.split(",")] if isinstance(text, str) else [float(x) for x in text]
    except ValueError as e:
        raise ConfigError(f"--pref: {text!r}; comma-separated non-negative weights, e.g. 0.3,0.7") from e
    if not vals or any(v < 0 for v in vals) or sum(vals) <= 0:
        raise ConfigError(f"--pref: {text!r}; weights must be >= 0 with a positive sum")
    return [v / sum(vals) for v in vals]


def check_shared_vocab(arm_tok: Any, base_tok: Any, where: str) -> None:
    """Weak-to-strong needs one vocabulary: every id both tokenizers have must mean the same token."""
    a, b = arm_tok.get_vocab(), base_tok.get_vocab()
    ia, ib = {i: t for t, i in a.items()}, {i: t for t, i in b.items()}
    bad = [i for i in set(ia) & set(ib) if ia[i] != ib[i]]
    if bad or not set(ia) & set(ib):
        raise ArmError(f"{where}: the ARM's tokenizer and the guided model's disagree (e.g. id {min(bad or [0])}); "
                       "guidance needs a shared vocabulary")


def build_processor(arm_dir: str | Path | list[str | Path], pref: str | list[float] | None, alpha: float = 1.0,
                    *, base_tokenizer: Any = None, normalize: bool = True, device: torch.device | str = "cpu"
                    ) -> GuidedLogits:
    """The guidance logits processor for ``credo.engines.hf.HFEngine(logits_processors=[...])``.

    ``arm_dir``: one ARM directory (pblora / moslora: ``pref`` = λ over its objectives; lora: ``pref`` unused) or a
    list of single-objective (lora) ARM directories, GenARM's product with α_j = alpha · pref_j. ``base_tokenizer``:
    the guided model's tokenizer, checked against every ARM's (weak-to-strong)."""
    lam = parse_pref(pref)
    dirs = list(arm_dir) if isinstance(arm_dir, list | tuple) else [arm_dir]
    terms, pad = [], None
    if len(dirs) > 1 and (lam is None or len(lam) != len(dirs)):
        raise ConfigError(f"--pref: {pref!r}; a product of {len(dirs)} ARMs needs one weight per ARM")
    for j, d in enumerate(dirs):
        meta = read_arm_meta(d)
        if len(dirs) > 1 and meta["kind"] != "lora":
            raise ArmError(f"{d}: a multi-ARM product takes single-objective (lora) ARMs, this one is {meta['kind']}")
        if len(dirs) == 1 and meta["kind"] != "lora" and (lam is None or len(lam) != len(meta["objectives"])):
            raise ConfigError(f"--pref: {pref!r}; {d} is conditioned on {len(meta['objectives'])} objectives "
                              f"{meta['objectives']}: give one weight each")
        model, tok, _ = load_arm(d, device)
        if base_tokenizer is not None:
            check_shared_vocab(tok, base_tokenizer, str(d))
        pad = tok.pad_token_id if pad is None else pad
        if len(dirs) > 1:
            terms.append(GuideTerm(model, None, alpha * lam[j]))
        else:
            terms.append(GuideTerm(model, lam if meta["kind"] != "lora" else None, alpha))
    if base_tokenizer is not None and base_tokenizer.pad_token_id is not None:
        pad = base_tokenizer.pad_token_id
    return GuidedLogits(terms, pad, normalize)


def guided_generate(model: Any, tokenizer: Any, prompts: list[list[int]], n: int, max_new_tokens: int,
                    temperature: float = 1.0, processors: list | None = None, seed: int = 0) -> tuple[list, float]:
    """Sample ``n`` responses per prompt with the HF engine and ``processors``; returns (trajectories, generated
    tokens per second)."""
    from credo.engines.hf import HFEngine

    for p in processors or []:
        if hasattr(p, "reset"):
            p.reset()
    engine = HFEngine(model, tokenizer, logits_processors=processors)
    sampling = SamplingConfig(max_new_tokens=max_new_tokens, temperature=temperature, top_p=1.0, top_k=0, stop=[])
    torch.manual_seed(seed)
    tic = time.perf_counter()
    trajs = engine.generate(prompts, n, sampling)
    secs = time.perf_counter() - tic
    return trajs, sum(len(t.response_ids) for t in trajs) / max(secs, 1e-9)
