"""Synthetic facet set where facets are marked only by cue templates and questions use a paraphrase vocabulary.

A reconstruction made to test UniFAR's facet mechanisms (not paper data). Unlike :mod:`credo.retrieval.synthetic`,
all facets draw their topics from **one** pool of topic vocabularies, so a document's words do not say which facet a
topic sits in — only the sentence's cue template does ("We propose a ... approach" → method). A paper has three
distinct topics, one per facet (background, method, result).

Questions never use document words: every topic word w has a paraphrase w' (a pseudo-word from a disjoint syllable
set) and questions are written in paraphrases, so lexical overlap (BM25) cannot find the answer; the mapping must be
learned from training questions. Three question types (``meta["qtype"]``):

* ``global``  — paraphrases of words from all three of the target's topics, no facet cue; relevant: documents with
  the same *set* of topics, in any facet arrangement;
* ``facet1``  — a facet phrase ("which papers use ... as their method") + paraphrases of the target's topic on that
  facet; relevant: documents with that topic on that facet (documents with it on another facet are the look-alikes);
* ``facet2``  — two facet phrases; relevant: documents matching both.

``meta["facets"]`` is the question's facet distribution (uniform for ``global``). Facet-conditioned doc-doc queries
(query document, facet) are as in the plain synthetic set, with same-topic-other-facet documents as hard negatives.
"""

from __future__ import annotations

import random

from credo.retrieval.data import Doc, Query, RetrievalSet
from credo.retrieval.synthetic import FACETS, pseudo_word, split_documents, write_paper

ASK = {"background": "motivated by {}", "method": "that use {} as their method",
       "result": "that report {} as a finding"}
PARA_SYL = ["ab", "ex", "ol", "ut", "ir", "em", "os", "ay", "uk", "id", "og", "ev", "ul", "az", "ip", "on"]
QTYPES = ("global", "facet1", "facet2")


def make_cued_synthetic(n_docs: int = 300, n_topics: int = 8, n_questions: int = 600, words_per_topic: int = 12,
                        test_fraction: float = 0.2, seed: int = 0) -> RetrievalSet:
    if n_topics < 3:
        raise ValueError(f"make_cued_synthetic: n_topics must be >= 3 (three topics per paper), got {n_topics}")
    rng = random.Random(seed)
    used: set[str] = set()
    vocab = [[pseudo_word(rng, used) for _ in range(words_per_topic)] for _ in range(n_topics)]
    para = {w: pseudo_word(rng, used, PARA_SYL) for ws in vocab for w in ws}
    corpus: dict[str, Doc] = {}
    topic: dict[str, dict[str, int]] = {}
    for i in range(n_docs):
        did = f"p{i}"
        t = dict(zip(FACETS, rng.sample(range(n_topics), 3)))
        corpus[did] = write_paper(rng, did, t, {f: vocab[t[f]] for f in FACETS})
        topic[did] = t
    ids = list(corpus)
    test_docs, train_docs = split_documents(rng, ids, test_fraction)
    train_set = set(train_docs)
    queries: dict[str, Query] = {}
    qrels: dict[str, dict[str, dict[str, int]]] = {"train": {}, "test": {}}
    for split, docs in (("train", train_docs), ("test", test_docs)):
        for d in docs:
            for f in FACETS:
                pool = [x for x in corpus if x != d and (split == "test" or x in train_set)]
                rel = {x: 1 for x in pool if topic[x][f] == topic[d][f]}
                if not rel:
                    continue
                if split == "train":  # look-alikes: the same topic, on another facet
                    neg = [x for x in pool if x not in rel and topic[d][f] in topic[x].values()]
                    rel.update({x: 0 for x in rng.sample(neg, min(2, len(neg)))})
                queries[f"{d}:{f}"] = Query(f"{d}:{f}", "", {"query_doc": d, "facet": f})
                qrels[split][f"{d}:{f}"] = rel
    n_test_q = int(round(test_fraction * n_questions))
    for j in range(n_questions):
        split = "test" if j < n_test_q else "train"
        target = rng.choice(train_docs if split == "train" else ids)
        qtype = QTYPES[j % len(QTYPES)]
        t = topic[target]
        if qtype == "global":
            words = [para[rng.choice(vocab[t[f]])] for f in FACETS for _ in range(2)]
            rng.shuffle(words)
            text = "papers about " + " ".join(words)
            facets = {f: 1 / 3 for f in FACETS}
            rel = [x for x in corpus if set(topic[x].values()) == set(t.values())]
        else:
            fs = rng.sample(FACETS, 1 if qtype == "facet1" else 2)
            parts = [ASK[f].format(" ".join(para[w] for w in rng.sample(vocab[t[f]], 3))) for f in fs]
            text = "which papers are " + " and ".join(parts)
            facets = {f: 1 / len(fs) for f in fs}
            rel = [x for x in corpus if all(topic[x][f] == t[f] for f in fs)]
        if split == "train":
            rel = [x for x in rel if x in train_set]
        queries[f"q{j}"] = Query(f"q{j}", text, {"facets": facets, "qtype": qtype})
        qrels[split][f"q{j}"] = {x: 1 for x in rel}
    return RetrievalSet(corpus, queries, qrels, "synthetic_cued").validate()
