"""The cue-only, paraphrased synthetic set: facets are told apart only by cue templates, questions share no content
word with documents, and relevance follows each question type's rule."""

import re

import pytest

from credo.config import ConfigError
from credo.retrieval.config import load_retrieval_config
from credo.retrieval.evaluate import query_groups
from credo.retrieval.synthetic import CUES, FACETS
from credo.retrieval.synthetic_cued import make_cued_synthetic


def words(text):
    return set(re.findall(r"\w+", text.lower()))


@pytest.fixture(scope="module")
def data():
    return make_cued_synthetic(n_docs=120, n_topics=6, n_questions=90, words_per_topic=8, seed=3)


def test_questions_share_no_topic_word_with_documents(data):
    doc_words = set().union(*(words(d.text) for d in data.corpus.values()))
    cue_words = set().union(*(words(c) for cs in CUES.values() for c in cs))
    topic_words = doc_words - cue_words
    for q in data.queries.values():
        if q.query_doc is None:
            assert not words(q.text) & topic_words, q.text


def test_each_paper_has_three_distinct_topics_from_one_pool(data):
    topics = [d.meta["topics"] for d in data.corpus.values()]
    assert all(len(set(t.values())) == 3 for t in topics)
    # one pool: every topic appears on every facet somewhere (with 120 papers over 6 topics)
    for f in FACETS:
        assert {t[f] for t in topics} == set(range(6))


def test_relevance_rules_by_question_type(data):
    topic = {d: doc.meta["topics"] for d, doc in data.corpus.items()}
    seen = set()
    for qid, rel in data.qrels["test"].items():
        q = data.queries[qid]
        if q.query_doc is not None:
            f = q.meta["facet"]
            assert all(topic[x][f] == topic[q.query_doc][f] for x, g in rel.items() if g > 0)
            continue
        kind, facets = q.meta["qtype"], q.meta["facets"]
        seen.add(kind)
        pos = [x for x, g in rel.items() if g > 0]
        assert pos
        if kind == "global":
            assert facets == pytest.approx({f: 1 / 3 for f in FACETS})
            assert len({frozenset(topic[x].values()) for x in pos}) == 1
        else:
            assert len(facets) == (1 if kind == "facet1" else 2)
            for f in facets:
                assert len({topic[x][f] for x in pos}) == 1
    assert seen == {"global", "facet1", "facet2"}


def test_training_look_alikes_hold_the_topic_on_another_facet(data):
    topic = {d: doc.meta["topics"] for d, doc in data.corpus.items()}
    negs = 0
    for qid, rel in data.qrels["train"].items():
        q = data.queries[qid]
        if q.query_doc is None:
            continue
        k = topic[q.query_doc][q.meta["facet"]]
        for x, g in rel.items():
            if g == 0:
                negs += 1
                assert topic[x][q.meta["facet"]] != k and k in topic[x].values()
    assert negs > 0


def test_questions_are_grouped_by_type(data):
    groups = query_groups(data, "test")
    assert {"question:global", "question:facet1", "question:facet2"} <= set(groups)
    assert "question" not in groups


def test_config_needs_three_topics():
    with pytest.raises(ConfigError, match="data.synthetic_topics"):
        load_retrieval_config(None, ["data.qd=synthetic_cued", "data.synthetic_topics=2"])
