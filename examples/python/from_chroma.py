"""A Chroma script on Vectron: the calls are Chroma's; only the import and the two lines
that open the database and create the collection differ (Vectron needs the dimension
and the metric up front). Run: python3 from_chroma.py DIR

    import chromadb                                   # was
    client = chromadb.PersistentClient(path=DIR)      # was
    col = client.get_or_create_collection("notes", metadata={"hnsw:space": "cosine"})  # was
"""

import sys

import vectron

client = vectron.open(sys.argv[1] if len(sys.argv) > 1 else "./chroma-like-data")
col = client.get_or_create_collection("notes", dim=3, metric="cosine", metadata={"topic": "demo"})

# From here on, Chroma's calls (get() returns Point objects unless asked for format="chroma").
col.add(ids=["n1", "n2", "n3"],
        embeddings=[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.9, 0.1, 0.0]],
        metadatas=[{"lang": "en"}, {"lang": "de"}, {"lang": "en"}])
res = col.query(query_embeddings=[[1.0, 0.05, 0.0]], n_results=2, where={"lang": "en"})
for i, d, m in zip(res["ids"][0], res["distances"][0], res["metadatas"][0]):
    print(f"{i} {d:.4f} {m}")
col.update(ids=["n2"], metadatas=[{"lang": "fr"}])
print(col.get(ids=["n2"], format="chroma")["metadatas"])
print(col.count(), [p.id for p in col.peek(2)])
col.modify(metadata={"topic": "demo", "version": 2})
print(col.metadata)
col.delete(ids=["n3"])
print(col.count())
client.close()
