#!/usr/bin/env python3
"""The five-minute walkthrough of docs/clients.md with the Python client, against a
running `vectron serve` (TLS and auth on):

    VECTRON_ADMIN_PASSWORD='correct horse battery staple' vectron serve --db ./vectron-data &
    VECTRON_PASSWORD='correct horse battery staple' python3 examples/python/quickstart_server.py

Environment: VECTRON_URL (https://127.0.0.1:7700), VECTRON_CA (the server's certificate,
./vectron-data/tls/cert.pem; empty = the system trust store), and either VECTRON_TOKEN (an
SDK token with the read, write and admin scopes) or VECTRON_PASSWORD (the admin's
password: the example then logs in and makes an API key, revoked at the end).

Apart from steps 1 and 9 (tokens), the same code runs on the embedded engine with
``db = vectron.open("./data")`` in place of ``vectron.connect(...)``.
"""

from __future__ import annotations

import os

import numpy as np

import vectron

url = os.environ.get("VECTRON_URL", "https://127.0.0.1:7700")
ca = os.environ.get("VECTRON_CA", "./vectron-data/tls/cert.pem") or None

# 1. A token. Programs use an SDK token; a login token (user name and password) only manages keys.
token = os.environ.get("VECTRON_TOKEN")
admin = key = None
if not token:
    admin = vectron.connect(url, ca=ca)
    admin.login("admin", os.environ.get("VECTRON_PASSWORD", ""))
    key = admin.create_key("quickstart", ["read", "write", "admin"])
    token = key.token
    print(f"created API key {key.key_id}")

# 2. Connect. Calls that are safe to repeat are retried on 503, 429 and connection errors.
db = vectron.connect(url, token=token, ca=ca, timeout=10, retries=3)

# 3. A collection (an earlier run's is dropped: NotFoundError if there is none).
try:
    db.drop_collection("quickstart")
except vectron.NotFoundError:
    pass
docs = db.create_collection("quickstart", dim=4, metric="cosine")

# 4. Points: ids, vectors (a 2-D array), optional metadata; one atomic, durable batch.
docs.upsert(
    ["mercury", "venus", "earth", "moon", "mars", "phobos"],
    np.array([[0.9, 0.1, 0.0, 0.0], [0.8, 0.3, 0.1, 0.0], [0.6, 0.6, 0.2, 0.1],
              [0.5, 0.7, 0.1, 0.1], [0.4, 0.4, 0.7, 0.1], [0.3, 0.4, 0.8, 0.2]], dtype=np.float32),
    metadata=[{"kind": "planet", "moons": 0}, {"kind": "planet", "moons": 0}, {"kind": "planet", "moons": 1},
              {"kind": "moon", "of": "earth"}, {"kind": "planet", "moons": 2}, {"kind": "moon", "of": "mars"}])
print(f"points: {docs.count()}")

# 5. Search: nearest first; score is a distance (lower is nearer).
for h in docs.search([0.6, 0.62, 0.18, 0.1], k=3):
    print(f"hit {h.id} {h.score:.4f} {h.metadata}")

# 6. Filters (docs/filter.md); a payload index makes them faster.
docs.create_payload_index("kind", "keyword")
planets = docs.search([0.3, 0.4, 0.8, 0.2], k=2, where={"kind": "planet", "moons": {"$gte": 1}})
print(f"planets with moons near phobos: {', '.join(h.id for h in planets)}")
print(f"moons: {docs.count(where={'kind': 'moon'})}")

# 7. Read back: by id (None where missing), and every point page by page.
earth, pluto = docs.get(["earth", "pluto"], include="metadata")
print(f"get: {earth.id} {earth.metadata}; pluto: {pluto}")
print(f"scroll: {', '.join(p.id for p in docs.iter_points(batch=2, include=None))}")

# 8. Errors carry the server's code, message and HTTP status.
try:
    docs.search([1, 0], k=3)
except vectron.InvalidArgumentError as e:
    print(f"error: {e.http_status} {e.code}: {e}")

# 9. Delete by id and by filter, then clean up.
docs.delete(ids=["venus"])
print(f"deleted by filter: {docs.delete(where={'kind': 'moon'})}")
print(f"left: {docs.count()}")
db.drop_collection("quickstart")
if admin is not None and key is not None:
    admin.revoke_key(key.key_id)
print("done")
