"""A local Hugging Face causal LM as a chat client: batched, left-padded ``generate`` on the model's device."""

from __future__ import annotations

import torch

from credo.judge.clients import Messages, Sampling
from credo.models.device import model_device


class HFClient:
    """``chat`` renders each conversation with the tokenizer's chat template (plain ``role: content`` lines without
    one), generates ``batch_size`` conversations at a time and returns the decoded new tokens."""

    def __init__(self, model, tokenizer, name: str = "local", batch_size: int = 8):
        self.model_obj, self.tokenizer, self.model, self.batch_size = model.eval(), tokenizer, name, batch_size
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token

    @classmethod
    def load(cls, path: str, device: str = "auto", batch_size: int = 8, dtype: str = "float32") -> HFClient:
        """Load through credo's model loading (``embedded``, ``smollm2``, a local directory or a cached Hub id)."""
        from credo.config import ModelConfig
        from credo.models import load_policy

        model, tok, _ = load_policy(ModelConfig(path=path, dtype=dtype), device=None if device == "auto" else device)
        return cls(model, tok, name=path, batch_size=batch_size)

    def describe(self) -> dict:
        return {"kind": "hf", "model": self.model, "batch_size": self.batch_size}

    def render(self, messages: Messages) -> list[int]:
        tok = self.tokenizer
        if getattr(tok, "chat_template", None):
            return list(tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=True,
                                                return_dict=False))
        text = "\n".join(f"{m['role']}: {m['content']}" for m in messages) + "\nassistant:"
        return tok(text)["input_ids"]

    @torch.no_grad()
    def chat(self, batch: list[Messages], sampling: Sampling) -> list[str]:
        out: list[str] = []
        for i in range(0, len(batch), self.batch_size):
            out += self.generate([self.render(m) for m in batch[i:i + self.batch_size]], sampling)
        return out

    def generate(self, prompts: list[list[int]], sampling: Sampling) -> list[str]:
        dev, pad = model_device(self.model_obj), self.tokenizer.pad_token_id
        width = max(len(p) for p in prompts)
        ids = torch.full((len(prompts), width), pad, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for j, p in enumerate(prompts):
            ids[j, width - len(p):], mask[j, width - len(p):] = torch.tensor(p), 1
        greedy = sampling.temperature == 0
        if not greedy:
            torch.manual_seed(sampling.seed)
        gen = self.model_obj.generate(
            input_ids=ids.to(dev), attention_mask=mask.to(dev), max_new_tokens=sampling.max_tokens,
            do_sample=not greedy, pad_token_id=pad,
            **({} if greedy else {"temperature": sampling.temperature, "top_p": sampling.top_p}))
        return self.tokenizer.batch_decode(gen[:, width:], skip_special_tokens=True)
