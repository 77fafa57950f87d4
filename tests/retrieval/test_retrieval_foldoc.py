import gzip

import pytest

from credo.retrieval.data import DataError
from credo.retrieval.foldoc import b64_decode, load_foldoc, parse_foldoc

B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def b64(n: int) -> str:
    s = ""
    while True:
        s = B64[n % 64] + s
        n //= 64
        if n == 0:
            return s


ENTRIES = {
    "compiler": "compiler\n\n   <programming> A program that translates {source code} into\n   {object code}. See also "
    "{interpreters}.\n\n   (1995-01-01)\n",
    "source code": "source code\nsource\n\n   <programming> Text read by a {compiler (compiler)} and {wiki\n   "
    "(http://example.org/x)}. Unknown {nowhere}.\n\n   (1996-02-02)\n",
    "object code": "object code\n\n   <programming> Output of a {compiler}, linked by {source}.\n",
    "interpreter": "interpreter\n\n   <programming> Runs {source code} directly, unlike a {compiler}.\n",
    "loop": "loop\n\n   <programming> Repeats {loop} forever.\n",
}


def write_fixture(d):
    data, index = b"", []
    for head, text in ENTRIES.items():
        raw = text.encode()
        index.append((head, len(data), len(raw)))
        if head == "source code":
            index.append(("source", len(data), len(raw)))  # alias → same record
        data += raw
    (d / "foldoc.dict.dz").write_bytes(gzip.compress(data))
    (d / "foldoc.index").write_text("".join(f"{h}\t{b64(o)}\t{b64(n)}\n" for h, o, n in sorted(index)))
    return d


def test_b64():
    assert b64_decode("A") == 0 and b64_decode("Bk") == 100 and b64_decode("//") == 4095
    assert b64_decode(b64(5578809)) == 5578809
    with pytest.raises(DataError):
        b64_decode("a*")


def test_parse_links(tmp_path):
    entries = {e.id: e for e in parse_foldoc(write_fixture(tmp_path))}
    assert set(entries) == set(ENTRIES)  # the alias does not create a second record
    assert entries["compiler"].links == ["source code", "object code", "interpreter"]  # plural resolved
    assert entries["source code"].links == ["compiler"]  # url skipped, unknown dropped
    assert entries["object code"].links == ["compiler", "source code"]  # alias resolved
    assert entries["loop"].links == []  # self link dropped
    assert entries["compiler"].categories == ["programming"]
    assert entries["source code"].sentences[0] == "Text read by a compiler and wiki."
    assert all("1995" not in s for s in entries["compiler"].sentences)


def test_missing_files(tmp_path):
    with pytest.raises(DataError, match="apt-get install -y dict-foldoc"):
        parse_foldoc(tmp_path)


def test_link_prediction_split(tmp_path):
    data = load_foldoc(write_fixture(tmp_path), max_docs=0, test_fraction=1.0, min_links=3, seed=0)
    assert data.split("test") == {"q:compiler": {"source code": 1, "object code": 1, "interpreter": 1}}
    train = data.split("train")
    assert "q:compiler" not in train
    for rel in train.values():  # held-out edges are gone in both directions
        assert "compiler" not in rel
    assert {d for d, g in train["q:interpreter"].items() if g > 0} == {"source code"}
    neg = [d for d, g in train["q:interpreter"].items() if g == 0]  # hard negative: same category, not linked
    assert len(neg) == 1 and data.corpus[neg[0]].meta["categories"] == ["programming"]
    with pytest.raises(DataError, match="no entry with >= 9 links"):
        load_foldoc(tmp_path, max_docs=0, min_links=9)


def test_real_foldoc():
    try:
        entries = parse_foldoc()
    except DataError as e:
        pytest.skip(str(e))
    assert len(entries) > 10000 and sum(len(e.links) for e in entries) > 40000


def test_colinked_pairs_definition_and_cap():
    import random

    from credo.retrieval.foldoc import colinked_pairs

    # a, b both link to hub h; c, d both linked from s; a also links to x, which b links to as well (a-b share 2)
    links = {"a": ["h", "x"], "b": ["h", "x"], "e": ["h"], "f": ["h"], "g": ["h", "a"], "s": ["c", "d"]}
    links |= {k: [] for k in "cdhx"}
    co = colinked_pairs(links, cap=10, rng=random.Random(0))
    assert co["a"][0] == "b"  # strongest: 2 shared targets
    assert set(co["a"]) == {"b", "e", "f"}  # g links to a directly: not co-linked
    assert co["c"] == ["d"] and co["d"] == ["c"]  # co-cited by s
    assert co["h"] == ["x"] and co["x"] == ["h"]  # both linked from a and b (g→a, g→h: but a→h is direct)
    assert "s" not in co  # s links to c, d; nothing else does, and nothing links to s
    assert colinked_pairs(links, cap=0, rng=random.Random(0)) == {}
    capped = [colinked_pairs(links, cap=1, rng=random.Random(s)) for s in range(8)]
    assert all(len(v) == 1 for c in capped for v in c.values())
    assert all(c["a"] == ["b"] for c in capped)  # cap keeps the strongest partner
    assert len({c["e"][0] for c in capped}) > 1  # ties broken by the seed
    assert capped[3] == colinked_pairs(links, cap=1, rng=random.Random(3))


def test_colinked_train_positives(tmp_path):
    data = load_foldoc(write_fixture(tmp_path), max_docs=0, test_fraction=1.0, min_links=3, seed=0, colinks=2)
    assert data.split("test") == {"q:compiler": {"source code": 1, "object code": 1, "interpreter": 1}}
    train = data.split("train")
    # training graph without the held-out compiler edges: object code → source code ← interpreter, so
    # object code and interpreter are co-linked (shared target), not directly linked
    assert {d for d, g in train["q:interpreter"].items() if g > 0} == {"source code", "object code"}
    assert {d for d, g in train["q:object code"].items() if g > 0} == {"source code", "interpreter"}
    assert data.queries["q:interpreter"].meta["colinked"] == ["object code"]
    for rel in train.values():
        assert "compiler" not in rel  # co-links never re-introduce held-out edges
    no_co = load_foldoc(tmp_path, max_docs=0, test_fraction=1.0, min_links=3, seed=0)
    assert "colinked" not in no_co.queries["q:interpreter"].meta
