"""Seeded synthetic CSFCube-like papers with background / method / result facets (a reconstruction, not paper data).

Each facet has ``n_topics`` topics, each a vocabulary of pseudo-words. A paper draws one topic per facet and writes 2-3
sentences per facet (facet cue template + words of that topic + shared filler). Relevance:

* facet-conditioned doc-doc (CSFCube-like): query (doc d, facet f) → documents with d's topic on f;
* questions (DORIS-MAE-like): 4-6 words from the topic of one facet, or two facets (``multi_facet`` share) of a target
  paper → documents matching every queried facet topic; ``meta["facets"]`` is the question's facet distribution.

Train/test: documents are split; training queries and their positives use training documents only, test queries are
test documents (doc-doc) or held-out questions, retrieving over the whole corpus.
"""

from __future__ import annotations

import random

from credo.retrieval.data import Doc, Query, RetrievalSet

FACETS = ("background", "method", "result")
CUES = {
    "background": ["Prior work on {} and {} motivates the study of {}.", "Little is known about {} in {} with {}."],
    "method": ["We propose a {} approach that combines {} with {}.", "Our method uses {} to estimate {} from {}."],
    "result": ["Results show that {} improves {} over {}.", "We find {} yields higher {} than {}."],
}
_Q = ["which papers study {}", "papers about {}", "work on {}", "what is known about {}"]
FILLER = ["data", "model", "analysis", "system", "sample", "signal", "measure", "process", "effect", "case"]
SYLLABLES = ["ka", "lo", "mi", "ren", "tor", "vex", "dal", "pri", "sun", "gor", "bel", "fin", "zu", "nar", "qui", "hep"]


def pseudo_word(rng: random.Random, used: set[str], syllables: list[str] = SYLLABLES) -> str:
    """A new 2-3 syllable pseudo-word (added to ``used``)."""
    while True:
        w = "".join(rng.choice(syllables) for _ in range(rng.randint(2, 3)))
        if w not in used:
            used.add(w)
            return w


def write_paper(rng: random.Random, did: str, topics: dict[str, int], words: dict[str, list[str]]) -> Doc:
    """A paper of 2-3 sentences per facet: the facet's cue template filled with two of ``words[f]`` (its topic's
    vocabulary) and one filler word; ``meta`` keeps the topics and each sentence's facet."""
    sents, labels = [], []
    for f in FACETS:
        for _ in range(rng.randint(2, 3)):
            ws = rng.sample(words[f], 2) + [rng.choice(FILLER)]
            rng.shuffle(ws)
            sents.append(rng.choice(CUES[f]).format(*ws).capitalize())
            labels.append(f)
    return Doc(did, "", " ".join(sents), sents, {"topics": topics, "sentence_facets": labels})


def split_documents(rng: random.Random, ids: list[str], test_fraction: float) -> tuple[list[str], list[str]]:
    """Shuffle ``ids`` in place; -> (test documents, training documents)."""
    rng.shuffle(ids)
    n_test = int(round(test_fraction * len(ids)))
    return ids[:n_test], ids[n_test:]


def make_synthetic(
    n_docs: int = 600,
    n_topics: int = 12,
    n_questions: int = 600,
    words_per_topic: int = 20,
    test_fraction: float = 0.2,
    multi_facet: float = 0.5,
    seed: int = 0,
) -> RetrievalSet:
    rng = random.Random(seed)
    used: set[str] = set()
    vocab = {f: [[pseudo_word(rng, used) for _ in range(words_per_topic)] for _ in range(n_topics)] for f in FACETS}
    corpus: dict[str, Doc] = {}
    topic: dict[str, dict[str, int]] = {}
    for i in range(n_docs):
        did = f"p{i}"
        t = {f: rng.randrange(n_topics) for f in FACETS}
        corpus[did] = write_paper(rng, did, t, {f: vocab[f][t[f]] for f in FACETS})
        topic[did] = t
    ids = list(corpus)
    test_docs, train_docs = split_documents(rng, ids, test_fraction)
    train_set = set(train_docs)
    members = {(f, k): [d for d in corpus if topic[d][f] == k] for f in FACETS for k in range(n_topics)}
    queries: dict[str, Query] = {}
    qrels: dict[str, dict[str, dict[str, int]]] = {"train": {}, "test": {}}
    for split, docs in (("train", train_docs), ("test", test_docs)):
        for d in docs:
            for f in FACETS:
                rel = [x for x in members[(f, topic[d][f])] if x != d and (split == "test" or x in train_set)]
                if not rel:
                    continue
                qid = f"{d}:{f}"
                queries[qid] = Query(qid, "", {"query_doc": d, "facet": f})
                r = {x: 1 for x in rel}
                if split == "train":  # hard negatives: same topic on another facet, different on f
                    others = [x for g in FACETS if g != f for x in members[(g, topic[d][g])]]
                    neg = [x for x in others if x in train_set and x != d and x not in r]
                    r.update({x: 0 for x in rng.sample(neg, min(2, len(neg)))})
                qrels[split][qid] = r
    n_test_q = int(round(test_fraction * n_questions))
    for j in range(n_questions):
        split = "test" if j < n_test_q else "train"
        target = rng.choice(train_docs if split == "train" else ids)
        fs = rng.sample(FACETS, 2) if rng.random() < multi_facet else [rng.choice(FACETS)]
        n = rng.randint(4, 6)
        words = [rng.choice(vocab[fs[i % len(fs)]][topic[target][fs[i % len(fs)]]]) for i in range(n)]
        rel = [x for x in corpus if all(topic[x][f] == topic[target][f] for f in fs)]
        if split == "train":
            rel = [x for x in rel if x in train_set]
        qid = f"q{j}"
        queries[qid] = Query(qid, rng.choice(_Q).format(" ".join(words)), {"facets": {f: 1 / len(fs) for f in fs}})
        qrels[split][qid] = {x: 1 for x in rel}
    return RetrievalSet(corpus, queries, qrels, "synthetic").validate()
