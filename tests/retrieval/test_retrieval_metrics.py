import math

import numpy as np
import pytest

from credo.retrieval.data import DataError
from credo.retrieval.index import FacetIndex
from credo.retrieval.metrics import evaluate_run

QRELS = {"q1": {"a": 1, "c": 1, "x": 0}, "q2": {"b": 2, "d": 1}, "q3": {"z": 0}}
RUN = {"q1": {"a": 0.9, "b": 0.8, "c": 0.7, "d": 0.1}, "q2": {"a": 0.9, "b": 0.8, "c": 0.7, "d": 0.6}}


@pytest.mark.parametrize("backend", ["python", "pytrec_eval"])
def test_metrics_hand_computed(backend):
    if backend == "pytrec_eval":
        pytest.importorskip("pytrec_eval")
    mean, per = evaluate_run(QRELS, RUN, ("recall@2", "recall@5", "map", "ndcg@10"), backend=backend)
    assert set(per) == {"q1", "q2"}  # q3 has no relevant document
    assert per["q1"]["map"] == pytest.approx((1 / 1 + 2 / 3) / 2)
    assert per["q1"]["recall@2"] == pytest.approx(0.5) and per["q1"]["recall@5"] == 1.0
    assert per["q1"]["ndcg@10"] == pytest.approx((1 + 1 / math.log2(4)) / (1 + 1 / math.log2(3)))
    assert per["q2"]["map"] == pytest.approx((1 / 2 + 2 / 4) / 2)
    dcg, idcg = 2 / math.log2(3) + 1 / math.log2(5), 2 + 1 / math.log2(3)
    assert per["q2"]["ndcg@10"] == pytest.approx(dcg / idcg)
    assert mean["map"] == pytest.approx((per["q1"]["map"] + per["q2"]["map"]) / 2)
    mean2, per2 = evaluate_run(QRELS, {"q1": RUN["q1"]}, ("map",), backend=backend)
    assert per2["q2"]["map"] == 0.0  # a query missing from the run scores 0


def test_bad_metric_and_empty():
    with pytest.raises(ValueError, match="unknown metric"):
        evaluate_run(QRELS, RUN, ("mrr",))
    with pytest.raises(ValueError, match="no query"):
        evaluate_run({"q": {"a": 0}}, RUN)


def test_index_search_save_load(tmp_path):
    rng = np.random.default_rng(0)
    v = rng.normal(size=(20, 8)).astype(np.float32)
    ids = [f"d{i}" for i in range(20)]
    idx = FacetIndex(v, ids, ["f"])
    q = rng.normal(size=(3, 8)).astype(np.float32)
    hits = idx.search(q, 5)
    want = np.argsort(-(q @ v.T), axis=1)[:, :5]
    assert [[h[0] for h in row] for row in hits] == [[ids[i] for i in row] for row in want]
    ex = idx.search(q[:1], 5, exclude=[hits[0][0][0]])[0]
    assert len(ex) == 5 and ex[0][0] == hits[0][1][0]
    back = FacetIndex.load(idx.save(tmp_path / "ix"))
    again = back.search(q, 5)
    assert back.ids == ids and [[h[0] for h in r] for r in again] == [[h[0] for h in r] for r in hits]
    assert np.allclose([[h[1] for h in r] for r in again], [[h[1] for h in r] for r in hits], atol=1e-5)
    assert np.allclose(back.doc_vectors(["d3"]), v[3:4])
    with pytest.raises(ValueError, match="duplicate"):
        FacetIndex(v[:2], ["a", "a"], ["f"])
    with pytest.raises(DataError, match="not in the index"):
        idx.doc_vectors(["nope"])
    with pytest.raises(DataError, match="no index.json"):
        FacetIndex.load(tmp_path)
