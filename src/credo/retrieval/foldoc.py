"""FOLDOC (Free On-line Dictionary of Computing, GFDL) as a doc-doc link graph, from the Debian ``dict-foldoc`` files.

``foldoc.index`` lines are ``headword<TAB>offset<TAB>length`` with offset/length in dictd base64
(``A-Za-z0-9+/``, most significant digit first) into the gunzipped ``foldoc.dict.dz``. An entry starts with its
headword and aliases, then ``<categories>`` and the body; ``{name}`` and ``{text (name)}`` are cross-references,
``{text (http://...)}`` external links (ignored). ~15k entries, ~86k references.

Co-linked pairs (SPECTER-style co-citation / bibliographic coupling on the link graph, optional): two entries a ≠ b
are co-linked when they are not directly linked (either direction) and both link to a common entry c (a→c, b→c) or
are both linked from one (c→a, c→b); their strength is the number of such shared entries c (counted once per
direction). See :func:`colinked_pairs`.
"""

from __future__ import annotations

import gzip
import random
import re
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from credo.retrieval.data import DataError, Doc, Query, RetrievalSet, split_sentences

_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_REF = re.compile(r"\{([^{}]+)\}")
_PAREN = re.compile(r"^(.*?)\s*\(([^()]+)\)$")
_DATE = re.compile(r"^\(\d{4}-\d{2}-\d{2}\)$")
INSTALL = "FOLDOC needs the Debian package dict-foldoc: apt-get install -y dict-foldoc (files in /usr/share/dictd)"


def b64_decode(s: str) -> int:
    """dictd base64 number: 'Bk' → 1*64 + 36 = 100."""
    n = 0
    for c in s:
        i = _B64.find(c)
        if i < 0:
            raise DataError(f"invalid dictd base64 digit {c!r} in {s!r}")
        n = n * 64 + i
    return n


@dataclass
class Entry:
    id: str
    title: str
    categories: list[str]
    sentences: list[str]
    links: list[str] = field(default_factory=list)  # ids of linked entries, in order, no duplicates/self


def _target(ref: str) -> tuple[str, str | None]:
    """'{loops (loop)}' → ('loops', 'loop'); '{wiki (http://x)}' → ('wiki', None); '{C}' → ('C', 'C')."""
    ref = " ".join(ref.split())
    m = _PAREN.match(ref)
    if m:
        inner = m.group(2).strip()
        if "://" in inner or inner.startswith(("mailto:", "ftp.", "www.")):
            return m.group(1), None
        return m.group(1) or inner, inner
    return ref, ref


def _resolve(head: dict[str, tuple[int, int]], name: str) -> tuple[int, int] | None:
    """Exact headword, else a singular form ('packets' → 'packet', 'proxies' → 'proxy', 'buses' → 'bus')."""
    n = " ".join(name.lower().split())
    for c in (
        n,
        n[:-1] if n.endswith("s") else "",
        n[:-3] + "y" if n.endswith("ies") else "",
        n[:-2] if n.endswith("es") else "",
    ):
        if c and c in head:
            return head[c]
    return None


def parse_foldoc(directory: str | Path = "/usr/share/dictd") -> list[Entry]:
    """All entries (one per distinct dict record) with resolved cross-references."""
    d = Path(directory)
    index, dictfile = d / "foldoc.index", d / "foldoc.dict.dz"
    for p in (index, dictfile):
        if not p.is_file():
            raise DataError(f"missing {p}. {INSTALL}")
    raw = gzip.open(dictfile).read()
    head: dict[str, tuple[int, int]] = {}
    records: dict[tuple[int, int], str] = {}
    for ln, line in enumerate(index.read_text(encoding="utf-8").splitlines(), 1):
        parts = line.split("\t")
        if len(parts) != 3:
            raise DataError(f"{index}:{ln}: expected 'headword<TAB>offset<TAB>length', got {line!r}")
        key = (b64_decode(parts[1]), b64_decode(parts[2]))
        if key[0] + key[1] > len(raw):
            raise DataError(f"{index}:{ln}: record {parts[0]!r} runs past the end of {dictfile.name}")
        if parts[0].startswith("00database"):
            continue
        head.setdefault(" ".join(parts[0].lower().split()), key)
        records.setdefault(key, parts[0])
    texts = {key: raw[key[0] : key[0] + key[1]].decode("utf-8", errors="replace") for key in records}
    ids = {}  # record → id: its lower-cased title when that is one of its headwords, else its first headword
    for key, hw in records.items():
        t = " ".join(texts[key].split("\n", 1)[0].lower().split())
        ids[key] = t if head.get(t) == key else hw
    entries = []
    for key, hw in ids.items():
        text = texts[key]
        title = text.split("\n", 1)[0].strip()
        body = text.split("\n\n", 1)[1] if "\n\n" in text else ""
        body = " ".join(body.split())
        cats: list[str] = []
        m = re.match(r"^<([^>]*)>\s*", body)
        if m:
            cats = [c.strip() for c in m.group(1).split(",") if c.strip()]
            body = body[m.end() :]
        links: list[str] = []
        for ref in _REF.findall(body):
            _, tgt = _target(ref)
            k = _resolve(head, tgt) if tgt else None
            if k is not None and k != key and ids[k] not in links:
                links.append(ids[k])
        clean = _REF.sub(lambda r: _target(r.group(1))[0], body)
        sents = [s for s in split_sentences(clean) if not _DATE.match(s)]
        entries.append(Entry(hw, title, cats, sents, links))
    return entries


def colinked_pairs(links: dict[str, list[str]], cap: int, rng: random.Random) -> dict[str, list[str]]:
    """Up to ``cap`` co-linked partners for each key of the directed graph ``links`` (id → linked ids).

    Partners of a = entries b ≠ a, not directly linked to a in either direction, with at least one shared out-link
    target (a→c←b) or shared in-link source (a←c→b). Ranked by the number of shared entries (targets + sources),
    ties broken by a seeded shuffle; the cap keeps hubs (an entry linked from hundreds) from producing a quadratic
    number of pairs and bounds how much co-links dilute the direct links. Not symmetric after the cap.
    """
    out = {a: set(ts) - {a} for a, ts in links.items()}
    inn: dict[str, set[str]] = {a: set() for a in out}
    for a, ts in out.items():
        for t in ts:
            inn.setdefault(t, set()).add(a)
    res: dict[str, list[str]] = {}
    if cap <= 0:
        return res
    for a in sorted(out):
        count: dict[str, int] = {}
        for c in out[a]:
            for b in inn.get(c, ()):
                count[b] = count.get(b, 0) + 1
        for c in inn.get(a, ()):
            for b in out.get(c, ()):
                count[b] = count.get(b, 0) + 1
        direct = out[a] | inn.get(a, set()) | {a}
        cands = sorted(b for b in count if b not in direct)
        rng.shuffle(cands)
        cands.sort(key=lambda b: -count[b])  # stable: shuffled order breaks ties
        if cands:
            res[a] = cands[:cap]
    return res


def load_foldoc(
    directory: str | Path = "/usr/share/dictd",
    max_docs: int = 3000,
    test_fraction: float = 0.2,
    min_links: int = 3,
    seed: int = 0,
    colinks: int = 0,
) -> RetrievalSet:
    """Link-prediction set: a seeded BFS sub-graph of ``max_docs`` entries (0 = all).

    A ``test_fraction`` of the entries with >= ``min_links`` in-corpus links become held-out document queries whose
    qrels are their links; those edges (both directions) are removed from the ``train`` qrels, whose queries are the
    other entries (grade 1 = linked, grade 0 = one hard negative sharing a category but not linked).
    ``colinks`` > 0 adds up to that many co-linked entries per training query as further positives (grade 1; listed
    in the query's ``meta["colinked"]``), computed on the training graph only (held-out edges removed first, and a
    held-out pair is never a co-linked positive), so held-out links do not leak into training.
    """
    entries = [e for e in parse_foldoc(directory) if e.sentences]
    by_id = {e.id: e for e in entries}
    rng = random.Random(seed)
    keep = set(by_id)
    if max_docs and max_docs < len(entries):
        nbr: dict[str, set[str]] = {e.id: set() for e in entries}
        for e in entries:
            for t in e.links:
                if t in nbr:
                    nbr[e.id].add(t)
                    nbr[t].add(e.id)
        keep, queue = set(), deque()
        while len(keep) < max_docs:
            if not queue:
                queue.append(rng.choice(sorted(set(by_id) - keep)))
            u = queue.popleft()
            if u in keep:
                continue
            keep.add(u)
            queue.extend(sorted(nbr[u] - keep))
    corpus = {
        i: Doc(i, by_id[i].title, " ".join(by_id[i].sentences), by_id[i].sentences, {"categories": by_id[i].categories})
        for i in sorted(keep)
    }
    links = {i: [t for t in by_id[i].links if t in keep] for i in corpus}
    eligible = sorted(i for i in corpus if len(links[i]) >= min_links)
    rng.shuffle(eligible)
    test_q = set(eligible[: int(round(test_fraction * len(eligible)))])
    held = {(a, b) for a in test_q for b in links[a]} | {(b, a) for a in test_q for b in links[a]}
    by_cat: dict[str, list[str]] = {}
    for i, d in corpus.items():
        for c in d.meta["categories"]:
            by_cat.setdefault(c, []).append(i)
    train_links = {i: [b for b in links[i] if (i, b) not in held] for i in corpus if i not in test_q}
    colinked = colinked_pairs(train_links, colinks, random.Random(f"{seed}:colinks")) if colinks > 0 else {}
    queries, train, test = {}, {}, {}
    for i in corpus:
        qid = f"q:{i}"
        meta: dict = {"query_doc": i}
        if i in test_q:
            test[qid] = {b: 1 for b in links[i]}
        else:
            co = [b for b in colinked.get(i, []) if (i, b) not in held]
            pos = train_links[i] + co
            if not pos:
                continue
            if co:
                meta["colinked"] = co
            rel = {b: 1 for b in pos}
            cands = [c for cat in corpus[i].meta["categories"] for c in by_cat.get(cat, [])]
            cands = [c for c in cands if c != i and c not in rel]
            if cands:
                rel[rng.choice(cands)] = 0
            train[qid] = rel
        queries[qid] = Query(qid, "", meta)
    if not test:
        raise DataError(f"FOLDOC sub-graph of {len(corpus)} entries has no entry with >= {min_links} links")
    return RetrievalSet(corpus, queries, {"train": train, "test": test}, "foldoc").validate()
