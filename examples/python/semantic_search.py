#!/usr/bin/env python3
"""A small "semantic" search app on vectron: synthetic articles, a toy embedding, metadata.

    python3 examples/python/semantic_search.py [DB_DIR] [QUERY...]

The embedding is a deterministic hashing bag-of-words (each word maps to a fixed random
unit vector; a text is the normalised sum of its words), so texts sharing words are near
each other under cosine distance. Real apps would use a sentence-embedding model; the
vectron calls stay the same.
"""

from __future__ import annotations

import sys
import tempfile
import zlib

import numpy as np

import vectron

DIM = 64
TOPICS = {
    "astronomy": "star galaxy telescope orbit planet comet nebula light-year moon eclipse",
    "cooking": "recipe oven flour butter garlic simmer roast spice dough pasta",
    "football": "goal striker match league referee penalty stadium coach keeper season",
    "finance": "market stock bond interest inflation bank dividend portfolio yield currency",
    "gardening": "soil seed compost prune tomato bloom shovel greenhouse mulch rose",
}


def word_vector(word: str) -> np.ndarray:
    rng = np.random.default_rng(zlib.crc32(word.encode()))
    v = rng.standard_normal(DIM).astype(np.float32)
    return v / np.linalg.norm(v)


def embed(texts: list[str]) -> np.ndarray:
    out = np.zeros((len(texts), DIM), np.float32)
    for i, t in enumerate(texts):
        for w in t.lower().split():
            out[i] += word_vector(w)
    return out  # the collection is cosine: vectron normalises on write and query


def make_articles(n: int, seed: int = 42) -> tuple[list[str], list[str], list[dict]]:
    rng = np.random.default_rng(seed)
    topics = list(TOPICS)
    ids, texts, metas = [], [], []
    for i in range(n):
        topic = topics[i % len(topics)]
        words = rng.choice(TOPICS[topic].split(), size=6).tolist()
        # A little noise from another topic, so search has to rank.
        words += rng.choice(TOPICS[topics[(i * 7 + 3) % len(topics)]].split(), size=2).tolist()
        ids.append(f"article-{i:04d}")
        texts.append(" ".join(words))
        metas.append({"topic": topic, "year": 2000 + int(rng.integers(0, 25)), "text": " ".join(words)})
    return ids, texts, metas


def main(argv: list[str]) -> int:
    db_dir = argv[1] if len(argv) > 1 else tempfile.mkdtemp(prefix="vectron-example-")
    queries = argv[2:] or ["telescope sees a comet", "roast garlic in the oven", "bank raises interest"]

    with vectron.open(db_dir) as db:
        articles = db.get_or_create_collection("articles", dim=DIM, metric="cosine")
        if len(articles) == 0:
            ids, texts, metas = make_articles(2000)
            for s in range(0, len(ids), 500):  # batches: each is one atomic, durable commit
                articles.upsert(ids[s:s + 500], embed(texts[s:s + 500]), metadata=metas[s:s + 500])
        print(f"{db_dir}: {len(articles)} articles, {articles.stats().index_kind} index")

        for q in queries:
            print(f"\nquery: {q!r}")
            for hit in articles.search(embed([q])[0], k=3):
                print(f"  {hit.score:.3f}  {hit.id}  [{hit.metadata['topic']}, {hit.metadata['year']}]"
                      f"  {hit.metadata['text']}")

        q = queries[0]
        print(f"\nquery: {q!r}, only articles from 2020 on")
        for hit in articles.search(embed([q])[0], k=3, where={"year": {"$gte": 2020}}):
            print(f"  {hit.score:.3f}  {hit.id}  [{hit.metadata['topic']}, {hit.metadata['year']}]")
        print("articles per topic:",
              {t: articles.count(where={"topic": t}) for t in TOPICS})

        # Batch search, fast path: numpy arrays of ids and distances.
        ids, scores = articles.search(embed(queries), k=5, as_numpy=True)
        print("\nbatch top-5 ids:\n", ids)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
