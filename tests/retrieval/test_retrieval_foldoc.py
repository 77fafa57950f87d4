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
